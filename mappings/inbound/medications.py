"""What orders and dispenses share about the drug: its CodeableConcept, key and name text.

The drug key must match between an order and its dispenses for duplicate detection, so both
sides derive it here, in one pass that also collects the text the schedule heuristic reads.
"""

from __future__ import annotations

from typing import Any

from fhir_sync.engine.products import ProductFacts, Source
from fhir_sync.engine.types import exact
from fhir_sync.engine.units import canonical
from mappings.bounds import MAX_QUANTITY, get_amount
from mappings.errors import MappingError
from mappings.fhir_values import (
    JsonObject,
    get_code,
    get_list,
    get_number,
    get_object,
    get_str,
    item_object,
)
from mappings.profile import RXNORM


def read_concept(concept: Any, where: str) -> tuple[str | None, str]:
    """Check a medication CodeableConcept; return its drug key and its name text.

    The key is the RxNorm code, else the first coding as `system|code` (`|code` without a
    system, as in FHIR token search), else the lower-cased text; None when there is nothing.
    The name text joins `text` and the coding displays.
    """
    if type(concept) is not dict:
        raise MappingError("must be a JSON object", where, "structure")
    text = get_str(concept, "text", where)
    names = [text] if text is not None else []
    rxnorm = None
    first = None
    codings = concept.get("coding")
    if codings is not None:
        if type(codings) is not list:
            raise MappingError("coding must be a JSON array", f"{where}.coding", "structure")
        for index in range(len(codings)):
            coding = item_object(codings, index, where, "coding")
            code = coding.get("code")
            system = coding.get("system")
            display = coding.get("display")
            if (
                (code is not None and (type(code) is not str or not code))
                or (system is not None and (type(system) is not str or not system))
                or (display is not None and type(display) is not str)
            ):
                raise MappingError(
                    "coding system, code and display must be non-empty strings",
                    f"{where}.coding[{index}]",
                    "structure",
                )
            if display:
                names.append(display)
            if code is not None:
                if system == RXNORM:
                    if rxnorm is None:
                        rxnorm = code
                elif first is None:
                    first = f"{system}|{code}" if system is not None else f"|{code}"
    key = rxnorm or first
    if key is None and text is not None:
        key = " ".join(text.lower().split()) or None
    return key, names[0] if len(names) == 1 else " ".join(names)


def resolve_medication(
    res: JsonObject,
) -> tuple[JsonObject | None, str, tuple[int, JsonObject] | None]:
    """The medication as a CodeableConcept, that concept's path, and the contained Medication
    it came from with its index, if any. The concept is None when the resource names no
    medication at all.
    """
    concept = res.get("medicationCodeableConcept")
    if concept is not None:
        return concept, ".medicationCodeableConcept", None
    ref_where = ".medicationReference"
    reference = get_object(res, "medicationReference", "")
    if reference is None:
        return None, ref_where, None
    target = get_str(reference, "reference", ref_where)
    display = get_str(reference, "display", ref_where)
    if target is not None and target.startswith("#"):
        found = contained_medication(res, target[1:])
        if found is not None:
            index, medication = found
            med_where = f".contained[{index}]"
            code = get_object(medication, "code", med_where)
            if code is not None:
                return code, f"{med_where}.code", found
            return {"text": display or target}, ref_where, found
    name = display or target
    if name is None:
        raise MappingError(
            "medicationReference has neither reference nor display", ref_where, "required"
        )
    return {"text": name}, ref_where, None


def contained_medication(res: JsonObject, local_id: str | None) -> tuple[int, JsonObject] | None:
    """The contained Medication with `local_id` (the first one when None) and its index."""
    contained = res.get("contained")
    if contained is None:
        return None
    if type(contained) is not list:
        raise MappingError("contained must be a JSON array", ".contained", "structure")
    for index in range(len(contained)):
        item = item_object(contained, index, "", "contained")
        if item.get("resourceType") == "Medication" and (
            local_id is None or item.get("id") == local_id
        ):
            return index, item
    return None


def concept_codes(concept: JsonObject, key: str | None) -> tuple[str, ...]:
    """The codings of a concept `read_concept` has checked other than its drug `key`, as
    `system|code` (`|code` without a system): an NDC an order lists lets a dispense coded only
    by NDC match it."""
    codings = concept.get("coding")
    if not codings:
        return ()
    out = []
    for coding in codings:
        code = coding.get("code")
        if code is None:
            continue
        system = coding.get("system")
        token = f"{system or ''}|{code}"
        if token != key and not (system == RXNORM and code == key):
            out.append(token)
    return tuple(out)


def ingredient_name(medication: JsonObject, where: str) -> str | None:
    """A name in RxNorm's shape built from Medication.ingredient and .form
    ("levothyroxine 25 MCG / liothyronine 5 MCG Oral Tablet"), for a Medication whose code
    does not say; None when it lists no named ingredient."""
    items = medication.get("ingredient")
    if type(items) is not list:
        return None
    parts = []
    for index in range(len(items)):
        item = item_object(items, index, where, "ingredient")
        concept = item.get("itemCodeableConcept")
        if type(concept) is not dict:
            continue
        _key, name = read_concept(concept, f"{where}.ingredient[{index}].itemCodeableConcept")
        if not name:
            continue
        strength = _strength_text(item)
        parts.append(f"{name} {strength}" if strength else name)
    if not parts:
        return None
    form = medication.get("form")
    form_text = None
    if type(form) is dict:
        _key, form_text = read_concept(form, f"{where}.form")
    return " / ".join(parts) + (f" {form_text}" if form_text else "")


def _strength_text(item: JsonObject) -> str | None:
    strength = item.get("strength")
    if type(strength) is not dict:
        return None
    numerator = strength.get("numerator")
    if type(numerator) is not dict:
        return None
    value = numerator.get("value")
    unit = numerator.get("unit") or numerator.get("code")
    if type(value) not in (int, float) or type(unit) is not str:
        return None
    return f"{value:g} {unit}"


def drug_name(concept: JsonObject) -> str | None:
    """The one name to read ingredient, strength and form from: the RxNorm display (the
    normalized "[ingredient] [strength] [dose form]"), else the text, else any display."""
    codings = concept.get("coding") or ()
    fallback = None
    for coding in codings:
        if type(coding) is not dict:
            continue
        display = coding.get("display")
        if type(display) is str and display:
            if coding.get("system") == RXNORM:
                return display
            fallback = fallback or display
    text = concept.get("text")
    return text if type(text) is str and text else fallback


def medication_facts(medication: JsonObject, where: str) -> ProductFacts | None:
    """What a Medication resource says about the product: form, amount, first strength.

    `amount` (R4: the amount of drug in the package) becomes the package; it is sold whole
    when its denominator names a package (pack, kit, box, blister) or the form is a device.
    `ingredient[0].strength` becomes the strength per unit of the form (or per mL, per
    actuation) when the Medication has one ingredient; a mg dose of a combination cannot be
    joined to it.
    """
    form_text = None
    form = get_object(medication, "form", where)
    if form is not None:
        form_text = concept_text(form)
    amount = amount_unit = None
    unbreakable = False
    ratio = get_object(medication, "amount", where)
    if ratio is not None:
        numerator = get_object(ratio, "numerator", f"{where}.amount")
        if numerator is not None:
            value = get_amount(numerator, "value", f"{where}.amount.numerator", MAX_QUANTITY)
            if value:
                amount = exact(value)
                amount_unit = _quantity_unit(numerator, f"{where}.amount.numerator")
        denominator = get_object(ratio, "denominator", f"{where}.amount")
        if denominator is not None:
            per = _quantity_unit(denominator, f"{where}.amount.denominator")
            unbreakable = canonical(per) in ("pack", "kit", "bottle", "tube", "pen", "inhaler")
    strength = strength_unit = strength_per = None
    ingredients = get_list(medication, "ingredient", where)
    if ingredients and len(ingredients) == 1:
        ingredient = item_object(ingredients, 0, where, "ingredient")
        ratio = get_object(ingredient, "strength", f"{where}.ingredient[0]")
        if ratio is not None:
            at = f"{where}.ingredient[0].strength"
            numerator = get_object(ratio, "numerator", at)
            denominator = get_object(ratio, "denominator", at)
            if numerator is not None:
                value = get_number(numerator, "value", f"{at}.numerator")
                per_value = 1.0
                if denominator is not None:
                    per_value = get_number(denominator, "value", f"{at}.denominator") or 1.0
                    strength_per = _quantity_unit(denominator, f"{at}.denominator")
                if value:
                    strength = exact(value) / exact(per_value)
                    strength_unit = _quantity_unit(numerator, f"{at}.numerator")
    if form_text is None and amount is None and strength is None:
        return None
    return ProductFacts(
        Source.MEDICATION,
        form_text,
        strength,
        strength_unit,
        strength_per,
        amount,
        amount_unit,
        unbreakable,
    )


def concept_text(concept: JsonObject) -> str | None:
    """The text and coding displays of a concept, joined (None when it has none)."""
    words = [concept.get("text")] + [
        c.get("display") for c in concept.get("coding") or () if type(c) is dict
    ]
    found = [w for w in words if type(w) is str and w]
    return " ".join(found) or None


def _quantity_unit(quantity: JsonObject, where: str) -> str | None:
    return get_str(quantity, "unit", where) or get_code(quantity, "code", where)
