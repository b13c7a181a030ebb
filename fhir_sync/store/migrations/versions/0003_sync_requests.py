"""sync requests: patients to pull and re-plan (change notifications, ended holds)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from fhir_sync.store.migrations.steps import create_table, drop_tables, lease_columns

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_table(
        "sync_request",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        *lease_columns(),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("patient_id"),
        indexes={"ix_sync_request_due": ["next_attempt_at"]},
    )


def downgrade() -> None:
    drop_tables("sync_request")
