"""Writing output files so that a crash never leaves a half-written plan behind."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def write_json_file(path: Path, value: Any) -> None:
    """Write pretty JSON atomically (temp file + rename): readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps(value, option=_OPTIONS))
    tmp.replace(path)


def write_ndjson(path: Path, values: Iterable[Any]) -> int:
    """Write one compact JSON value per line, atomically; returns the number of lines."""
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    with tmp.open("wb") as out:
        for value in values:
            out.write(orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE))
            count += 1
    tmp.replace(path)
    return count
