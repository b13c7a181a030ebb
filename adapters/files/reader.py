"""FHIR input from files: Bundle JSON of any type, single resources, NDJSON, directories.

Resources stream out one at a time, parsed once with orjson, so that a Bulk Data export of a
whole population never has to fit in memory as JSON. A line or entry that cannot be used
becomes an `InputError` in the same stream, naming where it was, and reading goes on.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
JSON_SUFFIXES = (".json", ".json.gz")


@dataclass(frozen=True, slots=True)
class RawResource:
    """A parsed resource and where it came from (`position` is "line 12" or "entry 3")."""

    source: str
    position: str
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InputError:
    """Input that is not a FHIR resource at all (bad JSON, not an object, no resourceType)."""

    source: str
    position: str
    message: str
    resource_type: str | None = None
    resource_id: str | None = None


def discover(paths: Iterable[Path]) -> list[Path]:
    """The files to read, in a stable order; directories are walked recursively.

    Raises FileNotFoundError / PermissionError for a path that cannot be read, so the caller
    can fail before doing any work.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and _is_fhir_file(p.name)
            )
        elif path.is_file():
            with path.open("rb"):
                pass
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return found


def _is_fhir_file(name: str) -> bool:
    return name.endswith(NDJSON_SUFFIXES + JSON_SUFFIXES) and not name.startswith(".")


def read_resources(path: Path) -> Iterator[RawResource | InputError]:
    """Every resource in one file, or an InputError where one could not be read."""
    source = str(path)
    with _open(path) as stream:
        if path.name.endswith(NDJSON_SUFFIXES):
            yield from _ndjson(stream, source)
        else:
            yield from _json_document(stream.read(), source)


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
    return path.open("rb")


def _ndjson(stream: IO[bytes], source: str) -> Iterator[RawResource | InputError]:
    loads = orjson.loads
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        position = f"line {number}"
        try:
            value = loads(line)
        except orjson.JSONDecodeError as exc:
            yield InputError(source, position, f"invalid JSON: {exc.msg}")
            continue
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            yield from _bundle_entries(value, source, position + " ")
        else:
            yield _checked(value, source, position)


def _json_document(data: bytes, source: str) -> Iterator[RawResource | InputError]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield InputError(source, "document", f"invalid JSON: {exc.msg}")
        return
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        yield from _bundle_entries(value, source, "")
    else:
        yield _checked(value, source, "document")


def _bundle_entries(
    bundle: dict[str, Any], source: str, prefix: str
) -> Iterator[RawResource | InputError]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        yield InputError(source, prefix + "Bundle.entry", "Bundle.entry is not a list")
        return
    for index, entry in enumerate(entries):
        position = f"{prefix}entry {index}"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue  # e.g. a transaction-response entry holding only a status
        if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
            yield from _bundle_entries(resource, source, position + " ")
        else:
            yield _checked(resource, source, position)


def _checked(value: Any, source: str, position: str) -> RawResource | InputError:
    if not isinstance(value, dict):
        return InputError(source, position, "not a JSON object")
    kind = value.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return InputError(source, position, "no resourceType")
    return RawResource(source, position, value)
