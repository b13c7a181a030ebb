"""Renewal -> a Task asking the prescriber for a new prescription.

Prescribers ignore renewal requests more than anything else in med sync, so each renewal is
a trackable Task with a window: `restriction.period.start` is when to send the request (the
due date, lead days ahead) and `.end` when the new prescription must be in hand.
"""

from __future__ import annotations

from fhir_sync.engine.types import Renewal
from mappings.fhir_literals import JsonObject, concept, identifier, reference
from mappings.profile import CS_TASK_CODE, SID_RENEWAL_TASK


def _task_code() -> JsonObject:
    return concept(
        CS_TASK_CODE, "renew-prescription", "Renew prescription", text="Renew prescription"
    )


def renewal_task_value(patient_id: str, order_id: str) -> str:
    """`<patient id>:<order id>`: ids may hold `-` and `.` but never `:`, so it is unambiguous."""
    return f"{patient_id}:{order_id}"


def renewal_task(
    patient_id: str, renewal: Renewal, requester: str | None, *, careplan_url: str
) -> JsonObject:
    """The Task; `requester` is the order's requester reference, the Task's owner when known."""
    task: JsonObject = {
        "resourceType": "Task",
        "identifier": identifier(
            SID_RENEWAL_TASK, renewal_task_value(patient_id, renewal.order_id)
        ),
        "basedOn": [reference(careplan_url)],
        "status": "requested",
        "intent": "order",
        "code": _task_code(),
        "focus": reference(f"MedicationRequest/{renewal.order_id}"),
        "for": reference(f"Patient/{patient_id}"),
    }
    if requester is not None and not requester.startswith("#"):
        task["owner"] = reference(requester)
    task["reasonCode"] = {"text": renewal.reason}
    task["restriction"] = {
        "period": {"start": renewal.due.isoformat(), "end": renewal.needed_by.isoformat()}
    }
    return task
