"""MedicationDispense JSON -> engine Fill (completed dispenses only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fhir_sync.engine.types import Fill
from mappings.bounds import MAX_QUANTITY, get_amount, get_event_date, supply_days
from mappings.codes import (
    COMPLETING_SUPPLY_TYPES,
    MEDICATION_DISPENSE_STATUS,
    PARTIAL_SUPPLY_TYPES,
    WAITING_DISPENSE_STATUS,
)
from mappings.contract import require_fields
from mappings.errors import MappingError, rooted_at
from mappings.fhir_values import (
    JsonObject,
    duration_days,
    get_code,
    get_object,
    get_str,
    list_objects,
    reference_id,
    required_code,
    resource_id,
    subject_patient_id,
)
from mappings.inbound.dispenses_fast import common_dispense
from mappings.inbound.medications import concept_codes, drug_name, read_concept, resolve_medication
from mappings.profile import V3_ACT_CODE

MD: Final = "MedicationDispense"

FILL_FIELDS: Final = (
    "id",
    "handed_over",
    "order_id",
    "drug_key",
    "days_supply",
    "quantity",
    "completes_partial",
    "partial",
    "pending",
    "name",
    "codes",
    "unit",
)
require_fields(Fill, FILL_FIELDS)


@dataclass(slots=True)  # not frozen: one per input line, and frozen init costs 4x
class FillInput:
    patient_id: str
    fill: Fill


@rooted_at(MD)
def map_medication_dispense(res: JsonObject) -> FillInput | None:
    """Map one MedicationDispense; None for a valid dispense that supplies nothing.

    `completed` dispenses supplied medication; `in-progress` or `preparation` ones with a
    `whenPrepared` wait for pickup (a pending fill: supply about to be had); cancelled,
    declined... are no evidence of supply, so they are skipped rather than rejected.
    """
    fast = common_dispense(res)
    if fast is not None:
        return FillInput(*fast)
    return map_dispense_in_full(res)


def map_dispense_in_full(res: JsonObject) -> FillInput | None:
    """The full mapper alone, without the common-shape shortcut (tests compare the two)."""
    fill_id = resource_id(res, MD)
    status = required_code(res, "status", MEDICATION_DISPENSE_STATUS)
    pending = False
    if status != "completed":
        if status not in WAITING_DISPENSE_STATUS or res.get("whenPrepared") is None:
            return None
        pending = True
    patient_id = subject_patient_id(res)

    if pending:
        handed_over = get_event_date(res, "whenPrepared", "")
    else:
        handed_over = get_event_date(res, "whenHandedOver", "") or get_event_date(
            res, "whenPrepared", ""
        )
    if handed_over is None:
        raise MappingError(
            "a completed dispense needs whenHandedOver", ".whenHandedOver", "required"
        )

    drug_key = name = None
    codes: tuple[str, ...] = ()
    concept, concept_where, _ = resolve_medication(res)
    if concept is not None:
        drug_key, _names = read_concept(concept, concept_where)
        name = drug_name(concept)
        codes = concept_codes(concept, drug_key)

    days_supply = quantity = unit = None
    days = get_object(res, "daysSupply", "")
    if days is not None:
        days_supply = supply_days(duration_days(days, ".daysSupply"), ".daysSupply.value")
    amount = get_object(res, "quantity", "")
    if amount is not None:
        quantity = get_amount(amount, "value", ".quantity", MAX_QUANTITY)
        unit = get_str(amount, "unit", ".quantity") or get_code(amount, "code", ".quantity")

    fill = Fill(  # positional: see FILL_FIELDS
        fill_id,
        handed_over,
        _order_id(res),
        drug_key,
        days_supply,
        quantity,
        *_supply_type(res),
        pending,
        name,
        codes,
        unit,
    )
    return FillInput(patient_id, fill)


def _order_id(res: JsonObject) -> str | None:
    """The first authorizingPrescription that is a MedicationRequest reference."""
    for index, item in list_objects(res, "authorizingPrescription", ""):
        reference = get_str(item, "reference", f".authorizingPrescription[{index}]")
        if reference is not None:
            order_id = reference_id(reference, "MedicationRequest")
            if order_id is not None:
                return order_id
    return None


def _supply_type(res: JsonObject) -> tuple[bool, bool]:
    """(completes a partial fill, is a partial fill) from the v3 ActPharmacySupplyType."""
    supply_type = get_object(res, "type", "")
    if supply_type is None:
        return False, False
    completes = partial = False
    for index, coding in list_objects(supply_type, "coding", ".type"):
        where = f".type.coding[{index}]"
        if get_str(coding, "system", where) == V3_ACT_CODE:
            code = get_code(coding, "code", where)
            completes = completes or code in COMPLETING_SUPPLY_TYPES
            partial = partial or code in PARTIAL_SUPPLY_TYPES
    return completes, partial
