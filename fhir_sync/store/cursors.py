"""Incremental-pull cursors, one per endpoint, resource type and patient ("" for all)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, insert, select, update

from fhir_sync.store.tables import PullCursor

CURSOR: Table = PullCursor.__table__  # type: ignore[attr-defined]


def get_cursor(
    connection: Connection, endpoint: str, resource_type: str, patient_id: str = ""
) -> str | None:
    return connection.scalar(
        select(CURSOR.c.cursor).where(
            CURSOR.c.endpoint == endpoint,
            CURSOR.c.resource_type == resource_type,
            CURSOR.c.patient_id == patient_id,
        )
    )


def set_cursor(
    connection: Connection,
    endpoint: str,
    resource_type: str,
    cursor: str,
    now: datetime,
    patient_id: str = "",
) -> None:
    """Store the cursor of a finished pull (in the transaction that stored what it pulled)."""
    key = (
        CURSOR.c.endpoint == endpoint,
        CURSOR.c.resource_type == resource_type,
        CURSOR.c.patient_id == patient_id,
    )
    changed = connection.execute(update(CURSOR).where(*key).values(cursor=cursor, updated_at=now))
    if not changed.rowcount:
        connection.execute(
            insert(CURSOR).values(
                endpoint=endpoint,
                resource_type=resource_type,
                patient_id=patient_id,
                cursor=cursor,
                updated_at=now,
            )
        )
