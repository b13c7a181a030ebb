"""Reading what is dispensed: RxNorm names, contained Medications, PRN text, both eyes, bounds."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from fhir_sync.engine.products import Source
from mappings.inbound.dosages import map_dosage
from mappings.inbound.drug_names import name_facts
from mappings.inbound.orders import map_medication_request

F = Fraction


def test_rxnorm_names_give_form_strength_and_package() -> None:
    tablet = name_facts("atorvastatin 20 MG Oral Tablet")
    assert tablet is not None and tablet.form == "Oral Tablet"
    assert (tablet.strength, tablet.strength_unit, tablet.strength_per) == (F(20), "MG", None)
    pen = name_facts("3 ML insulin glargine 100 UNT/ML Pen Injector")
    assert pen is not None and (pen.amount, pen.amount_unit) == (F(3), "ML")
    assert (pen.strength, pen.strength_unit, pen.strength_per) == (F(100), "UNT", "ML")
    inhaler = name_facts("200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler")
    assert inhaler is not None and inhaler.amount == 200 and inhaler.strength == F(9, 100)
    blister = name_facts(
        "{21 (norethindrone 1 MG / ethinyl estradiol 0.035 MG Oral Tablet) / "
        "7 (inert ingredients 1 MG Oral Tablet) } Pack"
    )
    assert blister is not None and blister.amount == 28 and blister.unbreakable  # 21 + 7
    # A combination has no single strength to divide a mg dose by; a bare ingredient says nothing.
    combo = name_facts("acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet")
    assert combo is not None and combo.strength is None and combo.form == "Oral Tablet"
    assert name_facts("Atorvastatin") is None
    branded = name_facts("Simvastatin 20 MG Oral Tablet [Zocor]")
    assert branded is not None and branded.strength == 20


def _request(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": "timolol"},
        "dosageInstruction": [
            {
                "text": "Instill 1 drop in both eyes twice daily",
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "drop"}}],
            }
        ],
    }
    base.update(extra)
    return base


def test_contained_medication_gives_form_amount_and_strength() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med",
        "code": {"text": "timolol 5 MG/ML Ophthalmic Solution"},
        "form": {"text": "Ophthalmic Solution"},
        "amount": {
            "numerator": {"value": 5, "unit": "mL"},
            "denominator": {"value": 1, "unit": "bottle"},
        },
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "timolol"},
                "strength": {
                    "numerator": {"value": 5, "unit": "mg"},
                    "denominator": {"value": 1, "unit": "mL"},
                },
            }
        ],
    }
    res = _request(contained=[medication], medicationReference={"reference": "#med"})
    res.pop("medicationCodeableConcept")
    order = map_medication_request(res).order
    first = order.facts[0]
    assert first.source is Source.MEDICATION and first.form == "Ophthalmic Solution"
    assert (first.amount, first.amount_unit, first.unbreakable) == (F(5), "mL", True)
    assert (first.strength, first.strength_unit, first.strength_per) == (F(5), "mg", "mL")
    (dosage,) = order.dosages
    assert dosage.both_eyes and dosage.dose == 1 and dosage.dose_unit == "drop"


def test_package_size_extension_keeps_its_unit() -> None:
    res = _request(
        extension=[
            {
                "url": "https://fhir-sync.org/StructureDefinition/package-size",
                "valueQuantity": {"value": 15, "unit": "mL"},
            }
        ]
    )
    order = map_medication_request(res).order
    assert order.package_size == 15
    assert [(f.source, f.amount, f.amount_unit) for f in order.facts] == [
        (Source.PACKAGE_EXTENSION, F(15), "mL")
    ]


def test_prn_in_text_bounds_and_exact_timing() -> None:
    prn, _ = map_dosage({"text": "1 tablet every 6 hours when required for pain"})
    assert prn.prn_text and not prn.as_needed
    flagged, _ = map_dosage({"text": "1 tab PRN", "asNeededBoolean": True})
    assert flagged.as_needed and not flagged.prn_text  # asNeeded says it already
    plain, _ = map_dosage({"text": "Take 1 tablet by mouth once daily"})
    assert not plain.prn_text
    titration, _ = map_dosage(
        {
            "timing": {
                "repeat": {
                    "frequency": 1,
                    "period": 1,
                    "periodUnit": "d",
                    "boundsDuration": {"value": 7, "code": "d"},
                }
            }
        }
    )
    assert titration.bounded
    every_8h, _ = map_dosage(
        {"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}}
    )
    assert every_8h.period_days == F(1, 3)  # exactly, so 3 a day is 3
    weekdays, _ = map_dosage(
        {
            "timing": {
                "repeat": {
                    "when": ["MORN", "EVE"],
                    "dayOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                }
            }
        }
    )
    assert (weekdays.frequency, weekdays.period_days) == (F(10), F(7))  # 2 a day, 5 days a week
    ranged, unit = map_dosage(
        {
            "doseAndRate": [
                {
                    "doseRange": {
                        "low": {"value": 1, "unit": "tablet"},
                        "high": {"value": 2, "unit": "tablet"},
                    }
                }
            ]
        }
    )
    assert ranged.dose == 2 and unit == "tablet"  # the maximum, as payers count it


def test_the_refill_threshold_form_comes_from_medication_form_when_present() -> None:
    """Eye drops are paid at 70% on some Part D plans (domain.md section 2): the dose form that
    decides it is the Medication's own `form` when it has one, else the drug's name. A
    Medication coded only "timolol" with form "Ophthalmic Solution" is ophthalmic; one whose
    name says "Ophthalmic" but whose form says "Oral Tablet" is not."""
    from fhir_sync.engine.types import OPHTHALMIC

    def with_form(code: str, form: str) -> dict[str, Any]:
        medication = {
            "resourceType": "Medication",
            "id": "med",
            "code": {"text": code},
            "form": {"text": form},
        }
        res = _request(contained=[medication], medicationReference={"reference": "#med"})
        res.pop("medicationCodeableConcept")
        return res

    assert map_medication_request(with_form("timolol", "Ophthalmic Solution")).order.form == (
        OPHTHALMIC
    )
    assert map_medication_request(with_form("timolol Ophthalmic", "Oral Tablet")).order.form is None
    assert map_medication_request(_request()).order.form is None  # "timolol": no form named
