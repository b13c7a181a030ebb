"""sync requests: patients to pull and re-plan (change notifications, ended holds)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_request",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.create_index("ix_sync_request_due", ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_request_due")

    op.drop_table("sync_request")
