from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_sync.engine.types import Dosage, Schedule
from mappings.inbound.orders import map_medication_request
from mappings.profile import EXT_CONTROLLED_SUBSTANCE_SCHEDULE, EXT_PACKAGE_SIZE
from tests.mappings.builders import RXNORM, medication_request


def test_a_complete_order_maps_every_field() -> None:
    mapped = map_medication_request(medication_request())
    order = mapped.order
    assert mapped.patient_id == "pt-1"
    assert order.id == "mr-1"
    assert order.drug_key == "314076"
    assert (order.status, order.intent) == ("active", "order")
    assert order.category == ("community",)
    assert order.course == "continuous"
    assert order.dosages == (Dosage(1.0, 1.0, 1.0, False, 1, dose_unit="tablet"),)
    assert order.authored_on == date(2025, 1, 15)
    assert (order.validity_start, order.validity_end) == (date(2025, 1, 15), date(2026, 1, 15))
    assert order.repeats_allowed == 5
    assert (order.supply_quantity, order.supply_days) == (30.0, 30.0)
    assert order.supply_unit == "tablet"
    assert order.package_size is None
    assert order.schedule is Schedule.NONE
    assert mapped.unit == "tablet"
    assert mapped.requester == "Practitioner/dr-1"
    assert mapped.location == "Organization/pharmacy-1"
    assert mapped.medication == medication_request()["medicationCodeableConcept"]


def test_a_minimal_order_has_defaults() -> None:
    res = {
        "resourceType": "MedicationRequest",
        "id": "m",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {"text": "  Some   Cream "},
        "subject": {"reference": "Patient/p"},
    }
    mapped = map_medication_request(res)
    assert mapped.order.drug_key == "some cream"
    assert mapped.order.dosages == ()
    assert mapped.order.category == ()
    assert mapped.order.course is None
    assert mapped.order.repeats_allowed is None
    assert (mapped.unit, mapped.requester, mapped.location) == (None, None, None)


def test_null_counts_as_absent() -> None:
    res = medication_request(dispenseRequest={"numberOfRepeatsAllowed": None}, category=None)
    res["requester"] = None
    mapped = map_medication_request(res)
    assert mapped.order.repeats_allowed is None
    assert mapped.requester is None


def test_absolute_subject_url() -> None:
    res = medication_request(subject={"reference": "https://ehr.example/fhir/Patient/abc"})
    assert map_medication_request(res).patient_id == "abc"


# --- drug key --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("concept", "key"),
    [
        ({"coding": [{"system": "http://ndc", "code": "1"}, {"system": RXNORM, "code": "9"}]}, "9"),
        (
            {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "0002-1"}]},
            "http://hl7.org/fhir/sid/ndc|0002-1",
        ),
        ({"coding": [{"code": "local-7"}], "text": "x"}, "|local-7"),
        ({"coding": [{"display": "only a display"}], "text": "Metformin ER"}, "metformin er"),
    ],
)
def test_drug_key(concept: dict[str, Any], key: str) -> None:
    res = medication_request(medicationCodeableConcept=concept)
    assert map_medication_request(res).order.drug_key == key


def test_medication_reference_to_a_contained_medication() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med",
        "code": {"coding": [{"system": RXNORM, "code": "1049221", "display": "oxycodone 5 MG"}]},
        "amount": {"numerator": {"value": 100, "unit": "tablet"}, "denominator": {"value": 1}},
    }
    res = medication_request(
        medicationCodeableConcept=None,
        medicationReference={"reference": "#med"},
        contained=[{"resourceType": "Organization", "id": "o"}, medication],
    )
    mapped = map_medication_request(res)
    assert mapped.medication == medication["code"]
    assert mapped.order.drug_key == "1049221"
    # Medication.amount is what the package holds; a bottle of 100 tablets is a stock bottle
    # the pharmacy counts out of, not a pack sold whole (dispensing-rules.md section 1), so it
    # is a product fact, not the package-size (which was 100 here before: 100 tablets a fill).
    assert mapped.order.package_size is None
    fact = mapped.order.facts[0]  # the Medication first, then the drug name
    assert (fact.amount, fact.amount_unit, fact.unbreakable) == (100, "tablet", False)
    assert mapped.order.schedule is Schedule.CII


def test_medication_reference_without_contained_uses_display() -> None:
    res = medication_request(
        medicationCodeableConcept=None,
        medicationReference={"reference": "Medication/m1", "display": "Albuterol inhaler"},
    )
    mapped = map_medication_request(res)
    assert mapped.medication == {"text": "Albuterol inhaler"}
    assert mapped.order.drug_key == "albuterol inhaler"


def test_medication_reference_without_display_uses_the_reference() -> None:
    res = medication_request(
        medicationCodeableConcept=None, medicationReference={"reference": "Medication/m1"}
    )
    assert map_medication_request(res).medication == {"text": "Medication/m1"}


# --- package size and schedule ---------------------------------------------------------------


def test_package_size_extension_wins_over_contained_medication() -> None:
    res = medication_request(
        extension=[{"url": EXT_PACKAGE_SIZE, "valueQuantity": {"value": 200, "unit": "puff"}}],
        contained=[{"resourceType": "Medication", "amount": {"numerator": {"value": 5}}}],
    )
    assert map_medication_request(res).order.package_size == 200.0


def test_package_size_from_an_unreferenced_contained_medication() -> None:
    # The contained Medication's amount is a product fact (a package only when the form or its
    # unit says it is sold whole), no longer the package-size: that is the extension's alone.
    res = medication_request(
        contained=[{"resourceType": "Medication", "amount": {"numerator": {"value": 3}}}]
    )
    order = map_medication_request(res).order
    assert order.package_size is None
    assert order.facts[0].amount == 3


def test_schedule_extension_wins_over_the_heuristic() -> None:
    text = {"text": "Oxycodone 5 mg"}
    plain = medication_request(medicationCodeableConcept=text)
    assert map_medication_request(plain).order.schedule is Schedule.CII
    for code, expected in [("CIV", Schedule.CIV), ("none", Schedule.NONE)]:
        res = medication_request(
            medicationCodeableConcept=text,
            extension=[
                {"url": "http://example.org/other", "valueString": "x"},
                {"url": EXT_CONTROLLED_SUBSTANCE_SCHEDULE, "valueCode": code},
            ],
        )
        assert map_medication_request(res).order.schedule is expected


def test_schedule_is_found_in_coding_displays() -> None:
    res = medication_request(
        medicationCodeableConcept={
            "coding": [{"system": RXNORM, "code": "1", "display": "Xanax 1 MG"}]
        }
    )
    assert map_medication_request(res).order.schedule is Schedule.CIV


# --- course and category ---------------------------------------------------------------------


def test_unknown_course_codes_count_as_none() -> None:
    res = medication_request(courseOfTherapyType={"coding": [{"code": "chronic"}], "text": "x"})
    assert map_medication_request(res).order.course is None


def test_all_category_codes_are_kept() -> None:
    res = medication_request(
        category=[
            {"coding": [{"code": "community"}, {"code": "outpatient"}]},
            {"text": "no coding"},
            {"coding": [{"system": "http://x"}, {"code": "discharge"}]},
        ]
    )
    assert map_medication_request(res).order.category == ("community", "outpatient", "discharge")


# --- dosage ----------------------------------------------------------------------------------


def _dosage(instruction: dict[str, Any]) -> Dosage:
    res = medication_request(dosageInstruction=[instruction])
    (dosage,) = map_medication_request(res).order.dosages
    return dosage


@pytest.mark.parametrize(
    ("repeat", "frequency", "period_days"),
    [
        ({"frequency": 2, "period": 1, "periodUnit": "d"}, 2.0, 1.0),
        ({"frequency": 1, "period": 6, "periodUnit": "h"}, 1.0, 0.25),
        ({"frequency": 1, "period": 30, "periodUnit": "min"}, 1.0, 30 / 1440),
        ({"frequency": 1, "period": 3600, "periodUnit": "s"}, 1.0, 1 / 24),
        ({"frequency": 1, "period": 1, "periodUnit": "wk"}, 1.0, 7.0),
        ({"frequency": 1, "period": 1, "periodUnit": "mo"}, 1.0, 30.0),
        ({"frequency": 1, "period": 1, "periodUnit": "a"}, 1.0, 365.0),
        ({"frequency": 1, "period": 0.5, "periodUnit": "d"}, 1.0, 0.5),
        ({"period": 1, "periodUnit": "d"}, 1.0, 1.0),  # frequency defaults to 1
        ({"when": ["MORN", "EVE"]}, 2.0, 1.0),  # times imply a daily period
        ({"timeOfDay": ["08:00:00", "14:00:00", "20:00:00"]}, 3.0, 1.0),
        ({"frequency": 1, "when": ["HS"], "period": 2, "periodUnit": "d"}, 1.0, 2.0),
        (
            {"frequency": 1, "period": 1, "periodUnit": "d", "dayOfWeek": ["mon", "wed", "fri"]},
            3.0,
            7.0,
        ),
        ({"frequency": 2, "period": 12, "periodUnit": "h", "dayOfWeek": ["sat"]}, 4.0, 7.0),
        ({"frequency": 1, "period": 1, "periodUnit": "wk", "dayOfWeek": ["sat"]}, 1.0, 7.0),
        ({"frequency": 3}, 3.0, None),  # no period: unknown
        ({"duration": 30, "durationUnit": "min"}, 1.0, None),
    ],
)
def test_timing_repeat(repeat: dict[str, Any], frequency: float, period_days: float | None) -> None:
    dosage = _dosage({"timing": {"repeat": repeat}})
    assert dosage.frequency == pytest.approx(frequency)
    if period_days is None:
        assert dosage.period_days is None
    else:
        assert dosage.period_days == pytest.approx(period_days)


@pytest.mark.parametrize(
    ("code", "frequency", "period_days"),
    [
        ("BID", 2.0, 1.0),
        ("QOD", 1.0, 2.0),
        ("Q8H", 1.0, 1 / 3),
        ("WK", 1.0, 7.0),
        ("XYZ", 1.0, None),
    ],
)
def test_timing_abbreviations(code: str, frequency: float, period_days: float | None) -> None:
    system = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
    dosage = _dosage({"timing": {"code": {"coding": [{"system": system, "code": code}]}}})
    assert dosage.frequency == frequency
    assert dosage.period_days == (pytest.approx(period_days) if period_days else None)


def test_no_timing_means_unknown_period() -> None:
    dosage = _dosage({"doseAndRate": [{"doseQuantity": {"value": 2}}]})
    assert (dosage.dose, dosage.frequency, dosage.period_days) == (2.0, 1.0, None)


def test_timing_without_repeat_or_code() -> None:
    assert _dosage({"timing": {"event": ["2025-01-01"]}}).period_days is None


@pytest.mark.parametrize(
    ("dose_and_rate", "dose"),
    [
        ([{"doseQuantity": {"value": 2.5, "unit": "mg"}}], 2.5),
        (
            [
                {
                    "type": {"text": "ordered"},
                    "doseRange": {"low": {"value": 1}, "high": {"value": 2}},
                }
            ],
            2.0,
        ),
        ([{"doseRange": {"low": {"value": 1}}}], 1.0),
        ([{"rateQuantity": {"value": 5, "unit": "mL/h"}}], None),
        ([{"rateQuantity": {"value": 5}}, {"doseQuantity": {"value": 3}}], 3.0),
        ([{"doseRange": {}}], None),
        ([], None),
    ],
)
def test_dose(dose_and_rate: list[dict[str, Any]], dose: float | None) -> None:
    assert _dosage({"doseAndRate": dose_and_rate}).dose == dose


def test_as_needed() -> None:
    assert _dosage({"asNeededBoolean": True}).as_needed
    assert not _dosage({"asNeededBoolean": False}).as_needed
    assert _dosage({"asNeededCodeableConcept": {"text": "pain"}}).as_needed
    assert not _dosage({}).as_needed


def test_sequences_and_several_instructions() -> None:
    res = medication_request(
        dosageInstruction=[
            {"sequence": 1, "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]},
            {"sequence": 1, "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}]},
            {"doseAndRate": [{"doseQuantity": {"value": 3}}]},
        ]
    )
    mapped = map_medication_request(res)
    assert [d.sequence for d in mapped.order.dosages] == [1, 1, 0]
    assert mapped.unit == "{tbl}"  # code when the first unit-bearing dose has no unit text


def test_unit_falls_back_to_the_dispense_quantity() -> None:
    res = medication_request(dosageInstruction=[{"text": "as directed"}])
    assert map_medication_request(res).unit == "tablet"
