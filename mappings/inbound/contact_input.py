"""A Communication recording a call -> the engine's Contact, checked at the boundary.

The outcome of a call decides whether the patient is called again tomorrow, so a record that
names no request of fhir-sync's, or whose status contradicts its outcome, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fhir_sync.engine.cycle import parse_item_id
from fhir_sync.engine.cycle_types import Contact, ContactOutcome
from mappings.errors import MappingError, rooted_at
from mappings.fhir_values import (
    JsonObject,
    get_code,
    get_date,
    get_object,
    get_str,
    list_objects,
    member_of,
    subject_patient_id,
)
from mappings.outbound.outreach import CALL_KINDS
from mappings.profile import CS_CONTACT_OUTCOME, EXT_CONTACT_OUTCOME, SID_CONTACT

COMMUNICATION: Final = "Communication"


@dataclass(frozen=True, slots=True)
class ContactInput:
    """The patient, the request the call answers (its item identifier) and the call."""

    patient_id: str
    request_item_id: str
    contact: Contact


@rooted_at(COMMUNICATION)
def map_contact_communication(res: JsonObject) -> ContactInput:
    if type(res) is not dict or res.get("resourceType") != COMMUNICATION:
        raise MappingError("resourceType must be Communication", "", "structure")
    patient_id = subject_patient_id(res)
    item_id = _request_item_id(res)
    try:
        item_patient, kind, anchor, _ = parse_item_id(item_id)
    except ValueError:
        raise MappingError("not a fhir-sync call identifier", ".identifier", "value") from None
    if kind not in CALL_KINDS or item_patient != patient_id:
        raise MappingError("the identifier names no call to this patient", ".identifier", "value")
    outcome = _outcome(res)
    status = get_code(res, "status", "")
    expected = "completed" if outcome is ContactOutcome.REACHED else "not-done"
    if status != expected:
        raise MappingError(
            f"status must be {expected} for the outcome {outcome.value}", ".status", "invariant"
        )
    day = get_date(res, "sent", "")
    if day is None:
        raise MappingError("sent is required: it dates the call", ".sent", "required")
    return ContactInput(patient_id, item_id, Contact(anchor, day, outcome))


def _request_item_id(res: JsonObject) -> str:
    for index, ident in list_objects(res, "identifier", ""):
        if get_str(ident, "system", f".identifier[{index}]") == SID_CONTACT:
            value = get_str(ident, "value", f".identifier[{index}]")
            if value is not None:
                return value
    raise MappingError(f"an identifier of {SID_CONTACT} is required", ".identifier", "required")


def _outcome(res: JsonObject) -> ContactOutcome:
    for index, ext in list_objects(res, "extension", ""):
        if ext.get("url") != EXT_CONTACT_OUTCOME:
            continue
        where = f".extension[{index}]"
        coding = get_object(ext, "valueCoding", where)
        code = get_code(coding, "code", where + ".valueCoding") if coding else None
        if coding is None or code is None or coding.get("system") != CS_CONTACT_OUTCOME:
            raise MappingError(
                f"valueCoding must be a code of {CS_CONTACT_OUTCOME}", where + ".valueCoding",
                "value",
            )  # fmt: skip
        return member_of(ContactOutcome, code, "outcome", where + ".valueCoding.code")
    raise MappingError("the contact-outcome extension is required", ".extension", "required")
