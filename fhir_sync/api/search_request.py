"""A search's query string -> a checked store query plus what the result should hold.

Unknown parameters are ignored (and left out of the `self` link, which is how FHIR says which
ones were used) unless the client sent `Prefer: handling=strict`, which makes them a 400.
Unsupported modifiers, prefixes and malformed values are a 400 either way: a filter silently
dropped would return more than the client asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, cast

from fhir_sync.api.errors import FhirError
from fhir_sync.api.input_limits import whole_number
from fhir_sync.api.search_params import (
    IGNORED_PARAMS,
    INCLUDES,
    REVINCLUDES,
    SEARCH_PARAMS,
    SearchParam,
)
from fhir_sync.services.fhir_dates import time_range
from fhir_sync.services.stored_text import NOT_FHIR_TEXT
from fhir_sync.store.search import (
    PREFIXES,
    ColumnIn,
    Filter,
    PeriodIn,
    Prefix,
    TimeRange,
    TokenIn,
    TokenValue,
    UpdatedIn,
)

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# Bounds on one search: each alternative and each term is a SQL condition, and databases limit
# how many a statement may nest (SQLite: an expression depth of 1000).
MAX_ALTERNATIVES: Final = 100
MAX_TERMS: Final = 30
_UNESCAPED_COMMA: Final = re.compile(r"(?<!\\),")


@dataclass(slots=True)
class SearchRequest:
    """A parsed search. `used` are the (name, value) pairs that took effect, in order."""

    resource_type: str
    filters: list[Filter] = field(default_factory=list)
    payers: list[tuple[str, ...]] = field(default_factory=list)  # Group?managing-entity
    count: int = 50
    summary_count: bool = False
    include_targets: list[tuple[str, str]] = field(default_factory=list)  # (param, type)
    revinclude_sources: list[tuple[str, str]] = field(default_factory=list)  # (type, param)
    cursor: str | None = None
    used: list[tuple[str, str]] = field(default_factory=list)


def wants_strict(prefer: str | None) -> bool:
    """`Prefer: handling=strict` (the header may list several preferences)."""
    if not prefer:
        return False
    parts = (part.strip().lower().replace(" ", "") for part in prefer.split(","))
    return any(part == "handling=strict" for part in parts)


def check_text(name: str, value: str) -> None:
    """400 for a parameter value holding characters no FHIR value can hold."""
    if NOT_FHIR_TEXT.search(value):  # must be a 400 before it reaches a query
        raise FhirError(400, f"{name[:64]}: the value holds control characters")


def parse_search(
    resource_type: str,
    items: list[tuple[str, str]],
    *,
    strict: bool,
    default_count: int,
    max_count: int,
) -> SearchRequest:
    request = SearchRequest(resource_type, count=default_count)
    known = {param.name: param for param in SEARCH_PARAMS[resource_type]}
    for key, value in items:
        name, _, modifier = key.partition(":")
        if name in IGNORED_PARAMS:
            continue
        if not value:
            continue  # FHIR: a parameter without a value is ignored
        check_text(name, value)
        if name in ("_count", "_summary", "_include", "_revinclude", "_cursor"):
            if modifier:
                raise FhirError(400, f"{name} takes no modifier (:{modifier})")
            _result_param(request, name, value, strict=strict, max_count=max_count)
            continue
        param = known.get(name)
        if param is None:
            if strict:
                raise FhirError(400, f"unknown search parameter {name!r} for {resource_type}")
            continue
        values = _split(value)
        if len(values) > MAX_ALTERNATIVES:
            raise FhirError(400, f"{name}: at most {MAX_ALTERNATIVES} comma-separated values")
        if len(request.used) >= MAX_TERMS:
            raise FhirError(400, f"at most {MAX_TERMS} search parameters")
        request_filter = _filter(param, modifier, values)
        if isinstance(request_filter, tuple):
            request.payers.append(request_filter)
        else:
            request.filters.append(request_filter)
        request.used.append((key, value))
    return request


def _result_param(
    request: SearchRequest, name: str, value: str, *, strict: bool, max_count: int
) -> None:
    if name == "_count":
        request.count = min(whole_number("_count", value), max_count)
        if request.count == 0:
            request.summary_count = True
    elif name == "_summary":
        if value not in ("count", "false"):
            raise FhirError(400, f"_summary={value} is not supported (count and false are)")
        request.summary_count = value == "count"
    elif name == "_cursor":
        if not ID_PATTERN.fullmatch(value):
            raise FhirError(400, "_cursor is not a cursor this server issued")
        request.cursor = value
        return  # paging state, not part of the query the links repeat
    elif name == "_include":
        source, _, rest = value.partition(":")
        param, _, target = rest.partition(":")
        included = INCLUDES.get((source, param)) if source == request.resource_type else None
        if included is None or target not in ("", included):
            if strict:
                raise FhirError(400, f"_include={value} is not supported")
            return
        if (param, included) in request.include_targets:
            return  # a repeat changes nothing (and would cost a query each)
        request.include_targets.append((param, included))
    else:  # _revinclude
        source, _, rest = value.partition(":")
        param, _, target = rest.partition(":")
        referenced = REVINCLUDES.get((source, param))
        if referenced != request.resource_type or target not in ("", referenced):
            if strict:
                raise FhirError(400, f"_revinclude={value} is not supported")
            return
        if (source, param) in request.revinclude_sources:
            return
        request.revinclude_sources.append((source, param))
    request.used.append((name, value))


def _split(value: str) -> list[str]:
    return [part.replace("\\,", ",") for part in _UNESCAPED_COMMA.split(value) if part]


def _filter(param: SearchParam, modifier: str, values: list[str]) -> Filter | tuple[str, ...]:
    if modifier and not (param.type == "reference" and modifier == param.reference_type):
        raise FhirError(400, f"the modifier :{modifier} is not supported on {param.name}")
    if param.type == "date":
        ranges = tuple(_time_range(param.name, value) for value in values)
        return UpdatedIn(ranges) if param.target == "last_updated" else PeriodIn(ranges)
    if param.type == "reference":
        ids = tuple(_reference_id(param, value) for value in values)
        if param.target == "patient_id":
            return ColumnIn("patient_id", ids)
        if param.target == "payer":
            return tuple(f"{param.reference_type}/{target}" for target in ids)
        references = tuple(TokenValue("", f"{param.reference_type}/{target}") for target in ids)
        return TokenIn(param.target.removeprefix("token:"), references)
    if param.target == "id":
        return ColumnIn("id", tuple(values))
    if param.target == "status":
        return ColumnIn("status", tuple(value.rpartition("|")[2] for value in values))
    return TokenIn(param.target.removeprefix("token:"), tuple(_token(v) for v in values))


def _token(value: str) -> TokenValue:
    if "|" not in value:
        return TokenValue(None, value)
    system, _, code = value.partition("|")
    return TokenValue(system, code or None)


def _reference_id(param: SearchParam, value: str) -> str:
    """`<id>`, `<Type>/<id>` or an absolute URL ending in `<Type>/<id>` -> `<id>`."""
    parts = value.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] != param.reference_type:
        raise FhirError(400, f"{param.name} must reference a {param.reference_type}")
    target = parts[-1]
    if not ID_PATTERN.fullmatch(target):
        raise FhirError(400, f"{param.name}: not a reference to a {param.reference_type}")
    return target


def _time_range(name: str, value: str) -> TimeRange:
    prefix: Prefix = "eq"
    text = value
    if value[:2].isalpha():
        if value[:2] not in PREFIXES:
            raise FhirError(400, f"{name}: the prefix {value[:2]!r} is not supported")
        prefix, text = cast("Prefix", value[:2]), value[2:]
    try:
        low, high = time_range(text)
    except ValueError:
        raise FhirError(400, f"{name}: not a FHIR date or dateTime") from None
    return TimeRange(prefix, low, high)
