"""`GET /fhir/AuditEvent` search parameters -> an `AuditQuery`.

The same conventions as the other searches (search_request.py): comma-separated alternatives,
repeated parameters AND-ed, unknown parameters ignored unless `Prefer: handling=strict`, and
malformed values a 400, since a filter dropped silently would show more than was asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, cast

from fhir_sync.api.errors import FhirError
from fhir_sync.api.input_limits import whole_number
from fhir_sync.api.search_params import SearchParam
from fhir_sync.api.search_request import (
    ID_PATTERN,
    MAX_ALTERNATIVES,
    MAX_TERMS,
    check_text,
)
from fhir_sync.services.fhir_dates import time_range
from fhir_sync.store.audit import AuditQuery
from fhir_sync.store.search import PREFIXES, Prefix, TimeRange
from mappings.kinds import AUDIT_ENTITY_TYPES

# An AuditEvent id, which is also the `_cursor` of the next page: its row number.
AUDIT_ID: Final = re.compile(r"[0-9]{1,18}", re.ASCII)
AUDIT_SEARCH_PARAMS: Final = (
    SearchParam(
        "date", "date", "recorded", "When the access happened; prefixes eq, ne, gt, ge, lt, le."
    ),
    SearchParam("agent", "reference", "client_id", "The client's id (agent.who.identifier)."),
    SearchParam(
        "entity",
        "reference",
        "entity",
        "The resource accessed: <Type>/<id>; Patient/<id> also matches every access that "
        "disclosed the patient's data.",
    ),
    SearchParam("patient", "reference", "patient_id", "The patient: Patient/<id> or <id>."),
    SearchParam("action", "token", "action", "C, R, U, D or E."),
    SearchParam("outcome", "token", "outcome", "0 success, 4 refused or not found, 8 error."),
)
ACTIONS: Final = ("C", "R", "U", "D", "E")
OUTCOMES: Final = ("0", "4", "8", "12")
_ENTITY_TYPES: Final = AUDIT_ENTITY_TYPES


@dataclass(slots=True)
class AuditSearch:
    query: AuditQuery
    count: int
    summary_count: bool = False
    used: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Terms:
    dates: list[tuple[TimeRange, ...]] = field(default_factory=list)
    agents: list[tuple[str, ...]] = field(default_factory=list)
    entities: list[tuple[tuple[str, str], ...]] = field(default_factory=list)
    patients: list[tuple[str, ...]] = field(default_factory=list)
    actions: list[tuple[str, ...]] = field(default_factory=list)
    outcomes: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, name: str, values: list[str]) -> None:
        if name == "date":
            self.dates.append(tuple(_time_range(v) for v in values))
        elif name == "agent":
            self.agents.append(tuple(_client_id(v) for v in values))
        elif name == "entity":
            self.entities.append(tuple(_entity(v) for v in values))
        elif name == "patient":
            self.patients.append(tuple(_patient(v) for v in values))
        elif name == "action":
            self.actions.append(tuple(_code(name, v, ACTIONS) for v in values))
        else:
            self.outcomes.append(tuple(_code(name, v, OUTCOMES) for v in values))


def parse_audit_search(
    items: list[tuple[str, str]], *, strict: bool, default_count: int, max_count: int
) -> AuditSearch:
    terms = _Terms()
    count, summary, before = default_count, False, None
    used: list[tuple[str, str]] = []
    known = {param.name for param in AUDIT_SEARCH_PARAMS}
    for key, value in items:
        name, _, modifier = key.partition(":")
        if not value or name in ("_format", "_pretty"):
            continue
        check_text(name, value)
        if modifier:
            raise FhirError(400, f"the modifier :{modifier[:32]} is not supported on {name[:32]}")
        if name == "_count":
            count = min(whole_number("_count", value), max_count)
            summary = summary or count == 0
        elif name == "_summary":
            if value not in ("count", "false"):
                raise FhirError(400, "_summary supports count and false")
            summary = value == "count"
        elif name == "_cursor":
            if AUDIT_ID.fullmatch(value) is None:
                raise FhirError(400, "_cursor is not a cursor this server issued")
            before = int(value)
            continue  # paging state, not part of the query the links repeat
        elif name in known:
            values = value.split(",")
            if len(values) > MAX_ALTERNATIVES:
                raise FhirError(400, f"{name}: at most {MAX_ALTERNATIVES} alternatives")
            if len(used) >= MAX_TERMS:
                raise FhirError(400, f"at most {MAX_TERMS} search parameters")
            terms.add(name, values)
        elif strict:
            raise FhirError(400, f"unknown search parameter {name[:64]!r} for AuditEvent")
        else:
            continue
        used.append((key, value))
    query = AuditQuery(
        recorded=tuple(terms.dates),
        agents=tuple(terms.agents),
        entities=tuple(terms.entities),
        patients=tuple(terms.patients),
        actions=tuple(terms.actions),
        outcomes=tuple(terms.outcomes),
        before=before,
        limit=count + 1,
    )
    return AuditSearch(query, count, summary, used)


def _client_id(value: str) -> str:
    client_id = value.rpartition("/")[2]
    if not 0 < len(client_id) <= 128:
        raise FhirError(400, "agent: not a client id")
    return client_id


def _entity(value: str) -> tuple[str, str]:
    kind, _, rid = value.rstrip("/").rpartition("/")
    kind = kind.rpartition("/")[2]
    if kind not in _ENTITY_TYPES or not ID_PATTERN.fullmatch(rid):
        raise FhirError(400, "entity must be <Type>/<id> of a type this server serves")
    return kind, rid


def _patient(value: str) -> str:
    kind, _, rid = value.rstrip("/").rpartition("/")
    if (kind and kind.rpartition("/")[2] != "Patient") or not ID_PATTERN.fullmatch(rid):
        raise FhirError(400, "patient must be Patient/<id> or <id>")
    return rid


def _code(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise FhirError(400, f"{name} must be one of {', '.join(allowed)}")
    return value


def _time_range(value: str) -> TimeRange:
    prefix: Prefix = "eq"
    text = value
    if value[:2].isalpha():
        if value[:2] not in PREFIXES:
            raise FhirError(400, "date: the prefix is not supported")
        prefix, text = cast("Prefix", value[:2]), value[2:]
    try:
        low, high = time_range(text)
    except ValueError:
        raise FhirError(400, "date: not a FHIR date or dateTime") from None
    return TimeRange(prefix, low, high)
