"""The check-in Questionnaire fhir-sync ships, and the linkIds its answers are read by.

The pre-pickup call asks about therapy changes, doctor visits and hospital stays (APhA ABM,
NCPA); asking the same questions every month, in a versioned form, is what lets the answers
act (engine.checkin). A new version may add questions; the linkIds below keep their meaning.
"""

from __future__ import annotations

from typing import Final

from fhir_sync.engine.checkin import PickupChoice
from mappings.fhir_literals import JsonObject
from mappings.profile import (
    CS_PICKUP_CHOICE,
    QUESTIONNAIRE_CHECK_IN,
    QUESTIONNAIRE_CHECK_IN_VERSION,
)

# linkId -> (type, question), in the order they are asked.
BOOLEAN_QUESTIONS: Final = {
    "taking-as-directed": "Are you taking every medicine as directed?",
    "missed-doses": "Have you missed any doses since your last pickup?",
    "hospital-visit": "Have you been in the hospital or an emergency room since your last pickup?",
    "new-medicines": "Has any doctor or other prescriber started you on a new medicine?",
    "stopped-or-changed": "Has any of your medicines been stopped, or its dose changed?",
    "side-effects": "Have you had any side effects from your medicines?",
}
PICKUP_QUESTION: Final = "pickup"
NEW_DATE: Final = "new-date"
AWAY_FROM: Final = "away-from"
AWAY_UNTIL: Final = "away-until"
STOP_PROGRAM: Final = "stop-program"
DETAILS: Final = "details"

PICKUP_CHOICES: Final = {
    PickupChoice.KEEP: "Yes, the pickup date is right",
    PickupChoice.DELIVERY: "Please deliver the medicines instead",
    PickupChoice.NEW_DATE: "Please move my pickups to another date from now on",
    PickupChoice.AWAY: "I will be away on the pickup date",
}


def _boolean(link_id: str, text: str) -> JsonObject:
    return {"linkId": link_id, "text": text, "type": "boolean"}


def _when_pickup(choice: PickupChoice) -> list[JsonObject]:
    return [
        {
            "question": PICKUP_QUESTION,
            "operator": "=",
            "answerCoding": {"system": CS_PICKUP_CHOICE, "code": choice.value},
        }
    ]


def check_in_questionnaire() -> JsonObject:
    """The Questionnaire resource (a new dict each call: callers may add an id or meta)."""
    items = [_boolean(link, text) for link, text in BOOLEAN_QUESTIONS.items()]
    items.append(
        {
            "linkId": PICKUP_QUESTION,
            "text": "Is the pickup date still right for you?",
            "type": "choice",
            "answerOption": [
                {
                    "valueCoding": {
                        "system": CS_PICKUP_CHOICE,
                        "code": choice.value,
                        "display": display,
                    }
                }
                for choice, display in PICKUP_CHOICES.items()
            ],
        }
    )
    items.append(
        {
            "linkId": NEW_DATE,
            "text": "Which date would suit you?",
            "type": "date",
            "enableWhen": _when_pickup(PickupChoice.NEW_DATE),
        }
    )
    for link, text in ((AWAY_FROM, "Away from"), (AWAY_UNTIL, "Back on")):
        items.append(
            {
                "linkId": link,
                "text": text,
                "type": "date",
                "enableWhen": _when_pickup(PickupChoice.AWAY),
            }
        )
    items.append(_boolean(STOP_PROGRAM, "Do you want to stop having your refills lined up?"))
    items.append(
        {
            "linkId": DETAILS,
            "text": "Anything the pharmacist should know (which medicine, what changed)?",
            "type": "text",
        }
    )
    return {
        "resourceType": "Questionnaire",
        "url": QUESTIONNAIRE_CHECK_IN,
        "version": QUESTIONNAIRE_CHECK_IN_VERSION,
        "name": "MedSyncCheckIn",
        "title": "Medication synchronization check-in",
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "fhir-sync",
        "description": (
            "The questions asked on the call before a synchronized pickup: adherence, "
            "hospital visits, new, stopped or changed medicines, side effects, and whether "
            "the pickup date still suits the patient."
        ),
        "item": items,
    }
