"""The simulated records rendered as FHIR R4 Patient, MedicationRequest and MedicationDispense.

This is the only module that knows FHIR shapes; it decides nothing about the story. Shared
sub-objects (a drug's CodeableConcept) are reused between resources because orjson serializes
them identically and building them once per drug is what keeps a million lines fast.
"""

from __future__ import annotations

from fhir_sync.datagen.catalog import ALL_DRUGS, Drug, Form, Regimen
from fhir_sync.datagen.elements import (
    ACT_CODE,
    CATEGORY_DISPLAY,
    COURSE_DISPLAY,
    COURSE_OF_THERAPY,
    DOSE_RATE_TYPE,
    FILL_SYSTEM,
    IDENTIFIER_TYPE,
    JSON,
    MRN_SYSTEM,
    PACKAGE_EXTENSION,
    REQUEST_CATEGORY,
    RX_SYSTEM,
    RXNORM,
    SCHEDULE_EXTENSION,
    SNOMED,
    SUPPLY_TYPE_DISPLAY,
    concept,
    days,
    number,
    quantity,
    stamp,
)
from fhir_sync.datagen.model import DosageStyle, Fill, Person, Rx, Therapy

_MEDICATION: dict[str, JSON] = {
    drug.code: concept(RXNORM, drug.code, drug.display, text=drug.display) for drug in ALL_DRUGS
}
_CATEGORY = {
    code: [concept(REQUEST_CATEGORY, code, text)] for code, text in CATEGORY_DISPLAY.items()
}
_COURSE = {code: concept(COURSE_OF_THERAPY, code, text) for code, text in COURSE_DISPLAY.items()}
_SUPPLY_TYPE = {code: concept(ACT_CODE, code, text) for code, text in SUPPLY_TYPE_DISPLAY.items()}
_ORDERED = concept(DOSE_RATE_TYPE, "ordered", "Ordered")
HANDED_OVER = frozenset({"completed", "entered-in-error"})
_DAYS: dict[int, JSON] = {}  # days-supply Quantities by value, shared between dispenses


def is_prn(regimen: Regimen) -> bool:
    """PRN is read from the sig so that 'as needed' opioids are PRN whatever their kind."""
    return "as needed" in regimen.sig


def rx_id(person: Person, rx: Rx) -> str:
    """Order ids embed the patient number, which keeps them readable in test failures."""
    return f"mr-{person.id[3:]}-{rx.index:02d}"


def rx_number(person: Person, rx: Rx) -> str:
    """A pharmacy-style numeric prescription number, unique in the dataset."""
    return str(int(person.id[3:]) * 1000 + rx.index)


def patient(person: Person) -> JSON:
    """A US-style Patient with one MRN."""
    return {
        "resourceType": "Patient",
        "id": person.id,
        "identifier": [
            {
                "use": "usual",
                "type": concept(IDENTIFIER_TYPE, "MR", "Medical record number"),
                "system": MRN_SYSTEM,
                "value": person.mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": person.family, "given": list(person.given)}],
        "telecom": [{"system": "phone", "value": person.phone, "use": "mobile"}],
        "gender": person.gender,
        "birthDate": person.birth_date.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [person.line],
                "city": person.city,
                "state": person.state,
                "postalCode": person.postal_code,
                "country": "US",
            }
        ],
    }


def _sig(form: Form, regimen: Regimen) -> str:
    noun = form.noun if regimen.dose == 1 else form.nouns
    return f"{form.verb} {number(regimen.dose)} {noun} {form.route_words} {regimen.sig}"


def dispensed(drug: Drug, amount: float) -> JSON:
    """`amount` dose units as the pharmacy counts them (tablets, mL, inhalers)."""
    if drug.dispense_unit is None or drug.dispense_ucum is None:
        return quantity(amount, drug.form.unit, drug.form.ucum)
    return quantity(round(amount / drug.per_unit, 4), drug.dispense_unit, drug.dispense_ucum)


def _dosages(drug: Drug, regimen: Regimen, style: DosageStyle) -> list[JSON]:
    """The dosage instructions: one, or AM and PM as sequence 1 and 2, or a scheduled one
    with an extra as-needed one."""
    if style is DosageStyle.FULL and regimen.split is not None:
        morning, evening = regimen.split
        am = Regimen(morning, 1, 1, "d", "in the morning")
        pm = Regimen(evening, 1, 1, "d", "in the evening")
        first, second = _dosage(drug, am, style), _dosage(drug, pm, style)
        second["sequence"] = 2
        return [first, second]
    result = [_dosage(drug, regimen, style)]
    if style is DosageStyle.FULL and regimen.extra_prn is not None:
        extra = _dosage(drug, Regimen(1, 1, 1, "d", regimen.extra_prn), style)
        extra["sequence"] = 1
        extra["text"] = extra["text"].replace(f"{drug.form.verb} 1", f"{drug.form.verb} 1 more")
        result.append(extra)
    return result


def _dosage(drug: Drug, regimen: Regimen, style: DosageStyle) -> JSON:
    form = drug.form
    if style is DosageStyle.NONE:
        return {"text": "Use as directed"}
    prn = is_prn(regimen)
    flag_prn = prn and not drug.prn_in_text_only
    if style is DosageStyle.QUANTITY_ONLY:
        text = f"{form.verb} as directed" + (" as needed" if prn else "")
        result: JSON = {"sequence": 1, "text": text}
        if flag_prn:
            result["asNeededBoolean"] = True
        return result
    result = {
        "sequence": 1,
        "text": _sig(form, regimen),
        "timing": {
            "repeat": {
                "frequency": regimen.frequency,
                "period": number(regimen.period),
                "periodUnit": regimen.period_unit,
            }
        },
    }
    if flag_prn:
        result["asNeededBoolean"] = True
    result["route"] = concept(SNOMED, form.route_code, form.route_display)
    result["doseAndRate"] = [
        {"type": _ORDERED, "doseQuantity": quantity(regimen.dose, form.unit, form.ucum)}
    ]
    return result


def _order_parts(
    therapy: Therapy,
) -> tuple[list[JSON] | None, JSON | None, list[JSON], JSON | None]:
    """What every order of one therapy shares: extensions, course, dosage, quantity."""
    drug = therapy.drug
    extensions: list[JSON] = []
    if drug.schedule is not None:
        extensions.append({"url": SCHEDULE_EXTENSION, "valueCode": drug.schedule})
    if drug.package is not None:
        extensions.append(
            {"url": PACKAGE_EXTENSION, "valueQuantity": dispensed(drug, drug.package)}
        )
    course = None if therapy.course is None else _COURSE[therapy.course]
    supply = None
    if therapy.dosage is not DosageStyle.NONE:
        supply = {
            "quantity": dispensed(drug, therapy.fill_quantity),
            "expectedSupplyDuration": days(therapy.supply_days),
        }
    return extensions or None, course, _dosages(drug, therapy.regimen, therapy.dosage), supply


def medication_requests(orders: list[Rx], person: Person) -> list[JSON]:
    """The orders of one patient with dosage, dispense authorization and our extensions."""
    subject = {"reference": f"Patient/{person.id}", "display": person.display}
    shared: dict[int, tuple[list[JSON] | None, JSON | None, list[JSON], JSON | None]] = {}
    result = []
    for rx in orders:
        therapy = rx.therapy
        parts = shared.get(id(therapy))
        if parts is None:
            parts = shared[id(therapy)] = _order_parts(therapy)
        extensions, course, dosage, supply = parts
        resource: JSON = {
            "resourceType": "MedicationRequest",
            "id": rx_id(person, rx),
            "identifier": [{"system": RX_SYSTEM, "value": rx_number(person, rx)}],
        }
        if extensions is not None:
            resource["extension"] = extensions
        resource["status"] = rx.status
        if rx.status_reason is not None:
            resource["statusReason"] = {"text": rx.status_reason}
        resource["intent"] = rx.intent
        resource["category"] = _CATEGORY[rx.category]
        resource["medicationCodeableConcept"] = _MEDICATION[therapy.drug.code]
        resource["subject"] = subject
        resource["authoredOn"] = stamp(rx.authored, rx.minute, person.utc_offset)
        resource["requester"] = {
            "reference": f"Practitioner/{rx.requester.id}",
            "display": rx.requester.name,
        }
        if course is not None:
            resource["courseOfTherapyType"] = course
        resource["dosageInstruction"] = dosage
        request: JSON = {
            "validityPeriod": {
                "start": rx.valid_from.isoformat(),
                "end": rx.valid_until.isoformat(),
            },
            "numberOfRepeatsAllowed": rx.repeats,
        }
        if supply is not None:
            request.update(supply)
        resource["dispenseRequest"] = request
        result.append(resource)
    return result


def medication_dispenses(fills: list[Fill], person: Person) -> list[JSON]:
    """The dispenses of one patient; only completed (and mistaken) ones were handed over.

    Parts shared by all dispenses of an order are built once per order: this loop runs a
    million times for a large dataset.
    """
    subject = {"reference": f"Patient/{person.id}"}
    offset = person.utc_offset
    prefix = f"md-{person.id[3:]}-"
    shared: dict[int, tuple[str, str, list[JSON], JSON, Drug, float, JSON]] = {}
    result = []
    for fill in fills:
        rx = fill.rx
        parts = shared.get(rx.index)
        if parts is None:
            therapy = rx.therapy
            parts = shared[rx.index] = (
                f"{prefix}{rx.index:02d}-",
                f"{rx_number(person, rx)}-",
                [{"reference": f"MedicationRequest/{rx_id(person, rx)}"}],
                _MEDICATION[therapy.drug.code],
                therapy.drug,
                therapy.fill_quantity,
                dispensed(therapy.drug, therapy.fill_quantity),
            )
        id_prefix, number_prefix, authorizing, medication, drug, usual, usual_quantity = parts
        resource: JSON = {
            "resourceType": "MedicationDispense",
            "id": f"{id_prefix}{fill.record:02d}",
            "identifier": [{"system": FILL_SYSTEM, "value": f"{number_prefix}{fill.record:02d}"}],
            "status": fill.status,
        }
        if fill.reason is not None:
            resource["statusReasonCodeableConcept"] = {"text": fill.reason}
        if fill.supply_type is not None:
            resource["type"] = _SUPPLY_TYPE[fill.supply_type]
        resource["subject"] = subject
        resource["authorizingPrescription"] = authorizing
        resource["medicationCodeableConcept"] = medication
        resource["quantity"] = (
            usual_quantity if fill.quantity == usual else dispensed(drug, fill.quantity)
        )
        if fill.states_days_supply:
            supply_days = _DAYS.get(fill.days_supply)
            if supply_days is None:
                supply_days = _DAYS[fill.days_supply] = days(fill.days_supply)
            resource["daysSupply"] = supply_days
        day = fill.day.isoformat()
        minute = fill.minute
        prepared = minute - 40
        resource["whenPrepared"] = f"{day}T{prepared // 60:02d}:{prepared % 60:02d}:00{offset}"
        if fill.status in HANDED_OVER:
            resource["whenHandedOver"] = f"{day}T{minute // 60:02d}:{minute % 60:02d}:00{offset}"
        result.append(resource)
    return result
