"""Cycle items -> an idempotent transaction Bundle of the resources they stand for.

Every entry is a conditional update on the resource's fhir-sync identifier, like the sync-plan
Bundle: writing a day's items twice, or a caught-up day's, creates nothing twice. Items for the
pharmacist alone (return to stock, an unconfirmed pickup, an escalation...) have no resource of
their own; the worklist shows them.
"""

from __future__ import annotations

from collections.abc import Iterable

from fhir_sync.engine.cycle_types import CycleItem, ItemKind
from mappings.fhir_literals import JsonObject, conditional_url, urn_for
from mappings.outbound.outreach import CALL_KINDS, call_request
from mappings.outbound.preparation_task import preparation_task


def conditional_entry(resource: JsonObject) -> JsonObject:
    """A PUT on `Type?identifier=system|value` of the resource's first identifier."""
    ident = resource["identifier"][0]
    system, value = ident["system"], ident["value"]
    return {
        "fullUrl": urn_for(system, value),
        "resource": resource,
        "request": {
            "method": "PUT",
            "url": conditional_url(resource["resourceType"], system, value),
        },
    }


def item_resource(
    item: CycleItem, *, careplan: str, pharmacy: str, sender: str | None = None
) -> JsonObject | None:
    """The CommunicationRequest or preparation Task of an item; None for worklist-only items."""
    if item.kind in CALL_KINDS:
        return call_request(item, careplan=careplan, sender=sender)
    if item.kind is ItemKind.PREPARE:
        return preparation_task(item, careplan=careplan, pharmacy=pharmacy)
    return None


def cycle_bundle(
    items: Iterable[CycleItem], *, careplan: str, pharmacy: str, sender: str | None = None
) -> JsonObject:
    """The transaction for one patient's items of a day, entries sorted by item identifier."""
    entries = []
    for item in sorted(items, key=lambda i: i.id):
        resource = item_resource(item, careplan=careplan, pharmacy=pharmacy, sender=sender)
        if resource is not None:
            entries.append(conditional_entry(resource))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
