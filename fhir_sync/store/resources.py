"""Writing and reading stored FHIR resources: the served bytes with their search columns.

The caller (which knows FHIR) decides the bytes and the index values; this module only keeps
them consistent: a resource and its search tokens are replaced together, in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from fhir_sync.store.search import RESOURCE, TOKEN


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """Everything stored for one resource version; `tokens` are (param, system, code)."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    body: bytes
    patient_id: str | None = None
    payer: str | None = None
    status: str | None = None
    date_start: datetime | None = None
    date_end: datetime | None = None
    tokens: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Served:
    """A resource as a read returns it."""

    body: bytes
    version_id: int
    last_updated: datetime
    payer: str | None


# Built once: a read is the server's most frequent query, and building and caching a statement
# on every call costs several times what the database takes to answer it.
_READ = select(
    RESOURCE.c.body, RESOURCE.c.version_id, RESOURCE.c.last_updated, RESOURCE.c.payer
).where(RESOURCE.c.resource_type == bindparam("kind"), RESOURCE.c.id == bindparam("rid"))


def read_resource(connection: Connection, resource_type: str, resource_id: str) -> Served | None:
    row = connection.execute(_READ, {"kind": resource_type, "rid": resource_id}).first()
    return None if row is None else Served(row[0], row[1], row[2], row[3])


_READ_SQL: Final = (
    "SELECT body, version_id, last_updated, payer FROM fhir_resource"
    " WHERE resource_type = {0} AND id = {0}"
)
READ_SQL: Final = _READ_SQL.format("%s")  # psycopg, here and in async_reads.py
_SQLITE_READ_SQL: Final = _READ_SQL.format("?")


def fetch_resource(engine: Engine, resource_type: str, resource_id: str) -> Served | None:
    """`read_resource` without SQLAlchemy's statement and transaction machinery, for the
    server's most frequent request: measured, the machinery cost ten times the query. One
    SELECT needs no transaction, so it runs in autocommit (SQLite's connections always are;
    psycopg's are switched for it: one round trip instead of BEGIN, SELECT and ROLLBACK, which
    halved a read on PostgreSQL). The connection comes from the engine's pool as usual."""
    sqlite = engine.dialect.paramstyle == "qmark"
    sql = _SQLITE_READ_SQL if sqlite else READ_SQL
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if not sqlite:
            driver.autocommit = True  # type: ignore[union-attr]
        cursor = raw.cursor()
        try:
            cursor.execute(sql, (resource_type, resource_id))
            row = cursor.fetchone()
        finally:
            cursor.close()
        if not sqlite:
            driver.autocommit = False  # type: ignore[union-attr]
    except Exception:
        raw.invalidate()  # whatever went wrong, this connection is not handed out again
        raise
    finally:
        raw.close()
    if row is None:
        return None
    return served_from_row(row)


def served_from_row(row: Any) -> Served:
    """A Served from a (body, version_id, last_updated, payer) row of READ_SQL."""
    return Served(bytes(row[0]), int(row[1]), _utc(row[2]), row[3])


def _utc(value: datetime | str) -> datetime:
    """A timestamp as the driver gives it: PostgreSQL an aware datetime, SQLite the text
    sqlmodel stored (UTC, without an offset)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def current_versions(
    connection: Connection, resource_type: str, ids: Iterable[str]
) -> dict[str, int]:
    """id -> version of the resources that exist already."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = connection.execute(
        select(RESOURCE.c.id, RESOURCE.c.version_id).where(
            RESOURCE.c.resource_type == resource_type, RESOURCE.c.id.in_(wanted)
        )
    )
    return {row[0]: row[1] for row in rows}


def ids_for_patient(connection: Connection, resource_type: str, patient_id: str) -> list[str]:
    return list(
        connection.scalars(
            select(RESOURCE.c.id)
            .where(RESOURCE.c.resource_type == resource_type, RESOURCE.c.patient_id == patient_id)
            .order_by(RESOURCE.c.id)
        )
    )


def save_resources(connection: Connection, rows: Sequence[ResourceRow]) -> None:
    """Insert or replace each row (its version decided by the caller) and its tokens."""
    for row in rows:
        values = _stored_columns(row)
        key = (RESOURCE.c.resource_type == row.resource_type, RESOURCE.c.id == row.id)
        if row.version_id > 1:
            changed = connection.execute(update(RESOURCE).where(*key).values(**values))
            if changed.rowcount:
                connection.execute(
                    delete(TOKEN).where(
                        TOKEN.c.resource_type == row.resource_type, TOKEN.c.resource_id == row.id
                    )
                )
                _insert_tokens(connection, row)
                continue
        connection.execute(
            insert(RESOURCE).values(resource_type=row.resource_type, id=row.id, **values)
        )
        _insert_tokens(connection, row)


def _stored_columns(row: ResourceRow) -> dict[str, object]:
    """A row's columns besides its key (resource_type, id)."""
    return {
        "version_id": row.version_id,
        "last_updated": row.last_updated,
        "body": row.body,
        "patient_id": row.patient_id,
        "payer": row.payer,
        "status": row.status,
        "date_start": row.date_start,
        "date_end": row.date_end,
    }


def _insert_tokens(connection: Connection, row: ResourceRow) -> None:
    unique = sorted(set(row.tokens))
    if unique:
        connection.execute(
            insert(TOKEN),
            [
                {
                    "resource_type": row.resource_type,
                    "resource_id": row.id,
                    "param": param,
                    "system": system,
                    "code": code,
                }
                for param, system, code in unique
            ],
        )


def set_payer(connection: Connection, patient_id: str, payer: str | None) -> None:
    """Move a patient's stored resources to another payer (or none)."""
    connection.execute(
        update(RESOURCE).where(RESOURCE.c.patient_id == patient_id).values(payer=payer)
    )


def insert_new_resources(connection: Connection, rows: Sequence[ResourceRow]) -> None:
    """Insert rows that do not exist yet, many per statement: loading a population (a
    benchmark, a migration from another system) at bulk speed instead of a round trip per
    row. Unlike `save_resources` it never replaces; an existing row is an integrity error."""
    if not rows:
        return
    connection.execute(
        insert(RESOURCE),
        [
            {"resource_type": row.resource_type, "id": row.id, **_stored_columns(row)}
            for row in rows
        ],
    )
    tokens = [
        {
            "resource_type": row.resource_type,
            "resource_id": row.id,
            "param": param,
            "system": system,
            "code": code,
        }
        for row in rows
        for param, system, code in sorted(set(row.tokens))
    ]
    if tokens:
        connection.execute(insert(TOKEN), tokens)


def replace_version(connection: Connection, row: ResourceRow, previous: int) -> bool:
    """Replace the stored resource with `row` only if it is still at version `previous`
    (an optimistic update: `If-Match`); False, and nothing written, when it is not."""
    key = (RESOURCE.c.resource_type == row.resource_type, RESOURCE.c.id == row.id)
    changed = connection.execute(
        update(RESOURCE)
        .where(*key, RESOURCE.c.version_id == previous)
        .values(**_stored_columns(row))
    )
    if not changed.rowcount:
        return False
    connection.execute(
        delete(TOKEN).where(
            TOKEN.c.resource_type == row.resource_type, TOKEN.c.resource_id == row.id
        )
    )
    _insert_tokens(connection, row)
    return True
