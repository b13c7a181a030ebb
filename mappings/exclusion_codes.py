"""fhir-sync's own codes for why an order is not synchronized, with the words people read.

A not-synced CarePlan activity carries one of these as its `statusReason` coding: "fhir-sync
does not schedule this", which is not the prohibition that `doNotPerform` would state. The
command summaries show the same words.
"""

from __future__ import annotations

from typing import Final

from fhir_sync.engine.types import Exclusion
from mappings.fhir_literals import JsonObject
from mappings.profile import CS_SYNC_EXCLUSION

EXCLUSION_DISPLAY: Final[dict[Exclusion, str]] = {
    Exclusion.INACTIVE: "Order not active",
    Exclusion.NOT_AN_ORDER: "Not an order (proposal or plan)",
    Exclusion.INPATIENT: "Inpatient order",
    Exclusion.DISCHARGE: "Discharge order",
    Exclusion.AS_NEEDED: "As needed (PRN)",
    Exclusion.ACUTE: "Acute course",
    Exclusion.SEASONAL: "Seasonal course",
    Exclusion.EXPIRED: "Prescription expired",
    Exclusion.AS_NEEDED_TEXT: "As needed (said in the dosage text)",
    Exclusion.NO_DAILY_DOSE: "No daily dose to plan from",
    Exclusion.NO_DISPENSE_UNIT: "No dispense unit to size a fill in",
    Exclusion.DUPLICATE: "Duplicate of another order",
    Exclusion.REPLACED: "Replaced by a newer order",
    Exclusion.TITRATING: "Dose titration",
    Exclusion.SERIES: "Waiting in a Schedule II series",
    Exclusion.CONTROLLED: "Controlled substance not synchronized",
}
UNKNOWN_DISPLAY: Final = "Not synchronized"


def exclusion_words(code: str) -> str:
    """The display of a code (a summary may hold codes of an older run: shown as they are)."""
    try:
        return EXCLUSION_DISPLAY[Exclusion(code)]
    except ValueError:
        return code


def exclusion_reason(exclusion: Exclusion | None, reason: str) -> JsonObject:
    """`detail.statusReason` of a not-synced activity: fhir-sync's code and the planner's
    reason as text. Without a code (a plan made by an older engine) the code is `other`."""
    code = str(exclusion) if exclusion is not None else "other"
    display = EXCLUSION_DISPLAY[exclusion] if exclusion is not None else UNKNOWN_DISPLAY
    return {
        "coding": [{"system": CS_SYNC_EXCLUSION, "code": code, "display": display}],
        "text": reason or UNKNOWN_DISPLAY.lower(),
    }
