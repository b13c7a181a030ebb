"""Every way a MedicationRequest can be rejected: a MappingError naming the element."""

from __future__ import annotations

from typing import Any

import pytest

from mappings.errors import MappingError
from mappings.inbound.orders import map_medication_request
from mappings.profile import EXT_CONTROLLED_SUBSTANCE_SCHEDULE, EXT_PACKAGE_SIZE
from tests.mappings.builders import DELETE, medication_request, rejected, with_path

MR = "MedicationRequest"
DOSE = "dosageInstruction.0"
DOSE_X = f"{MR}.dosageInstruction[0]"
REPEAT = f"{DOSE}.timing.repeat"
REPEAT_X = f"{DOSE_X}.timing.repeat"
DR = f"{MR}.dispenseRequest"

CASES: list[tuple[str, Any, str, str]] = [
    # (path, new value, expected expression, expected code)
    ("id", DELETE, f"{MR}.id", "required"),
    ("id", "has space", f"{MR}.id", "value"),
    ("id", 12, f"{MR}.id", "value"),
    ("id", "x" * 65, f"{MR}.id", "value"),
    ("resourceType", "MedicationOrder", MR, "structure"),
    ("resourceType", DELETE, MR, "structure"),
    ("status", DELETE, f"{MR}.status", "required"),
    ("status", "ACTIVE", f"{MR}.status", "code-invalid"),
    ("status", " active", f"{MR}.status", "structure"),
    ("status", 1, f"{MR}.status", "structure"),
    ("intent", DELETE, f"{MR}.intent", "required"),
    ("intent", "instance", f"{MR}.intent", "code-invalid"),
    ("subject", DELETE, f"{MR}.subject.reference", "value"),
    ("subject", "Patient/1", f"{MR}.subject", "structure"),
    ("subject.reference", 5, f"{MR}.subject.reference", "structure"),
    ("subject.reference", "Group/g1", f"{MR}.subject.reference", "value"),
    ("subject.reference", "Patient/", f"{MR}.subject.reference", "value"),
    ("subject", {"display": "someone"}, f"{MR}.subject.reference", "value"),
    ("medicationCodeableConcept", DELETE, f"{MR}.medication", "required"),
    ("medicationCodeableConcept", "aspirin", f"{MR}.medicationCodeableConcept", "structure"),
    ("medicationCodeableConcept", {}, f"{MR}.medicationCodeableConcept", "required"),
    ("medicationCodeableConcept.coding", {}, f"{MR}.medicationCodeableConcept.coding", "structure"),
    (
        "medicationCodeableConcept.coding.0",
        "x",
        f"{MR}.medicationCodeableConcept.coding[0]",
        "structure",
    ),
    (
        "medicationCodeableConcept.coding.0.code",
        314076,
        f"{MR}.medicationCodeableConcept.coding[0]",
        "structure",
    ),
    (
        "medicationCodeableConcept.coding.0.system",
        "",
        f"{MR}.medicationCodeableConcept.coding[0]",
        "structure",
    ),
    ("medicationCodeableConcept.text", ["x"], f"{MR}.medicationCodeableConcept.text", "structure"),
    ("category", {"coding": []}, f"{MR}.category", "structure"),
    ("category.0", "community", f"{MR}.category[0]", "structure"),
    ("category.0.coding", "x", f"{MR}.category[0].coding", "structure"),
    ("category.0.coding.0.code", "", f"{MR}.category[0].coding[0].code", "structure"),
    ("courseOfTherapyType", [], f"{MR}.courseOfTherapyType", "structure"),
    ("courseOfTherapyType.coding.0", 1, f"{MR}.courseOfTherapyType.coding[0]", "structure"),
    (
        "courseOfTherapyType.coding.0.code",
        2,
        f"{MR}.courseOfTherapyType.coding[0].code",
        "structure",
    ),
    ("authoredOn", "15/01/2025", f"{MR}.authoredOn", "value"),
    ("requester", "Practitioner/1", f"{MR}.requester", "structure"),
    ("requester.reference", 1, f"{MR}.requester.reference", "structure"),
    ("dosageInstruction", {}, f"{MR}.dosageInstruction", "structure"),
    (DOSE, "one daily", DOSE_X, "structure"),
    (f"{DOSE}.sequence", "1", f"{DOSE_X}.sequence", "structure"),
    (f"{DOSE}.asNeededBoolean", "false", f"{DOSE_X}.asNeededBoolean", "structure"),
    (f"{DOSE}.asNeededCodeableConcept", "pain", f"{DOSE_X}.asNeededCodeableConcept", "structure"),
    (f"{DOSE}.doseAndRate", {}, f"{DOSE_X}.doseAndRate", "structure"),
    (f"{DOSE}.doseAndRate.0", 1, f"{DOSE_X}.doseAndRate[0]", "structure"),
    (f"{DOSE}.doseAndRate.0.doseQuantity", 1, f"{DOSE_X}.doseAndRate[0].doseQuantity", "structure"),
    (
        f"{DOSE}.doseAndRate.0.doseQuantity.value",
        "1",
        f"{DOSE_X}.doseAndRate[0].doseQuantity.value",
        "structure",
    ),
    (
        f"{DOSE}.doseAndRate.0.doseQuantity.value",
        -1,
        f"{DOSE_X}.doseAndRate[0].doseQuantity.value",
        "value",
    ),
    (
        f"{DOSE}.doseAndRate.0.doseQuantity.unit",
        1,
        f"{DOSE_X}.doseAndRate[0].doseQuantity.unit",
        "structure",
    ),
    (
        f"{DOSE}.doseAndRate.0",
        {"doseRange": {"high": 2}},
        f"{DOSE_X}.doseAndRate[0].doseRange.high",
        "structure",
    ),
    (f"{DOSE}.doseAndRate.0", {"doseRange": 2}, f"{DOSE_X}.doseAndRate[0].doseRange", "structure"),
    (f"{DOSE}.timing", "daily", f"{DOSE_X}.timing", "structure"),
    (f"{DOSE}.timing.repeat", [], REPEAT_X, "structure"),
    (f"{REPEAT}.frequency", 0, f"{REPEAT_X}.frequency", "value"),
    (f"{REPEAT}.frequency", 1.5, f"{REPEAT_X}.frequency", "structure"),
    (f"{REPEAT}.period", "1", f"{REPEAT_X}.period", "structure"),
    (f"{REPEAT}.period", 0, f"{REPEAT_X}.period", "value"),
    (f"{REPEAT}.period", -2, f"{REPEAT_X}.period", "value"),
    (f"{REPEAT}.periodUnit", DELETE, f"{REPEAT_X}.periodUnit", "required"),
    (f"{REPEAT}.periodUnit", "day", f"{REPEAT_X}.periodUnit", "code-invalid"),
    (f"{REPEAT}.periodUnit", 1, f"{REPEAT_X}.periodUnit", "structure"),
    (f"{REPEAT}.when", "MORN", f"{REPEAT_X}.when", "structure"),
    (f"{REPEAT}.when", ["MORN", 1], f"{REPEAT_X}.when[1]", "structure"),
    (f"{REPEAT}.timeOfDay", [8], f"{REPEAT_X}.timeOfDay[0]", "structure"),
    (f"{REPEAT}.dayOfWeek", [None], f"{REPEAT_X}.dayOfWeek[0]", "structure"),
    (f"{DOSE}.timing", {"code": "BID"}, f"{DOSE_X}.timing.code", "structure"),
    (
        f"{DOSE}.timing",
        {"code": {"coding": ["BID"]}},
        f"{DOSE_X}.timing.code.coding[0]",
        "structure",
    ),
    (
        f"{DOSE}.timing",
        {"code": {"coding": [{"code": 2}]}},
        f"{DOSE_X}.timing.code.coding[0].code",
        "structure",
    ),
    ("dispenseRequest", [], DR, "structure"),
    ("dispenseRequest.validityPeriod", "2025", f"{DR}.validityPeriod", "structure"),
    ("dispenseRequest.validityPeriod.start", "2025-02-30", f"{DR}.validityPeriod.start", "value"),
    ("dispenseRequest.validityPeriod.end", "tomorrow", f"{DR}.validityPeriod.end", "value"),
    ("dispenseRequest.validityPeriod.end", "2024-12-31", f"{DR}.validityPeriod", "invariant"),
    ("dispenseRequest.numberOfRepeatsAllowed", -1, f"{DR}.numberOfRepeatsAllowed", "value"),
    ("dispenseRequest.numberOfRepeatsAllowed", "5", f"{DR}.numberOfRepeatsAllowed", "structure"),
    ("dispenseRequest.numberOfRepeatsAllowed", 5.0, f"{DR}.numberOfRepeatsAllowed", "structure"),
    ("dispenseRequest.quantity", 30, f"{DR}.quantity", "structure"),
    ("dispenseRequest.quantity.value", "30", f"{DR}.quantity.value", "structure"),
    (
        "dispenseRequest.expectedSupplyDuration",
        {"value": 3, "code": "fortnight"},
        f"{DR}.expectedSupplyDuration.code",
        "code-invalid",
    ),
    (
        "dispenseRequest.expectedSupplyDuration",
        {"value": 3, "unit": "packs"},
        f"{DR}.expectedSupplyDuration.unit",
        "code-invalid",
    ),
    (
        "dispenseRequest.expectedSupplyDuration.value",
        False,
        f"{DR}.expectedSupplyDuration.value",
        "structure",
    ),
    ("dispenseRequest.performer", "Organization/1", f"{DR}.performer", "structure"),
    ("dispenseRequest.performer.reference", "", f"{DR}.performer.reference", "structure"),
    ("extension", {"url": EXT_PACKAGE_SIZE}, f"{MR}.extension", "structure"),
    ("extension", ["x"], f"{MR}.extension[0]", "structure"),
    ("extension", [{"valueString": "x"}], f"{MR}.extension[0].url", "required"),
    ("extension", [{"url": EXT_PACKAGE_SIZE}], f"{MR}.extension[0].valueQuantity.value", "value"),
    (
        "extension",
        [{"url": EXT_PACKAGE_SIZE, "valueQuantity": {"value": 0}}],
        f"{MR}.extension[0].valueQuantity.value",
        "value",
    ),
    (
        "extension",
        [{"url": EXT_PACKAGE_SIZE, "valueQuantity": 5}],
        f"{MR}.extension[0].valueQuantity",
        "structure",
    ),
    (
        "extension",
        [{"url": EXT_PACKAGE_SIZE, "valueQuantity": {"value": "5"}}],
        f"{MR}.extension[0].valueQuantity.value",
        "structure",
    ),
    (
        "extension",
        [{"url": "x"}, {"url": EXT_CONTROLLED_SUBSTANCE_SCHEDULE}],
        f"{MR}.extension[1].valueCode",
        "required",
    ),
    (
        "extension",
        [{"url": EXT_CONTROLLED_SUBSTANCE_SCHEDULE, "valueCode": "C2"}],
        f"{MR}.extension[0].valueCode",
        "code-invalid",
    ),
    (
        "extension",
        [{"url": EXT_CONTROLLED_SUBSTANCE_SCHEDULE, "valueCode": 2}],
        f"{MR}.extension[0].valueCode",
        "structure",
    ),
    ("contained", {"resourceType": "Medication"}, f"{MR}.contained", "structure"),
    ("contained", [1], f"{MR}.contained[0]", "structure"),
    (
        "contained",
        [{"resourceType": "Medication", "amount": 3}],
        f"{MR}.contained[0].amount",
        "structure",
    ),
    (
        "contained",
        [{"resourceType": "Medication", "amount": {"numerator": 3}}],
        f"{MR}.contained[0].amount.numerator",
        "structure",
    ),
    (
        "contained",
        [{"resourceType": "Medication", "amount": {"numerator": {"value": "3"}}}],
        f"{MR}.contained[0].amount.numerator.value",
        "structure",
    ),
]


@pytest.mark.parametrize(("path", "value", "expression", "code"), CASES)
def test_rejections(path: str, value: Any, expression: str, code: str) -> None:
    res = with_path(medication_request(), path, value)
    error = rejected(map_medication_request, res)
    assert (error.expression, error.code) == (expression, code)
    assert str(error) == f"{expression}: {error.message}"


MEDICATION_REFERENCE_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"medicationReference": "Medication/1"}, f"{MR}.medicationReference", "structure"),
    ({"medicationReference": {}}, f"{MR}.medicationReference", "required"),
    ({"medicationReference": {"reference": 1}}, f"{MR}.medicationReference.reference", "structure"),
    ({"medicationReference": {"display": 1}}, f"{MR}.medicationReference.display", "structure"),
    (
        {
            "medicationReference": {"reference": "#m"},
            "contained": [{"resourceType": "Medication", "id": "m", "code": "x"}],
        },
        f"{MR}.contained[0].code",
        "structure",
    ),
    (
        {
            "medicationReference": {"reference": "#m"},
            "contained": [
                {"resourceType": "Medication", "id": "m", "code": {"coding": [{"code": 1}]}}
            ],
        },
        f"{MR}.contained[0].code.coding[0]",
        "structure",
    ),
]


@pytest.mark.parametrize(("changes", "expression", "code"), MEDICATION_REFERENCE_CASES)
def test_medication_reference_rejections(
    changes: dict[str, Any], expression: str, code: str
) -> None:
    res = medication_request(medicationCodeableConcept=None, **changes)
    error = rejected(map_medication_request, res)
    assert (error.expression, error.code) == (expression, code)


@pytest.mark.parametrize("res", [None, [], "MedicationRequest", 3])
def test_non_objects_are_rejected(res: Any) -> None:
    error = rejected(map_medication_request, res)
    assert error.expression == MR


def test_messages_hold_no_values() -> None:
    """A message names the element; it never echoes names, dates or free text."""
    secret = "Jane-Doe-1970"
    cases = [
        with_path(medication_request(), "subject.reference", f"Person/{secret}"),
        with_path(medication_request(), "authoredOn", secret),
        with_path(medication_request(), "dispenseRequest.validityPeriod.start", secret),
        with_path(medication_request(), "medicationCodeableConcept.text", [secret]),
        with_path(medication_request(), "requester.reference", {"name": secret}),
    ]
    for res in cases:
        error = rejected(map_medication_request, res)
        assert secret not in error.message
        assert secret not in error.expression


def test_offending_codes_are_quoted_and_cut_short() -> None:
    res = with_path(medication_request(), "status", "x" * 500)
    error = rejected(map_medication_request, res)
    assert len(error.message) < 80


def test_mapping_errors_survive_pickling() -> None:
    import pickle

    error = MappingError("m", "MedicationRequest.id", "value")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.expression, copy.code) == ("m", "MedicationRequest.id", "value")
