"""Cycle items -> the calls: a CommunicationRequest per call to make, a Communication per call
made (docs/sync-plan-profile.md section 5).

The request's payload is what the caller reads out or the text message says, so it is in plain
words and names the day and every medicine that will be ready. Each resource carries an
identifier built from the item identifier, so writing it again (a re-run day, a caught-up day)
updates it instead of creating another.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from fhir_sync.engine.cycle_types import Contact, ContactOutcome, CycleFill, CycleItem, ItemKind
from mappings.fhir_literals import (
    JsonObject,
    concept,
    conditional_url,
    decimal,
    identifier,
    reference,
)
from mappings.profile import (
    CS_CONTACT_OUTCOME,
    CS_CYCLE_ITEM,
    EXT_CONTACT_OUTCOME,
    SID_CONTACT,
    SID_CYCLE_ITEM,
)

CALL_KINDS: Final = frozenset({ItemKind.OUTREACH, ItemKind.CALL_RETRY, ItemKind.NO_SHOW_FOLLOW_UP})
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_OUTCOME_DISPLAY: Final = {
    ContactOutcome.REACHED: "Reached",
    ContactOutcome.NO_ANSWER: "No answer",
    ContactOutcome.WRONG_NUMBER: "Wrong number",
}
_KIND_DISPLAY: Final = {
    ItemKind.OUTREACH: "Pickup reminder and check-in call",
    ItemKind.CALL_RETRY: "Pickup reminder and check-in call, again",
    ItemKind.NO_SHOW_FOLLOW_UP: "Missed pickup follow-up",
}


def spoken_date(day: date) -> str:
    """`Wednesday, December 30, 2026`: no locale, so the words do not depend on the server."""
    return f"{_WEEKDAYS[day.weekday()]}, {_MONTHS[day.month - 1]} {day.day}, {day.year}"


def _medicine(fill: CycleFill) -> str:
    return f"{fill.medication} ({decimal(fill.quantity)} {fill.unit})"


def call_message(item: CycleItem) -> str:
    """What the patient hears or reads."""
    if item.pickup is None:
        raise ValueError("a call item names its pickup day")
    when = spoken_date(item.pickup)
    medicines = "; ".join(_medicine(f) for f in item.fills) or "no medicines"
    if item.kind is ItemKind.NO_SHOW_FOLLOW_UP:
        return (
            f"We missed you at the pharmacy on {when}. Your medicines are ready and waiting: "
            f"{medicines}. Please come in or call us to arrange another time."
        )
    return (
        f"Your medicines will be ready to pick up on {when}: {medicines}. "
        "We would like to ask a few questions: are you taking them as directed, have you been "
        "to the hospital, or has any medicine been started, stopped or changed?"
    )


def call_request(item: CycleItem, *, careplan: str, sender: str | None = None) -> JsonObject:
    """The CommunicationRequest of a call item; `careplan` and `sender` are references."""
    if item.kind not in CALL_KINDS:
        raise ValueError(f"a {item.kind.value} item is not a call")
    request: JsonObject = {
        "resourceType": "CommunicationRequest",
        "identifier": identifier(SID_CYCLE_ITEM, item.id),
        "status": "active",
        "category": [concept(CS_CYCLE_ITEM, item.kind.value, _KIND_DISPLAY[item.kind])],
        "priority": "urgent" if item.urgent else "routine",
        "subject": reference(f"Patient/{item.patient_id}"),
        "about": [reference(careplan)],
        "recipient": [reference(f"Patient/{item.patient_id}")],
        "payload": [{"contentString": call_message(item)}],
        "occurrenceDateTime": item.day.isoformat(),
        "authoredOn": item.day.isoformat(),
    }
    if sender is not None:
        request["sender"] = reference(sender)
    return request


def contact_communication(request_item_id: str, patient_id: str, contact: Contact) -> JsonObject:
    """The Communication recording a call made for the request `request_item_id`.

    A call that reached nobody did not happen as a communication: `not-done`, with the outcome
    as its status reason. The outcome is also in the `contact-outcome` extension on every one,
    so readers find it in one place.
    """
    coding = {
        "system": CS_CONTACT_OUTCOME,
        "code": contact.outcome.value,
        "display": _OUTCOME_DISPLAY[contact.outcome],
    }
    communication: JsonObject = {
        "resourceType": "Communication",
        "extension": [{"url": EXT_CONTACT_OUTCOME, "valueCoding": coding}],
        "identifier": identifier(SID_CONTACT, request_item_id),
        "basedOn": [
            reference(conditional_url("CommunicationRequest", SID_CYCLE_ITEM, request_item_id))
        ],
        "status": "completed" if contact.outcome is ContactOutcome.REACHED else "not-done",
        "subject": reference(f"Patient/{patient_id}"),
        "recipient": [reference(f"Patient/{patient_id}")],
        "sent": contact.day.isoformat(),
    }
    if contact.outcome is not ContactOutcome.REACHED:
        communication["statusReason"] = {"coding": [dict(coding)]}
    return communication
