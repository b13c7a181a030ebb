"""initial schema

Revision ID: 0001
Revises: none
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("interaction", sa.String(length=32), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=2), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index("ix_audit_event_recorded", ["recorded", "id"], unique=False)

    op.create_table(
        "enrollment",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_until", sa.Date(), nullable=True),
        sa.Column("cycle_days", sa.Integer(), nullable=False),
        sa.Column("anchor_day", sa.Integer(), nullable=True),
        sa.Column("anchor_date", sa.Date(), nullable=True),
        sa.Column("closed_weekdays", sa.String(length=16), nullable=False),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("pharmacy", sa.String(length=200), nullable=True),
        sa.Column("ehr_endpoint", sa.String(length=1024), nullable=True),
        sa.Column("pharmacy_endpoint", sa.String(length=1024), nullable=True),
        sa.Column("target_endpoint", sa.String(length=1024), nullable=True),
        sa.Column("payer", sa.String(length=200), nullable=True),
        sa.Column("inputs", sa.LargeBinary(), nullable=True),
        sa.Column("plan_hash", sa.String(length=64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollment_payer"), ["payer"], unique=False)

    op.create_table(
        "fhir_resource",
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("payer", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("date_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "id"),
    )
    with op.batch_alter_table("fhir_resource", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_resource_patient", ["resource_type", "patient_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_fhir_resource_payer", ["resource_type", "payer", "id"], unique=False
        )
        batch_op.create_index(
            "ix_fhir_resource_updated", ["resource_type", "last_updated"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=1024), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["state", "next_attempt_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "payer_group",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("payer", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payer"),
    )
    op.create_table(
        "pull_cursor",
        sa.Column("endpoint", sa.String(length=1024), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "resource_type", "patient_id"),
    )
    op.create_table(
        "registered_client",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("payer", sa.String(length=200), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "search_token",
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=1024), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id", "param", "system", "code"),
    )
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.create_index(
            "ix_search_token_value", ["resource_type", "param", "code", "system"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.drop_index("ix_search_token_value")

    op.drop_table("search_token")
    op.drop_table("registered_client")
    op.drop_table("pull_cursor")
    op.drop_table("payer_group")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_patient_id"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    with op.batch_alter_table("fhir_resource", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_resource_updated")
        batch_op.drop_index("ix_fhir_resource_payer")
        batch_op.drop_index("ix_fhir_resource_patient")

    op.drop_table("fhir_resource")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_payer"))

    op.drop_table("enrollment")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_recorded")
        batch_op.drop_index(batch_op.f("ix_audit_event_patient_id"))

    op.drop_table("audit_event")
