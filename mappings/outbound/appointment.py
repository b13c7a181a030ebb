"""PatientPlan -> the next-pickup Appointment on the anchor date.

`proposed` because the pre-pickup call confirms it with the patient (APhA ABM step 2); one
per patient, replaced on every re-plan through its identifier.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from mappings.fhir_literals import JsonObject, concept, identifier, instant, reference
from mappings.profile import CS_APPOINTMENT_SERVICE, SID_SYNC_APPOINTMENT

DEFAULT_PICKUP_TIME: Final = time(9, 0, tzinfo=UTC)
DEFAULT_PICKUP_MINUTES: Final = 15


def _service_type() -> JsonObject:
    return concept(CS_APPOINTMENT_SERVICE, "med-sync-pickup", "Synchronized medication pickup")


def pickup_appointment(
    patient_id: str,
    anchor: date,
    medications: int,
    *,
    careplan_url: str,
    pharmacy: str | None,
    pickup_time: time = DEFAULT_PICKUP_TIME,
    minutes: int = DEFAULT_PICKUP_MINUTES,
) -> JsonObject:
    """The Appointment; `pickup_time` must carry a time zone (an instant needs one)."""
    if minutes <= 0:
        raise ValueError("the pickup must last at least a minute")
    start = datetime.combine(anchor, pickup_time)
    end = start + timedelta(minutes=minutes)
    participants: list[JsonObject] = [
        {
            "actor": reference(f"Patient/{patient_id}"),
            "required": "required",
            "status": "needs-action",
        }
    ]
    if pharmacy is not None:
        participants.append(
            {"actor": reference(pharmacy), "required": "required", "status": "accepted"}
        )
    noun = "medication" if medications == 1 else "medications"
    return {
        "resourceType": "Appointment",
        "identifier": identifier(SID_SYNC_APPOINTMENT, patient_id),
        "status": "proposed",
        "serviceType": [_service_type()],
        "description": f"Synchronized medication pickup ({medications} {noun})",
        "supportingInformation": [reference(careplan_url)],
        "start": instant(start),
        "end": instant(end),
        "minutesDuration": minutes,
        "participant": participants,
    }
