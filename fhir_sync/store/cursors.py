"""Incremental-pull cursors, one per endpoint, resource type and patient ("" for all)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Table, insert, select, update

from fhir_sync.store.tables import PullCursor

CURSOR: Table = PullCursor.__table__  # type: ignore[attr-defined]


def get_cursor(
    connection: Connection, endpoint: str, resource_type: str, patient_id: str = ""
) -> str | None:
    key = _key(endpoint, resource_type, patient_id)
    return connection.scalar(select(CURSOR.c.cursor).where(*_matching(key)))


def set_cursor(
    connection: Connection,
    endpoint: str,
    resource_type: str,
    cursor: str,
    now: datetime,
    patient_id: str = "",
) -> None:
    """Store the cursor of a finished pull (in the transaction that stored what it pulled)."""
    key = _key(endpoint, resource_type, patient_id)
    values = {"cursor": cursor, "updated_at": now}
    changed = connection.execute(update(CURSOR).where(*_matching(key)).values(**values))
    if not changed.rowcount:
        connection.execute(insert(CURSOR).values(**key, **values))


def _key(endpoint: str, resource_type: str, patient_id: str) -> dict[str, str]:
    """The columns that name one cursor."""
    return {"endpoint": endpoint, "resource_type": resource_type, "patient_id": patient_id}


def _matching(key: dict[str, str]) -> list[ColumnElement[bool]]:
    return [CURSOR.c[name] == value for name, value in key.items()]
