"""A preparation item -> the `prepare-fills` Task the pharmacy team works from.

One `input` per fill, in the dispense unit (the bag holds tablets, pens, bottles, never mg),
with the true days supply, the first day the payer accepts the claim and the Submission
Clarification Code to send. The Task stays in the pharmacy (it is not written to the EHR).
"""

from __future__ import annotations

from typing import Final

from fhir_sync.engine.cycle_types import CycleFill, CycleItem, ItemKind, PrepStatus
from mappings.fhir_literals import JsonObject, concept, days, identifier, quantity, reference
from mappings.profile import (
    CS_TASK_CODE,
    CS_TASK_INPUT,
    EXT_CLARIFICATION_CODE,
    EXT_EARLIEST_FILL,
    EXT_FILL_DAYS_SUPPLY,
    EXT_FILL_QUANTITY,
    SID_CYCLE_ITEM,
    TASK_CODE_PREPARE_FILLS,
)

# The states a preparation goes through, and who may follow whom (R4 Task.status codes).
NEXT_STATUS: Final[dict[str, frozenset[str]]] = {
    "requested": frozenset({"in-progress", "on-hold", "cancelled"}),
    "in-progress": frozenset({"completed", "on-hold", "cancelled"}),
    "on-hold": frozenset({"requested", "in-progress", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}


def _code() -> JsonObject:
    return concept(CS_TASK_CODE, TASK_CODE_PREPARE_FILLS, "Prepare fills", text="Prepare fills")


def _fill_input(fill: CycleFill) -> JsonObject:
    extensions: list[JsonObject] = [
        {"url": EXT_FILL_QUANTITY, "valueQuantity": quantity(fill.quantity, fill.unit)},
        {"url": EXT_FILL_DAYS_SUPPLY, "valueQuantity": days(fill.days_supply)},
    ]
    if fill.earliest is not None:
        extensions.append({"url": EXT_EARLIEST_FILL, "valueDate": fill.earliest.isoformat()})
    if fill.scc is not None:
        extensions.append({"url": EXT_CLARIFICATION_CODE, "valueCode": fill.scc})
    return {
        "extension": extensions,
        "type": {"coding": [{"system": CS_TASK_INPUT, "code": "fill"}], "text": fill.medication},
        "valueReference": {
            "reference": f"MedicationRequest/{fill.order_id}",
            "display": fill.medication,
        },
    }


def preparation_task(item: CycleItem, *, careplan: str, pharmacy: str | None) -> JsonObject:
    """The Task; `pharmacy` is the owning Organization's reference (None: not known, no
    owner), `careplan` the plan's."""
    if item.kind is not ItemKind.PREPARE or item.pickup is None:
        raise ValueError("a preparation Task is made from a prepare item")
    status = item.status or PrepStatus.REQUESTED
    task: JsonObject = {
        "resourceType": "Task",
        "identifier": identifier(SID_CYCLE_ITEM, item.id),
        "basedOn": [reference(careplan)],
        "status": status.value,
    }
    if status is PrepStatus.ON_HOLD:
        task["statusReason"] = {"text": "; ".join(item.hold_reasons) or "on hold"}
    task.update(
        {
            "intent": "order",
            "priority": "urgent" if item.urgent else "routine",
            "code": _code(),
            "description": item.action,
            "for": reference(f"Patient/{item.patient_id}"),
            "authoredOn": item.day.isoformat(),
            **({} if pharmacy is None else {"owner": reference(pharmacy)}),
            "restriction": {
                "period": {"start": item.day.isoformat(), "end": item.pickup.isoformat()}
            },
        }
    )
    if item.fills:
        task["input"] = [_fill_input(f) for f in item.fills]
    return task


def check_transition(current: str, wanted: str) -> None:
    """Refuse a status change the preparation workflow does not have (ValueError)."""
    allowed = NEXT_STATUS.get(current)
    if allowed is None or wanted not in allowed:
        raise ValueError(f"a preparation Task cannot go from {current} to {wanted}")
