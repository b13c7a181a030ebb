"""Audit rows: written in batches by the server's audit writer, searched by the pharmacy.

Rows are appended and never changed. Searches return the newest first and page by keyset on
the row id (`before`), so paging through a long history costs the same on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select, text

from fhir_sync.store.database import is_sqlite
from fhir_sync.store.search import RESOURCE, TimeRange
from fhir_sync.store.tables import AuditRecord

AUDIT: Table = AuditRecord.__table__  # type: ignore[attr-defined]
_CHUNK = 500  # ids per IN list: well under every database's bound-parameter limit
_COLUMNS: Final = {
    "recorded": "timestamptz",
    "client_id": "text",
    "role": "text",
    "action": "text",
    "interaction": "text",
    "resource_type": "text",
    "resource_id": "text",
    "patient_id": "text",
    "outcome": "text",
    "status": "integer",
    "query": "text",
}
_UNNEST_INSERT: Final = text(
    f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMNS.items())
    + ")"
)
_SQLITE_INSERT: Final = (
    f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_OTHER_COLUMNS: Final = tuple(_COLUMNS)[1:]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Each tuple field is one AND term of OR alternatives (empty: no condition), as FHIR
    combines search parameters; `entities` are (resource type, id)."""

    recorded: tuple[tuple[TimeRange, ...], ...] = ()
    agents: tuple[tuple[str, ...], ...] = ()
    entities: tuple[tuple[tuple[str, str], ...], ...] = ()
    patients: tuple[tuple[str, ...], ...] = ()
    actions: tuple[tuple[str, ...], ...] = ()
    outcomes: tuple[tuple[str, ...], ...] = ()
    before: int | None = None
    limit: int = 50


def insert_audit_rows(connection: Connection, rows: Sequence[dict[str, object]]) -> None:
    """On PostgreSQL one statement whatever the number of rows (an executemany costs a
    round of the protocol per row). On SQLite the sqlite3 module's own executemany over
    tuples, with `recorded` written as SQLAlchemy writes a DateTime there: its per-row
    parameter processing held the GIL for a third of the insert, time the event loop of the
    same process waits for."""
    if not rows:
        return
    if is_sqlite(connection):
        connection.exec_driver_sql(
            _SQLITE_INSERT,
            [
                (_sqlite_datetime(row["recorded"]), *(row[name] for name in _OTHER_COLUMNS))
                for row in rows
            ],
        )
        return
    columns = {name: [row[name] for row in rows] for name in _COLUMNS}
    connection.execute(_UNNEST_INSERT, columns)


def _sqlite_datetime(value: object) -> str:
    """SQLAlchemy's storage format for DateTime on SQLite (the zone is not stored; audit
    times are UTC)."""
    assert isinstance(value, datetime)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def patients_of(connection: Connection, resource_type: str, ids: Sequence[str]) -> dict[str, str]:
    """id -> patient id of the stored resources among `ids` that belong to a patient."""
    wanted = sorted(set(ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = connection.execute(
            select(RESOURCE.c.id, RESOURCE.c.patient_id).where(
                RESOURCE.c.resource_type == resource_type,
                RESOURCE.c.id.in_(wanted[start : start + _CHUNK]),
                RESOURCE.c.patient_id.is_not(None),
            )
        )
        found.update((row[0], row[1]) for row in rows)
    return found


def search_audit(connection: Connection, query: AuditQuery) -> list[AuditRecord]:
    statement = select(AUDIT).where(*_conditions(query))
    if query.before is not None:
        statement = statement.where(AUDIT.c.id < query.before)
    statement = statement.order_by(AUDIT.c.id.desc()).limit(query.limit)
    return [AuditRecord(**row) for row in connection.execute(statement).mappings()]


def count_audit(connection: Connection, query: AuditQuery) -> int:
    statement = select(func.count()).select_from(AUDIT).where(*_conditions(query))
    return int(connection.execute(statement).scalar_one())


def get_audit(connection: Connection, audit_id: int) -> AuditRecord | None:
    row = connection.execute(select(AUDIT).where(AUDIT.c.id == audit_id)).mappings().first()
    return None if row is None else AuditRecord(**row)


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    conditions += [or_(*(_recorded(r) for r in ranges)) for ranges in query.recorded]
    conditions += [AUDIT.c.client_id.in_(values) for values in query.agents]
    conditions += [AUDIT.c.patient_id.in_(values) for values in query.patients]
    conditions += [AUDIT.c.action.in_(values) for values in query.actions]
    conditions += [AUDIT.c.outcome.in_(values) for values in query.outcomes]
    for alternatives in query.entities:
        conditions.append(or_(*(_entity(kind, rid) for kind, rid in alternatives)))
    return conditions


def _entity(kind: str, resource_id: str) -> ColumnElement[bool]:
    """The event's target, or, for a Patient, also any event that disclosed that patient."""
    target = and_(AUDIT.c.resource_type == kind, AUDIT.c.resource_id == resource_id)
    return or_(target, AUDIT.c.patient_id == resource_id) if kind == "Patient" else target


def _recorded(wanted: TimeRange) -> ColumnElement[bool]:
    """FHIR date search on an instant: eq within the range, gt after it, and so on."""
    moment = AUDIT.c.recorded
    comparisons: dict[str, ColumnElement[bool]] = {
        "eq": and_(moment >= wanted.low, moment < wanted.high),
        "ne": or_(moment < wanted.low, moment >= wanted.high),
        "gt": moment >= wanted.high,
        "lt": moment < wanted.low,
        "ge": moment >= wanted.low,
        "le": moment < wanted.high,
    }
    return comparisons[wanted.prefix]
