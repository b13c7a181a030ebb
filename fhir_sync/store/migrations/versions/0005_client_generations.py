"""client generations: every registration and key rotation of a client id gets a new
generation, which its access tokens carry; the keys a rotation replaced stay usable until
`previous_until`

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registered_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("previous_jwks", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registered_client", schema=None) as batch_op:
        batch_op.drop_column("previous_until")
        batch_op.drop_column("previous_jwks")
        batch_op.drop_column("generation")
