"""Where the embedded database lives when no URL is configured: one data directory, the same
for every command (`serve`, `worker`, `db`, `clients`, `outbox`), whatever folder it runs in.

`FHIR_SYNC_DATA_DIR` moves it; otherwise `$XDG_DATA_HOME/fhir-sync`, else
`~/.local/share/fhir-sync`. `FHIR_SYNC_DATABASE_URL` names another database altogether.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

DATA_DIR_ENV: Final = "FHIR_SYNC_DATA_DIR"
DATABASE_FILE: Final = "fhir-sync.sqlite3"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    configured = env.get(DATA_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    xdg = env.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg else Path(env.get("HOME") or Path.home()) / ".local" / "share"
    return (base / "fhir-sync").resolve()


def default_database_file(environ: Mapping[str, str] | None = None) -> Path:
    return data_dir(environ) / DATABASE_FILE
