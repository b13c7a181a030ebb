"""security: client JWKS URLs, replay protection for client assertions, the access token
signing key, and audit event queries with indexes for the AuditEvent search

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fhir_sync.store.migrations.steps import create_table, drop_tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_table(
        "assertion_jti",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
        indexes={"ix_assertion_jti_expires": ["expires_at"]},
    )
    create_table(
        "token_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("query", sa.Text(), nullable=True))
        batch_op.create_index("ix_audit_event_client", ["client_id", "id"], unique=False)
        batch_op.create_index(
            "ix_audit_event_entity", ["resource_type", "resource_id"], unique=False
        )

    with op.batch_alter_table("registered_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jwks_url", sa.String(length=1024), nullable=True))
        batch_op.alter_column("jwks", existing_type=sa.TEXT(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("registered_client", schema=None) as batch_op:
        batch_op.alter_column("jwks", existing_type=sa.TEXT(), nullable=False)
        batch_op.drop_column("jwks_url")

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_entity")
        batch_op.drop_index("ix_audit_event_client")
        batch_op.drop_column("query")

    drop_tables("token_key", "assertion_jti")
