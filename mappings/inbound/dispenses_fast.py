"""The common shape of a completed MedicationDispense, mapped in one straight pass.

Dispenses are three quarters of a pharmacy's bulk export and almost all look alike: completed,
a `Patient/<id>` subject, one `MedicationRequest/<id>` prescription, an RxNorm-coded drug,
`quantity` and a daysSupply in UCUM days. This path checks exactly what the full mapper
(`dispenses._map`) checks, but inline and only for that shape; for anything else (another
status, a contained Medication, a unit to convert, any doubt at all) it answers None and the
full mapper decides, so errors and unusual inputs keep one implementation. A property test
holds the two to the same answers.
"""

from __future__ import annotations

from typing import Any, Final

from fhir_sync.engine.types import Fill
from mappings.bounds import EARLIEST, LATEST, MAX_QUANTITY, MAX_SUPPLY_DAYS, MIN_SUPPLY_DAYS
from mappings.codes import COMPLETING_SUPPLY_TYPES, PARTIAL_SUPPLY_TYPES
from mappings.fhir_values import ID_PATTERN, parse_fhir_date
from mappings.profile import RXNORM, UCUM, V3_ACT_CODE

_id_match: Final = ID_PATTERN.fullmatch
_PATIENT: Final = "Patient/"
_ORDER: Final = "MedicationRequest/"


def common_dispense(res: dict[str, Any]) -> tuple[str, Fill] | None:
    """(patient id, Fill) for a completed dispense of the common shape, else None."""
    if type(res) is not dict or res.get("resourceType") != "MedicationDispense":
        return None
    get = res.get
    fill_id = get("id")
    if type(fill_id) is not str or _id_match(fill_id) is None or get("status") != "completed":
        return None
    patient_id = _reference_id(get("subject"), _PATIENT)
    if patient_id is None:
        return None
    handed = get("whenHandedOver")
    if type(handed) is not str:
        return None
    try:
        handed_over = parse_fhir_date(handed)
    except ValueError:
        return None
    if not EARLIEST <= handed_over <= LATEST:
        return None
    if "medicationReference" in res:
        return None
    drug = _rxnorm_drug(get("medicationCodeableConcept"))
    if drug is None:
        return None
    drug_key, name, codes = drug
    days_supply = _days(get("daysSupply"))
    amount = get("quantity")
    quantity = _amount(amount)
    if days_supply == _NO or quantity == _NO:
        return None
    if (
        days_supply is not None
        and days_supply != 0
        and not MIN_SUPPLY_DAYS <= days_supply <= MAX_SUPPLY_DAYS
    ) or (quantity is not None and quantity > MAX_QUANTITY):
        return None  # the full mapper names the element
    unit = None
    if amount is not None:
        unit = amount.get("unit")
        if unit is None:
            unit = amount.get("code")
        if unit is not None and (type(unit) is not str or not unit or unit.strip() != unit):
            return None
    prescriptions = get("authorizingPrescription")
    order_id = None
    if prescriptions is not None:
        if type(prescriptions) is not list or len(prescriptions) != 1:
            return None
        order_id = _reference_id(prescriptions[0], _ORDER)
        if order_id is None:
            return None
    supply_type = get("type")
    completes = partial = False
    if supply_type is not None:
        kinds = _supply_kinds(supply_type)
        if kinds is None:
            return None
        completes, partial = kinds
    return patient_id, Fill(  # positional: see dispenses.FILL_FIELDS
        fill_id,
        handed_over,
        order_id,
        drug_key,
        days_supply,
        quantity,
        completes,
        partial,
        False,
        name,
        codes,
        unit,
    )


_NO: Final = -1.0  # an amount the common path leaves to the full mapper (none is negative)


def _reference_id(value: Any, prefix: str) -> str | None:
    """`prefix<id>` from a Reference object holding only a plain relative reference."""
    if type(value) is not dict:
        return None
    reference = value.get("reference")
    if (
        type(reference) is not str
        or not reference.startswith(prefix)
        or _id_match(reference, len(prefix)) is None
    ):
        return None
    return reference[len(prefix) :]


def _rxnorm_drug(concept: Any) -> tuple[str, str | None, tuple[str, ...]] | None:
    """The RxNorm code, the name (as medications.drug_name) and the other codings as
    `system|code` (as medications.concept_codes) of a concept whose every coding and text is
    well formed."""
    if type(concept) is not dict:
        return None
    text = concept.get("text")
    codings = concept.get("coding")
    if (text is not None and (type(text) is not str or not text)) or type(codings) is not list:
        return None
    key = None
    rxnorm_name = other_name = None
    codes = []
    for coding in codings:
        if type(coding) is not dict:
            return None
        system = coding.get("system")
        code = coding.get("code")
        display = coding.get("display")
        if (
            type(system) is not str
            or not system
            or type(code) is not str
            or not code
            or (display is not None and type(display) is not str)
        ):
            return None
        if key is None and system == RXNORM:
            key = code
        elif system != RXNORM or code != key:
            codes.append(f"{system}|{code}")
        if display:
            if system == RXNORM:
                rxnorm_name = rxnorm_name or display
            else:
                other_name = other_name or display
    if key is None:
        return None
    return key, rxnorm_name or text or other_name, tuple(codes)


def _days(value: Any) -> float | None:
    """A daysSupply given in UCUM days (or with no unit at all), else unusual."""
    number = _amount(value)
    if number is None or number == _NO:
        return number
    code = value.get("code")
    unit = value.get("unit")
    system = value.get("system")
    if unit is not None and (type(unit) is not str or not unit):
        return _NO
    if code is None:
        return number if unit is None and system is None else _NO
    if code != "d" or (system is not None and system != UCUM):
        return _NO
    return number


def _amount(value: Any) -> float | None:
    """The value of a quantity that has one, not negative; else unusual."""
    if value is None:
        return None
    if type(value) is not dict:
        return _NO
    number = _non_negative(value.get("value"))
    return _NO if number is None else number


def _non_negative(value: Any) -> float | None:
    kind = type(value)
    if (kind is int or kind is float) and value >= 0:
        return float(value)
    return None


def _supply_kinds(supply_type: Any) -> tuple[bool, bool] | None:
    """Whether a `type` marks the fill that completes a partial one, and a partial fill;
    None when unusual."""
    if type(supply_type) is not dict:
        return None
    codings = supply_type.get("coding")
    if codings is None:
        return False, False
    if type(codings) is not list:
        return None
    completes = partial = False
    for coding in codings:
        if type(coding) is not dict:
            return None
        system = coding.get("system")
        code = coding.get("code")
        if (system is not None and (type(system) is not str or not system)) or (
            code is not None and (type(code) is not str or not code or code.strip() != code)
        ):
            return None
        if system == V3_ACT_CODE:
            completes = completes or code in COMPLETING_SUPPLY_TYPES
            partial = partial or code in PARTIAL_SUPPLY_TYPES
    return completes, partial
