"""Renewal follow-up items -> the changes to make on the renewal Task.

Prescribers ignore renewal requests more than anything else in med sync: a request not
answered is sent again, then escalated, and the Task shows it so that the prescriber's
system (and the pharmacist) see the urgency.
"""

from __future__ import annotations

import copy

from fhir_sync.engine.cycle_types import CycleItem, ItemKind
from mappings.fhir_literals import JsonObject


def followed_up_task(task: JsonObject, item: CycleItem) -> JsonObject:
    """A copy of the renewal Task after a resend (a note) or an escalation (priority raised)."""
    if item.kind not in (ItemKind.RENEWAL_RESEND, ItemKind.RENEWAL_ESCALATE):
        raise ValueError(f"a {item.kind.value} item does not follow up a renewal")
    updated = copy.deepcopy(task)
    day = item.day.isoformat()
    if item.kind is ItemKind.RENEWAL_ESCALATE:
        updated["priority"] = "urgent"
        text = f"Escalated on {day}: no answer after the request was sent again"
    else:
        updated["priority"] = "asap"
        text = f"Sent again on {day}: no answer from the prescriber"
    notes = [n for n in updated.get("note", []) if n.get("text") != text]
    notes.append({"time": day, "text": text})
    updated["note"] = notes
    return updated
