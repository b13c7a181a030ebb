"""The steps the migrations repeat, said once: a table created with its indexes, tables dropped
(their indexes go with them, so a downgrade names each table once), and the lease columns
every lease-queue table has.

Frozen with the revisions: it imports nothing of the application (a migration must not change
when the application code does), and a change here must leave every revision's schema as it
was (tests/server/test_store_migrations.py compares the migrated schema with the models, on
SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem


def lease_columns() -> list[sa.Column[Any]]:
    """Who holds a row and until when: what `store/leases.py` claims rows by."""
    return [
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    ]


def create_table(
    name: str, *items: SchemaItem, indexes: Mapping[str, Sequence[str]] | None = None
) -> None:
    """The table, then its indexes (non-unique), by name and columns."""
    op.create_table(name, *items)
    for index, columns in (indexes or {}).items():
        op.create_index(index, name, list(columns), unique=False)


def drop_tables(*names: str) -> None:
    """Drop the tables in the order given; their indexes go with them."""
    for name in names:
        op.drop_table(name)
