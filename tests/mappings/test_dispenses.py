from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_sync.engine.types import Fill
from mappings.errors import MappingError
from mappings.inbound.dispenses import FillInput, map_medication_dispense
from mappings.inbound.orders import OrderInput
from mappings.inbound.patients import PatientInput, map_patient
from mappings.inbound.resources import map_resource
from tests.mappings.builders import (
    DELETE,
    medication_dispense,
    medication_request,
    rejected,
    with_path,
)
from tests.mappings.corruption import json_values, paths, replaced

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MD = "MedicationDispense"


def test_a_completed_dispense_becomes_a_fill() -> None:
    assert map_medication_dispense(medication_dispense()) == FillInput(
        "pt-1",
        Fill(
            id="md-1",
            handed_over=date(2025, 2, 2),
            order_id="mr-1",
            drug_key="314076",
            days_supply=30.0,
            quantity=30.0,
            completes_partial=False,
            unit="tablet",  # read with the quantity: it is counted only in the dispense unit
        ),
    )


@pytest.mark.parametrize(
    "status",
    [
        "preparation",
        "in-progress",
        "cancelled",
        "on-hold",
        "entered-in-error",
        "stopped",
        "declined",
        "unknown",
    ],
)
def test_other_statuses_are_skipped(status: str) -> None:
    res = medication_dispense(status=status, whenHandedOver=None, whenPrepared=None)
    assert map_medication_dispense(res) is None


def test_when_prepared_is_the_fallback() -> None:
    fill_input = map_medication_dispense(medication_dispense(whenHandedOver=None))
    assert fill_input is not None
    assert fill_input.fill.handed_over == date(2025, 2, 1)


@pytest.mark.parametrize(
    ("codes", "completes"),
    [
        (["FFC"], True),
        (["RFC"], True),
        (["RFCS"], True),
        (["TB"], True),
        (["TBS"], True),
        (["FFP"], False),
        (["RFP"], False),
        (["RF"], False),
        (["TF"], False),
        (["FF", "RFC"], True),
    ],
)
def test_completing_a_partial_fill(codes: list[str], completes: bool) -> None:
    res = medication_dispense(type={"coding": [{"system": ACT_CODE, "code": c} for c in codes]})
    fill_input = map_medication_dispense(res)
    assert fill_input is not None
    assert fill_input.fill.completes_partial is completes


def test_completion_codes_need_the_act_code_system() -> None:
    res = medication_dispense(type={"coding": [{"system": "http://example.org", "code": "RFC"}]})
    fill_input = map_medication_dispense(res)
    assert fill_input is not None and not fill_input.fill.completes_partial


def test_order_is_the_first_medication_request_reference() -> None:
    res = medication_dispense(
        authorizingPrescription=[
            {"display": "paper prescription"},
            {"reference": "ServiceRequest/s1"},
            {"reference": "https://ehr.example/fhir/MedicationRequest/mr-9"},
            {"reference": "MedicationRequest/mr-10"},
        ]
    )
    fill_input = map_medication_dispense(res)
    assert fill_input is not None and fill_input.fill.order_id == "mr-9"


def test_optional_elements_may_be_absent() -> None:
    res = medication_dispense(
        authorizingPrescription=None, quantity=None, daysSupply=None, medicationCodeableConcept=None
    )
    fill_input = map_medication_dispense(res)
    assert fill_input is not None
    fill = fill_input.fill
    assert (fill.order_id, fill.drug_key, fill.quantity, fill.days_supply) == (
        None,
        None,
        None,
        None,
    )


def test_days_supply_units() -> None:
    res = medication_dispense(daysSupply={"value": 4, "code": "wk"})
    fill_input = map_medication_dispense(res)
    assert fill_input is not None and fill_input.fill.days_supply == 28.0
    res = medication_dispense(daysSupply={"value": 10})
    fill_input = map_medication_dispense(res)
    assert fill_input is not None and fill_input.fill.days_supply == 10.0


def test_drug_key_from_a_contained_medication() -> None:
    res = medication_dispense(
        medicationCodeableConcept=None,
        medicationReference={"reference": "#m"},
        contained=[{"resourceType": "Medication", "id": "m", "code": {"text": "Insulin Glargine"}}],
    )
    fill_input = map_medication_dispense(res)
    assert fill_input is not None and fill_input.fill.drug_key == "insulin glargine"


CASES: list[tuple[str, Any, str, str]] = [
    ("id", DELETE, f"{MD}.id", "required"),
    ("resourceType", "MedicationRequest", MD, "structure"),
    ("status", DELETE, f"{MD}.status", "required"),
    ("status", "done", f"{MD}.status", "code-invalid"),
    ("subject", DELETE, f"{MD}.subject.reference", "value"),
    ("subject.reference", "Group/1", f"{MD}.subject.reference", "value"),
    ("whenHandedOver", "yesterday", f"{MD}.whenHandedOver", "value"),
    ("quantity", [], f"{MD}.quantity", "structure"),
    ("quantity.value", -30, f"{MD}.quantity.value", "value"),
    ("daysSupply", {"value": 30, "code": "tablets"}, f"{MD}.daysSupply.code", "code-invalid"),
    ("daysSupply.value", "30", f"{MD}.daysSupply.value", "structure"),
    (
        "authorizingPrescription",
        {"reference": "MedicationRequest/1"},
        f"{MD}.authorizingPrescription",
        "structure",
    ),
    (
        "authorizingPrescription.0",
        "MedicationRequest/1",
        f"{MD}.authorizingPrescription[0]",
        "structure",
    ),
    (
        "authorizingPrescription.0.reference",
        1,
        f"{MD}.authorizingPrescription[0].reference",
        "structure",
    ),
    ("type", "RFC", f"{MD}.type", "structure"),
    (
        "type",
        {"coding": [{"code": "RFC", "system": 1}]},
        f"{MD}.type.coding[0].system",
        "structure",
    ),
    ("type", {"coding": ["RFC"]}, f"{MD}.type.coding[0]", "structure"),
    (
        "medicationCodeableConcept.coding.0.code",
        5,
        f"{MD}.medicationCodeableConcept.coding[0]",
        "structure",
    ),
]


@pytest.mark.parametrize(("path", "value", "expression", "code"), CASES)
def test_dispense_rejections(path: str, value: Any, expression: str, code: str) -> None:
    res = with_path(medication_dispense(), path, value)
    error = rejected(map_medication_dispense, res)
    assert (error.expression, error.code) == (expression, code)


def test_when_prepared_is_checked_when_used() -> None:
    res = medication_dispense(whenHandedOver=None, whenPrepared="2025-13-01")
    error = rejected(map_medication_dispense, res)
    assert (error.expression, error.code) == (f"{MD}.whenPrepared", "value")


def test_a_completed_dispense_needs_a_date() -> None:
    res = medication_dispense(whenHandedOver=None, whenPrepared=None)
    error = rejected(map_medication_dispense, res)
    assert (error.expression, error.code) == (f"{MD}.whenHandedOver", "required")


# --- patients and dispatch ---------------------------------------------------------------------


def test_patient() -> None:
    res = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "not read"}],
        "managingOrganization": {"reference": "Organization/o1"},
        "generalPractitioner": [{"reference": "Practitioner/a"}, {"display": "x"}],
    }
    assert map_patient(res) == PatientInput("p1", "Organization/o1", ("Practitioner/a",))
    assert map_patient({"resourceType": "Patient", "id": "p2"}) == PatientInput("p2")


@pytest.mark.parametrize(
    ("res", "expression"),
    [
        ({"resourceType": "Patient"}, "Patient.id"),
        (
            {"resourceType": "Patient", "id": "p", "managingOrganization": []},
            "Patient.managingOrganization",
        ),
        (
            {"resourceType": "Patient", "id": "p", "generalPractitioner": [1]},
            "Patient.generalPractitioner[0]",
        ),
        (
            {"resourceType": "Patient", "id": "p", "generalPractitioner": [{"reference": 1}]},
            "Patient.generalPractitioner[0].reference",
        ),
    ],
)
def test_patient_rejections(res: dict[str, Any], expression: str) -> None:
    error = rejected(map_patient, res)
    assert error.expression == expression


def test_map_resource_dispatches() -> None:
    assert isinstance(map_resource(medication_request()), OrderInput)
    assert map_resource(medication_dispense(status="declined")) is None
    assert map_resource({"resourceType": "Patient", "id": "p"}) == PatientInput("p")
    unsupported: list[dict[str, Any]] = [{"resourceType": "Observation"}, {}, {"resourceType": 1}]
    for res in unsupported:
        error = rejected(map_resource, res)
        assert error.code == "not-supported"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_corrupted_dispenses_only_raise_mapping_errors(data: st.DataObject) -> None:
    resource = medication_dispense(
        type={"coding": [{"system": ACT_CODE, "code": "RFC"}]},
        medicationReference={"reference": "#m"},
        medicationCodeableConcept=None,
        contained=[{"resourceType": "Medication", "id": "m", "code": {"text": "x"}}],
    )
    path = data.draw(st.sampled_from(paths(resource)))
    try:
        map_medication_dispense(replaced(resource, path, data.draw(json_values)))
    except MappingError as error:
        assert error.expression.startswith(MD)
