"""What the mappings read for reconciliation: names, codings, bounds, earliest-fill dates,
partial and waiting dispenses."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_sync.engine.types import Bounds, Schedule
from mappings.errors import MappingError
from mappings.inbound.dispenses import map_dispense_in_full, map_medication_dispense
from mappings.inbound.orders import map_medication_request
from mappings.profile import EXT_EARLIEST_FILL, V3_ACT_CODE
from tests.mappings.builders import RXNORM, medication_dispense, medication_request

NDC = "http://hl7.org/fhir/sid/ndc"


def test_an_order_keeps_its_rxnorm_name_its_other_codings_and_its_prescriber() -> None:
    concept = {
        "coding": [
            {"system": RXNORM, "code": "617312", "display": "atorvastatin 20 MG Oral Tablet"},
            {"system": NDC, "code": "0071-0155-23"},
        ],
        "text": "Lipitor 20",
    }
    order = map_medication_request(medication_request(medicationCodeableConcept=concept)).order
    assert order.drug_key == "617312"
    assert order.name == "atorvastatin 20 MG Oral Tablet"
    assert order.codes == (f"{NDC}|0071-0155-23",)
    assert order.author == "Practitioner/dr-1"


def test_a_contained_medication_names_its_ingredients_strength_and_form() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m",
        "code": {"text": "Levothyroxine"},
        "form": {"text": "Oral Tablet"},
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "levothyroxine sodium"},
                "strength": {
                    "numerator": {"value": 25, "unit": "MCG"},
                    "denominator": {"value": 1},
                },
            }
        ],
    }
    res = medication_request(
        medicationCodeableConcept=None,
        medicationReference={"reference": "#m"},
        contained=[medication],
    )
    order = map_medication_request(res).order
    assert order.name == "levothyroxine sodium 25 MCG Oral Tablet"


def test_clobazam_named_only_as_an_ingredient_is_schedule_iv() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m",
        "code": {"text": "Seizure medicine"},
        "ingredient": [{"itemCodeableConcept": {"text": "clobazam"}}],
    }
    res = medication_request(
        medicationCodeableConcept=None,
        medicationReference={"reference": "#m"},
        contained=[medication],
    )
    assert map_medication_request(res).order.schedule is Schedule.CIV


def _dosage(repeat: dict[str, object], sequence: int = 1) -> dict[str, object]:
    return {
        "sequence": sequence,
        "timing": {"repeat": repeat},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
    }


def test_bounds_are_read_in_days() -> None:
    # boundsDuration 12 d; count 30 at 3 a day = 10 days; boundsPeriod.end as a date
    taper = _dosage(
        {
            "frequency": 1,
            "period": 1,
            "periodUnit": "d",
            "boundsDuration": {"value": 12, "code": "d"},
        }
    )
    course = _dosage({"frequency": 3, "period": 1, "periodUnit": "d", "count": 30}, 2)
    until = _dosage(
        {"frequency": 1, "period": 1, "periodUnit": "d", "boundsPeriod": {"end": "2026-12-01"}}, 3
    )
    res = medication_request(dosageInstruction=[taper, course, until])
    assert map_medication_request(res).order.bounds == (
        Bounds(1, days=12.0),
        Bounds(2, days=10.0),
        Bounds(3, end=date(2026, 12, 1)),
    )


def test_bounds_period_start_after_end_is_rejected() -> None:
    bad = _dosage(
        {
            "frequency": 1,
            "period": 1,
            "periodUnit": "d",
            "boundsPeriod": {"start": "2026-12-02", "end": "2026-12-01"},
        }
    )
    with pytest.raises(MappingError) as caught:
        map_medication_request(medication_request(dosageInstruction=[bad]))
    assert caught.value.expression == (
        "MedicationRequest.dosageInstruction[0].timing.repeat.boundsPeriod"
    )


def test_the_earliest_fill_date_comes_from_the_extension_or_the_initial_fill() -> None:
    on_order = medication_request(extension=[{"url": EXT_EARLIEST_FILL, "valueDate": "2026-12-20"}])
    assert map_medication_request(on_order).order.earliest_fill == date(2026, 12, 20)
    dispense = dict(medication_request()["dispenseRequest"])
    dispense["initialFill"] = {"extension": [{"url": EXT_EARLIEST_FILL, "valueDate": "2027-01-19"}]}
    on_fill = medication_request(dispenseRequest=dispense)
    assert map_medication_request(on_fill).order.earliest_fill == date(2027, 1, 19)
    bad = medication_request(extension=[{"url": EXT_EARLIEST_FILL, "valueString": "soon"}])
    with pytest.raises(MappingError):
        map_medication_request(bad)


@pytest.mark.parametrize("status", ["in-progress", "preparation"])
def test_a_prepared_dispense_waiting_for_pickup_is_a_pending_fill(status: str) -> None:
    mapped = map_medication_dispense(medication_dispense(status=status, whenHandedOver=None))
    assert mapped is not None
    assert mapped.fill.pending and mapped.fill.handed_over == date(2025, 2, 1)


def test_a_dispense_in_progress_without_when_prepared_is_no_supply() -> None:
    res = medication_dispense(status="in-progress", whenHandedOver=None, whenPrepared=None)
    assert map_medication_dispense(res) is None


@pytest.mark.parametrize(("code", "partial"), [("RFP", True), ("FFP", True), ("RF", False)])
def test_a_partial_fill_is_marked(code: str, partial: bool) -> None:
    res = medication_dispense(type={"coding": [{"system": V3_ACT_CODE, "code": code}]})
    fast = map_medication_dispense(res)
    full = map_dispense_in_full(res)
    assert fast is not None and full is not None
    assert fast.fill.partial is full.fill.partial is partial


def test_a_dispense_coded_by_ndc_keeps_the_code_and_the_name() -> None:
    concept = {
        "coding": [{"system": NDC, "code": "0071-0155-23", "display": "Lipitor 20 MG Tablet"}]
    }
    mapped = map_medication_dispense(medication_dispense(medicationCodeableConcept=concept))
    assert mapped is not None
    assert mapped.fill.drug_key == f"{NDC}|0071-0155-23"
    assert mapped.fill.name == "Lipitor 20 MG Tablet" and mapped.fill.codes == ()
