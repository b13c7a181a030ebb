"""MedicationRequest JSON -> engine Order, plus what the outbound side needs to write back.

Works on the plain dict from orjson and reads only the elements the engine uses (see
docs/sync-plan-profile.md section 4), checking each by hand: pydantic validation of every
resource would dominate the run time of a bulk sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from fhir_sync.engine.products import ProductFacts, Source
from fhir_sync.engine.therapy import product_of
from fhir_sync.engine.types import Bounds, Dosage, Order, Schedule, exact
from mappings.bounds import (
    MAX_QUANTITY,
    MAX_REPEATS,
    get_amount,
    get_count,
    get_event_date,
)
from mappings.bounds import (
    supply_days as bounded_days,
)
from mappings.codes import COURSE_OF_THERAPY, MEDICATION_REQUEST_INTENT, MEDICATION_REQUEST_STATUS
from mappings.contract import require_fields
from mappings.errors import MappingError, rooted_at
from mappings.fhir_values import (
    JsonObject,
    duration_days,
    get_code,
    get_date,
    get_list,
    get_object,
    get_str,
    list_objects,
    required_code,
    resource_id,
    show_code,
    subject_patient_id,
)
from mappings.inbound.courses import map_bounds
from mappings.inbound.dosages import map_dosages
from mappings.inbound.drug_names import name_facts
from mappings.inbound.medications import (
    concept_codes,
    contained_medication,
    drug_name,
    ingredient_name,
    medication_facts,
    read_concept,
    resolve_medication,
)
from mappings.inbound.schedules import SCHEDULE_BY_CODE, schedule_from_text
from mappings.profile import (
    EXT_CONTROLLED_SUBSTANCE_SCHEDULE,
    EXT_EARLIEST_FILL,
    EXT_PACKAGE_SIZE,
)
from mappings.refill_forms import form_group

MR: Final = "MedicationRequest"

ORDER_FIELDS: Final = (
    "id",
    "drug_key",
    "status",
    "intent",
    "category",
    "course",
    "dosages",
    "authored_on",
    "validity_start",
    "validity_end",
    "repeats_allowed",
    "supply_quantity",
    "supply_days",
    "package_size",
    "schedule",
    "form",
    "name",
    "codes",
    "author",
    "earliest_fill",
    "bounds",
    "supply_unit",
    "facts",
)
require_fields(Order, ORDER_FIELDS)


@dataclass(slots=True)  # not frozen: one per input line, and frozen init costs 4x
class OrderInput:
    """An order with the facts the engine ignores but the sync plan writes back.

    `medication` is the CodeableConcept to echo in the CarePlan; `unit` is the dose unit the
    plan's quantities are in; `requester` owns renewal Tasks; `location` is the pharmacy the
    order names. Not hashable (it holds a dict).
    """

    patient_id: str
    order: Order
    medication: JsonObject
    unit: str | None = None
    requester: str | None = None
    location: str | None = None


@rooted_at(MR)
def map_medication_request(res: JsonObject) -> OrderInput:
    """Map one MedicationRequest; raises MappingError for anything it cannot trust."""
    order_id = resource_id(res, MR)
    status = required_code(res, "status", MEDICATION_REQUEST_STATUS)
    intent = required_code(res, "intent", MEDICATION_REQUEST_INTENT)
    patient_id = subject_patient_id(res)

    concept, concept_where, contained = resolve_medication(res)
    if concept is None:
        raise MappingError("medication[x] is required", ".medication", "required")
    drug_key, names = read_concept(concept, concept_where)
    if drug_key is None:
        raise MappingError("medication has no code or text", concept_where, "required")

    if status != "active":
        # Only the status decides what happens to an inactive order (it is listed, not
        # synced) and its fills count toward the drug; half of a real history is such old
        # orders, so the rest of the resource is not read. --strict still validates it all.
        return OrderInput(patient_id, Order(order_id, drug_key, status, intent), concept)

    dosages: tuple[Dosage, ...] = ()
    bounds: tuple[Bounds, ...] = ()
    unit = None
    instructions = get_list(res, "dosageInstruction", "")
    if instructions:
        dosages, unit = map_dosages(instructions, "")
        bounds = map_bounds(instructions, dosages)
    codes = concept_codes(concept, drug_key)
    name = drug_name(concept)
    if contained is not None:
        index, medication = contained
        from_ingredients = ingredient_name(medication, f".contained[{index}]")
        if from_ingredients is not None:
            names = f"{names} {from_ingredients}" if names else from_ingredients
            product = product_of(name)
            if product is None or not product.strength:
                name = from_ingredients

    validity_start = validity_end = None
    repeats = None
    supply_quantity = supply_days = None
    supply_unit = None
    location = None
    earliest = None
    dispense = get_object(res, "dispenseRequest", "")
    if dispense is not None:
        initial = get_object(dispense, "initialFill", ".dispenseRequest")
        if initial is not None:
            earliest = _earliest_fill(initial, ".dispenseRequest.initialFill")
        validity = get_object(dispense, "validityPeriod", ".dispenseRequest")
        if validity is not None:
            validity_start = get_event_date(validity, "start", ".dispenseRequest.validityPeriod")
            validity_end = get_date(validity, "end", ".dispenseRequest.validityPeriod")
            if validity_start and validity_end and validity_start > validity_end:
                raise MappingError(
                    "start is after end", ".dispenseRequest.validityPeriod", "invariant"
                )
        repeats = get_count(dispense, "numberOfRepeatsAllowed", ".dispenseRequest", MAX_REPEATS)
        quantity = get_object(dispense, "quantity", ".dispenseRequest")
        if quantity is not None:
            where = ".dispenseRequest.quantity"
            supply_quantity = get_amount(quantity, "value", where, MAX_QUANTITY)
            supply_unit = get_str(quantity, "unit", where) or get_code(quantity, "code", where)
            if unit is None:
                unit = supply_unit
        duration = get_object(dispense, "expectedSupplyDuration", ".dispenseRequest")
        if duration is not None:
            where = ".dispenseRequest.expectedSupplyDuration"
            supply_days = bounded_days(duration_days(duration, where), f"{where}.value")
        performer = get_object(dispense, "performer", ".dispenseRequest")
        if performer is not None:
            location = get_str(performer, "reference", ".dispenseRequest.performer")

    package, schedule_code, stated_earliest = _extensions(res)
    earliest = stated_earliest or earliest
    facts = _product_facts(res, concept, contained, package)
    package_size = package[0] if package is not None else None
    if schedule_code is not None:
        schedule = SCHEDULE_BY_CODE[schedule_code]
    else:
        schedule = schedule_from_text(names) if names else Schedule.NONE

    requester = None
    requester_ref = get_object(res, "requester", "")
    if requester_ref is not None:
        requester = get_str(requester_ref, "reference", ".requester")

    order = Order(  # positional: see ORDER_FIELDS
        order_id,
        drug_key,
        status,
        intent,
        _category_codes(res),
        _course(res),
        dosages,
        get_event_date(res, "authoredOn", ""),
        validity_start,
        validity_end,
        repeats,
        exact(supply_quantity),
        exact(supply_days),
        exact(package_size),
        schedule,
        _form_group(facts, names),
        name,
        codes,
        requester,
        earliest,
        bounds,
        supply_unit,
        facts,
    )
    return OrderInput(patient_id, order, concept, unit, requester, location)


def _product_facts(
    res: JsonObject,
    concept: JsonObject,
    contained: tuple[int, JsonObject] | None,
    package: tuple[float, str | None] | None,
) -> tuple[ProductFacts, ...]:
    """What the contained Medication, the drug name and the package-size extension say about
    the product, in that order of trust."""
    facts: list[ProductFacts] = []
    found = (
        contained
        if contained is not None
        else (contained_medication(res, None) if "contained" in res else None)
    )
    if found is not None:
        index, medication = found
        from_medication = medication_facts(medication, f".contained[{index}]")
        if from_medication is not None:
            facts.append(from_medication)
    for name in _names(concept):
        from_name = name_facts(name)
        if from_name is not None:
            facts.append(from_name)
            break
    if package is not None:
        value, package_unit = package
        facts.append(
            ProductFacts(
                Source.PACKAGE_EXTENSION,
                amount=exact(value),
                amount_unit=package_unit,
                unbreakable=True,
            )
        )
    return tuple(facts)


def _names(concept: JsonObject) -> list[str]:
    """The text and coding displays of a (checked) medication concept."""
    names = []
    text = concept.get("text")
    if type(text) is str:
        names.append(text)
    for coding in concept.get("coding") or ():
        display = coding.get("display") if type(coding) is dict else None
        if type(display) is str and display not in names:
            names.append(display)
    return names


def _category_codes(res: JsonObject) -> tuple[str, ...]:
    codes: list[str] = []
    for index, category in list_objects(res, "category", ""):
        try:
            _concept_codes(category, codes)
        except MappingError as error:
            raise error.under(f".category[{index}]") from None
    return tuple(codes)


def _concept_codes(concept: JsonObject, into: list[str]) -> None:
    for index, coding in list_objects(concept, "coding", ""):
        code = coding.get("code")
        if code is None:
            continue
        if type(code) is not str or not code or code.strip() != code:
            get_code(coding, "code", f".coding[{index}]")  # raises, naming the coding
        into.append(code)


def _course(res: JsonObject) -> str | None:
    """The HL7 course-of-therapy code; other (local) codes count as no course stated."""
    concept = get_object(res, "courseOfTherapyType", "")
    if concept is None:
        return None
    codes: list[str] = []
    try:
        _concept_codes(concept, codes)
    except MappingError as error:
        raise error.under(".courseOfTherapyType") from None
    for code in codes:
        if code in COURSE_OF_THERAPY:
            return code
    return None


def _extensions(
    res: JsonObject,
) -> tuple[tuple[float, str | None] | None, str | None, date | None]:
    """The package-size, controlled-substance-schedule and earliest-fill extensions."""
    package_size = schedule = earliest = None
    for index, extension in list_objects(res, "extension", ""):
        url = extension.get("url")
        if url in (EXT_PACKAGE_SIZE, EXT_CONTROLLED_SUBSTANCE_SCHEDULE, EXT_EARLIEST_FILL):
            try:
                if url == EXT_PACKAGE_SIZE:
                    package_size = _package_size(extension)
                elif url == EXT_EARLIEST_FILL:
                    earliest = _earliest_value(extension)
                else:
                    schedule = _schedule_code(extension)
            except MappingError as error:
                raise error.under(f".extension[{index}]") from None
        elif type(url) is not str:
            raise MappingError("url is required", f".extension[{index}].url", "required")
    return package_size, schedule, earliest


def _earliest_fill(element: JsonObject, where: str) -> date | None:
    """The earliest-fill extension on an element (dispenseRequest.initialFill)."""
    for index, extension in list_objects(element, "extension", where):
        if extension.get("url") == EXT_EARLIEST_FILL:
            try:
                return _earliest_value(extension)
            except MappingError as error:
                raise error.under(f"{where}.extension[{index}]") from None
    return None


def _earliest_value(extension: JsonObject) -> date:
    day = get_event_date(extension, "valueDate", "") or get_event_date(
        extension, "valueDateTime", ""
    )
    if day is None:
        raise MappingError("earliest-fill needs a valueDate", ".valueDate", "required")
    return day


def _package_size(extension: JsonObject) -> tuple[float, str | None]:
    quantity = get_object(extension, "valueQuantity", "")
    value = (
        get_amount(quantity, "value", ".valueQuantity", MAX_QUANTITY)
        if quantity is not None
        else None
    )
    if not value or quantity is None:
        raise MappingError(
            "package-size needs a positive valueQuantity.value", ".valueQuantity.value", "value"
        )
    unit = get_str(quantity, "unit", ".valueQuantity") or get_code(
        quantity, "code", ".valueQuantity"
    )
    return value, unit


def _schedule_code(extension: JsonObject) -> str:
    code = get_code(extension, "valueCode", "")
    if code is None:
        raise MappingError(
            "controlled-substance-schedule needs a valueCode", ".valueCode", "required"
        )
    if code not in SCHEDULE_BY_CODE:
        raise MappingError(f"unknown schedule {show_code(code)}", ".valueCode", "code-invalid")
    return code


def _form_group(facts: tuple[ProductFacts, ...], names: str | None) -> str | None:
    """The payer's dose-form group: from the Medication's own `form` when it has one (the
    product as dispensed), else from the drug's name."""
    medication_form = next(
        (f.form for f in facts if f.source is Source.MEDICATION and f.form), None
    )
    if medication_form is not None:
        return form_group(medication_form)
    return form_group(names) if names else None
