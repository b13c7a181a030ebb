"""Inserting a row unless one with the same key exists, in one statement on either database.

Several server processes may race to insert the same key (a replayed assertion id, the first
token key); `INSERT ... ON CONFLICT DO NOTHING` lets exactly one of them win without an error
or a lock held across statements, and the row count says which.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from fhir_sync.store.database import is_sqlite


def insert_if_absent(connection: Connection, table: Table, values: dict[str, Any]) -> bool:
    """True when the row was inserted, False when its primary key was already taken."""
    dialect = sqlite if is_sqlite(connection) else postgresql
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: SQLAlchemy does not promise an INSERT's rowcount on every driver.
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return connection.execute(statement).first() is not None
