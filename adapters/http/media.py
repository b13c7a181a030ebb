"""FHIR wire format: media types, orjson (de)serialisation, instants, search-parameter lists.

Resources stay plain ``dict`` on the hot path: orjson is ~20x faster than model validation, and
validation belongs at the boundary that needs it, not in the transport.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import orjson

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
FORM_URLENCODED = "application/x-www-form-urlencoded"

Resource: TypeAlias = dict[str, Any]
ParamPairs: TypeAlias = list[tuple[str, str]]
SearchParams: TypeAlias = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


def loads(data: bytes) -> Any:
    return orjson.loads(data)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def load_json_object(data: bytes) -> dict[str, Any] | None:
    """Parses a body that should be a JSON object; None for empty or non-JSON bodies.

    Error bodies from proxies are often HTML; an error path must never fail on them.
    """
    if not data.strip():
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def param_pairs(params: SearchParams | None) -> ParamPairs:
    """Normalises search parameters to ordered pairs.

    Pairs are the only form that can express repeated parameters (AND semantics, several
    ``_include``), so a mapping value that is a sequence expands to one pair per item.
    """
    if params is None:
        return []
    if isinstance(params, Mapping):
        out: ParamPairs = []
        for key, value in params.items():
            if isinstance(value, str):
                out.append((key, value))
            else:
                out.extend((key, v) for v in value)
        return out
    return [(str(k), str(v)) for k, v in params]


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_instant(value: str) -> datetime | None:
    """Parses a FHIR instant/dateTime with time; None if it has no usable time part.

    Some servers send nanoseconds; Python keeps microseconds, so extra digits are dropped
    (ordering at microsecond resolution is all the cursor logic needs).
    """
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed


def format_instant(moment: datetime) -> str:
    """Millisecond UTC instant: the precision FHIR servers commonly index at."""
    utc = moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def last_updated(resource: Resource) -> str | None:
    return _meta_text(resource, "lastUpdated")


def version_id(resource: Resource) -> str | None:
    return _meta_text(resource, "versionId")


def _meta_text(resource: Resource, key: str) -> str | None:
    """`meta.<key>` when the server sent it as a string; anything else counts as absent."""
    meta = resource.get("meta")
    if isinstance(meta, dict):
        value = meta.get(key)
        if isinstance(value, str):
            return value
    return None
