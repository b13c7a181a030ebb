"""PatientPlan -> one idempotent transaction Bundle (docs/sync-plan-profile.md, section 2).

Every entry is a conditional update on a fhir-sync identifier and the Bundle holds nothing
that depends on the clock, so re-posting a plan changes nothing and a new plan replaces the
old one in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time

from fhir_sync.engine.types import PatientPlan
from mappings.appointment import DEFAULT_PICKUP_MINUTES, DEFAULT_PICKUP_TIME, pickup_appointment
from mappings.careplan import sync_careplan
from mappings.fhir_literals import (
    JsonObject,
    checked_id,
    conditional_url,
    local_reference,
    urn_for,
)
from mappings.orders import OrderInput
from mappings.pickup_hours import PickupHours
from mappings.profile import SID_RENEWAL_TASK, SID_SYNC_APPOINTMENT, SID_SYNC_PLAN
from mappings.renewal_task import renewal_task, renewal_task_value


def plan_bundle(
    plan: PatientPlan,
    orders: Mapping[str, OrderInput],
    *,
    pharmacy: str | None = None,
    pickup_time: time = DEFAULT_PICKUP_TIME,
    pickup_minutes: int = DEFAULT_PICKUP_MINUTES,
    pickup: PickupHours | None = None,
) -> JsonObject:
    """The transaction Bundle for one patient's plan.

    `orders` maps order id -> OrderInput for every order the plan names (their medication,
    dose unit and requester are written back). `pharmacy` is a Location id or `Location/<id>`;
    `pickup_time` (with a time zone) and `pickup_minutes` place the pickup on the anchor date;
    `pickup`, when given, replaces both with the pharmacy's pickup hours in its time zone.
    Raises ValueError when the plan names an order missing from `orders` or an id is not a
    FHIR id.
    """
    if pickup is not None:
        pickup_time, pickup_minutes = pickup.start, pickup.minutes
    patient_id = checked_id(plan.patient_id, "patient id")
    location = local_reference(pharmacy, "Location") if pharmacy is not None else None
    careplan_url = urn_for(SID_SYNC_PLAN, patient_id)
    # No pickup Appointment for a day with nothing to dispense.
    dispensing = plan.anchor is not None and plan.anchor_fills > 0
    appointment_url = urn_for(SID_SYNC_APPOINTMENT, patient_id) if dispensing else None
    entries = [
        _entry(
            careplan_url,
            sync_careplan(plan, orders, appointment_url=appointment_url, pharmacy=location),
            SID_SYNC_PLAN,
            patient_id,
        )
    ]
    if plan.anchor is not None and appointment_url is not None:
        appointment = pickup_appointment(
            patient_id,
            plan.anchor,
            plan.anchor_fills,
            careplan_url=careplan_url,
            pharmacy=location,
            pickup_time=pickup_time,
            minutes=pickup_minutes,
        )
        entries.append(_entry(appointment_url, appointment, SID_SYNC_APPOINTMENT, patient_id))
    for renewal in sorted(plan.renewals, key=lambda r: r.order_id):
        value = renewal_task_value(patient_id, checked_id(renewal.order_id, "order id"))
        order = orders.get(renewal.order_id)
        task = renewal_task(
            patient_id,
            renewal,
            order.requester if order is not None else None,
            careplan_url=careplan_url,
        )
        entries.append(_entry(urn_for(SID_RENEWAL_TASK, value), task, SID_RENEWAL_TASK, value))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _entry(full_url: str, resource: JsonObject, system: str, value: str) -> JsonObject:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {
            "method": "PUT",
            "url": conditional_url(resource["resourceType"], system, value),
        },
    }
