"""initial schema

Revision ID: 0001
Revises: none
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from fhir_sync.store.migrations.steps import create_table, drop_tables, lease_columns

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_table(
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
        indexes={
            "ix_audit_event_patient_id": ["patient_id"],
            "ix_audit_event_recorded": ["recorded", "id"],
        },
    )
    create_table(
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
        indexes={"ix_enrollment_payer": ["payer"]},
    )
    create_table(
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
        indexes={
            "ix_fhir_resource_patient": ["resource_type", "patient_id", "id"],
            "ix_fhir_resource_payer": ["resource_type", "payer", "id"],
            "ix_fhir_resource_updated": ["resource_type", "last_updated"],
        },
    )
    create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=1024), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        *lease_columns(),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        indexes={
            "ix_outbox_due": ["state", "next_attempt_at", "id"],
            "ix_outbox_patient_id": ["patient_id"],
        },
    )
    create_table(
        "payer_group",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("payer", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payer"),
    )
    create_table(
        "pull_cursor",
        sa.Column("endpoint", sa.String(length=1024), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "resource_type", "patient_id"),
    )
    create_table(
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
    create_table(
        "search_token",
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=1024), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id", "param", "system", "code"),
        indexes={"ix_search_token_value": ["resource_type", "param", "code", "system"]},
    )


def downgrade() -> None:
    drop_tables(
        "search_token",
        "registered_client",
        "pull_cursor",
        "payer_group",
        "outbox",
        "fhir_resource",
        "enrollment",
        "audit_event",
    )
