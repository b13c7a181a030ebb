"""staff app indexes: a day's Appointments, open Tasks by date, a day's cycle items by state

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A day's Appointments by their start (the pickups of a day), open Tasks by date (the
    # renewals waiting), the enrollments by status (the counts), and a day's cycle items
    # counted by kind and state without reading the rows (the worklist's group counts; the
    # index it replaces was its prefix).
    op.create_index("ix_fhir_resource_date", "fhir_resource", ["resource_type", "date_start"])
    op.create_index(
        "ix_fhir_resource_status", "fhir_resource", ["resource_type", "status", "date_start", "id"]
    )
    op.create_index("ix_enrollment_status", "enrollment", ["status"])
    op.drop_index("ix_cycle_item_day_kind", table_name="cycle_item")
    op.create_index("ix_cycle_item_day_kind_state", "cycle_item", ["day", "kind", "state"])


def downgrade() -> None:
    op.drop_index("ix_cycle_item_day_kind_state", table_name="cycle_item")
    op.create_index("ix_cycle_item_day_kind", "cycle_item", ["day", "kind"])
    op.drop_index("ix_enrollment_status", table_name="enrollment")
    op.drop_index("ix_fhir_resource_status", table_name="fhir_resource")
    op.drop_index("ix_fhir_resource_date", table_name="fhir_resource")
