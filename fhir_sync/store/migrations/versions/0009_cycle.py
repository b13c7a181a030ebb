"""cycle: the monthly cycle's facts per enrollment and its derived items

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from fhir_sync.store.migrations.steps import create_table, drop_tables

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_table(
        "cycle_state",
        sa.Column("patient_id", sa.String(length=64), primary_key=True),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("derived_through", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_table(
        "cycle_item",
        sa.Column("id", sa.String(length=200), primary_key=True),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("resource_type", sa.String(length=32), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        indexes={
            "ix_cycle_item_patient_id": ["patient_id"],
            "ix_cycle_item_day_kind": ["day", "kind"],
        },
    )


def downgrade() -> None:
    drop_tables("cycle_item", "cycle_state")
