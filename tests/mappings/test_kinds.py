"""The resource-kind and operation registries: what every layer reads about a served type."""

from __future__ import annotations

from datetime import UTC, datetime

from fhir_sync.api.app import create_app
from fhir_sync.services.indexing import resource_row
from fhir_sync.store.database import open_engine
from mappings.kinds import (
    AUDIT_PATIENT_TYPES,
    CLOSED_STATUSES,
    EXPORT_TYPES,
    KINDS,
    PHARMACY_ONLY_TYPES,
    PLAN_TYPES,
    READ_SCOPES,
    STORED_TYPES,
)
from mappings.operations import OPERATIONS, operation_at


def test_the_derived_lists_are_the_served_types() -> None:
    assert STORED_TYPES == (
        "CarePlan",
        "Appointment",
        "Task",
        "CommunicationRequest",
        "Communication",
        "QuestionnaireResponse",
        "Questionnaire",
        "Patient",
    )
    assert PLAN_TYPES == ("CarePlan", "Appointment", "Task")
    assert EXPORT_TYPES == ("Patient", "CarePlan", "Appointment")
    # Every stored kind that names a patient, but the Patient: the audit finds it from them.
    assert STORED_TYPES[:6] == AUDIT_PATIENT_TYPES
    # The cycle's calls, call records, check-ins and check-in form stay in the pharmacy.
    assert STORED_TYPES[3:7] == PHARMACY_ONLY_TYPES
    assert dict(READ_SCOPES) == dict.fromkeys(
        (t for t in STORED_TYPES if t not in PHARMACY_ONLY_TYPES), "rs"
    )
    assert CLOSED_STATUSES["Appointment"] == ("cancelled", "fulfilled", "noshow")


def test_each_kind_finds_its_patient_where_its_path_says() -> None:
    patient = {"reference": "Patient/p1"}
    other = {"reference": "Practitioner/x"}
    assert KINDS["CarePlan"].patient is not None
    assert KINDS["CarePlan"].patient({"subject": patient}) == "p1"
    assert KINDS["Task"].patient is not None
    assert KINDS["Task"].patient({"for": patient}) == "p1"
    appointment = {"participant": [{"actor": other}, {"actor": patient}]}
    assert KINDS["Appointment"].patient is not None
    assert KINDS["Appointment"].patient(appointment) == "p1"
    assert KINDS["Patient"].patient is not None
    assert KINDS["Patient"].patient({"id": "p1"}) == "p1"
    assert KINDS["Group"].patient is None


def test_indexing_fills_the_token_table_from_the_declared_extractors() -> None:
    careplan = {
        "resourceType": "CarePlan",
        "id": "c1",
        "identifier": [{"system": "urn:s", "value": "v"}],
        "category": [{"coding": [{"system": "urn:c", "code": "med-sync"}]}],
        "activity": [{"reference": {"reference": "Appointment/a1"}}],
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2026-11-22"},
    }
    row = resource_row(careplan, version_id=1, last_updated=datetime.now(UTC), payer=None)
    assert row.tokens == (
        ("identifier", "urn:s", "v"),
        ("category", "urn:c", "med-sync"),
        ("activity-reference", "", "Appointment/a1"),
    )
    assert row.patient_id == "p1"
    assert row.date_start == datetime(2026, 11, 22, tzinfo=UTC) and row.date_end is None


def test_every_operation_route_is_registered_and_every_registered_one_routed(
    tmp_path: object,
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path}/kinds.db")
    app = create_app(engine=engine)
    routed = {path for path in app.openapi()["paths"] if "/$" in path}
    assert {op.path for op in OPERATIONS.values()} == routed
    assert all(operation_at(path) is not None for path in routed)
    engine.dispose()
