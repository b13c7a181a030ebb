"""Plans an earlier `fhir-sync plan` left in the output folder, for patients this run did not
plan: left there, they would be posted along with the new plans and re-send outdated ones.

Only files that are fhir-sync plans (a transaction Bundle named `<id>.json`, as written by
this command) are ever removed; anything else in the folder is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

PLAN_START: Final = b'{\n  "resourceType": "Bundle",\n  "type": "transaction",'


def earlier_plans(out_dir: Path) -> dict[Path, int]:
    """The plan files in `out_dir` now, with their inode (a rewritten plan gets a new one:
    plans are written to a temporary file and renamed over the old)."""
    if not out_dir.is_dir():
        return {}
    found: dict[Path, int] = {}
    for path in out_dir.glob("*.json"):
        if path.name.startswith(".") or not path.is_file():
            continue
        with path.open("rb") as stream:
            if stream.read(len(PLAN_START)) == PLAN_START:
                found[path] = path.stat().st_ino
    return found


def remove_stale(earlier: dict[Path, int]) -> int:
    """Remove the earlier plans this run did not write again; how many were removed."""
    removed = 0
    for path, inode in earlier.items():
        try:
            if path.stat().st_ino == inode:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
