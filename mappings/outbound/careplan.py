"""PatientPlan -> the patient's sync CarePlan (docs/sync-plan-profile.md, "CarePlan").

The CarePlan is what other systems read first: one activity per order the planner looked at,
synced or not, so that a reader sees both what will be filled and what was left out and why.
"""

from __future__ import annotations

from collections.abc import Mapping

from fhir_sync.engine.types import OrderPlan, PatientPlan, PlannedFill
from fhir_sync.engine.units import DISPENSE_CODES
from mappings.exclusion_codes import exclusion_reason
from mappings.fhir_literals import JsonObject, concept, days, identifier, quantity, reference
from mappings.inbound.orders import OrderInput
from mappings.profile import (
    CS_CARE_PLAN_CATEGORY,
    CS_FACT_SOURCE,
    CS_PLAN_FLAG,
    EXT_ANCHOR_DATE,
    EXT_CLARIFICATION_CODE,
    EXT_CYCLE_QUANTITY,
    EXT_DAYS_SUPPLY,
    EXT_EARLIEST_FILL,
    EXT_FACT_SOURCE,
    EXT_FITTING_CYCLE,
    EXT_MEDICATION_REQUEST,
    EXT_OWN_DATE,
    EXT_PACKAGE,
    EXT_PLAN_FLAG,
    EXT_PLAN_NOTE,
    EXT_PLANNED_FILL,
    EXT_REFILLS_REMAINING,
    EXT_SHORT_FILL,
    EXT_SUPPLY_GAP,
    EXT_SYNC_CYCLE,
    EXT_TRANSITION_VISIT,
    SID_SYNC_PLAN,
)


def _category() -> JsonObject:
    return concept(CS_CARE_PLAN_CATEGORY, "med-sync", "Medication synchronization")


def sync_careplan(
    plan: PatientPlan,
    orders: Mapping[str, OrderInput],
    *,
    appointment_url: str | None,
    pharmacy: str | None,
) -> JsonObject:
    """The CarePlan; `appointment_url` and `pharmacy` are references ready to write."""
    extensions: list[JsonObject] = [{"url": EXT_SYNC_CYCLE, "valueDuration": days(plan.cycle_days)}]
    if plan.anchor is not None:
        extensions.append({"url": EXT_ANCHOR_DATE, "valueDate": plan.anchor.isoformat()})
    for visit in plan.transition_visits:
        extensions.append({"url": EXT_TRANSITION_VISIT, "valueDate": visit.day.isoformat()})
    activities = [
        _activity(order_plan, _order_input(orders, order_plan.order_id), pharmacy)
        for order_plan in sorted(plan.orders, key=lambda o: o.order_id)
    ]
    if appointment_url is not None:
        activities.append({"reference": reference(appointment_url)})
    careplan: JsonObject = {
        "resourceType": "CarePlan",
        "extension": extensions,
        "identifier": identifier(SID_SYNC_PLAN, plan.patient_id),
        "status": "active",
        "intent": "plan",
        "category": [_category()],
        "title": "Medication synchronization plan",
        "description": f"Refills aligned to one pickup every {plan.cycle_days} days.",
        "subject": reference(f"Patient/{plan.patient_id}"),
        "period": {"start": plan.today.isoformat()},
    }
    if activities:
        careplan["activity"] = activities
    return careplan


def _order_input(orders: Mapping[str, OrderInput], order_id: str) -> OrderInput:
    found = orders.get(order_id)
    if found is None:
        raise ValueError(f"the plan names order {order_id}, which is not among the orders given")
    return found


def _planned_fill(fill: PlannedFill, unit: str | None, code: str | None) -> JsonObject:
    parts: list[JsonObject] = [
        {"url": "date", "valueDate": fill.day.isoformat()},
        {"url": "quantity", "valueQuantity": quantity(fill.quantity, unit, code)},
        {"url": "days-supply", "valueQuantity": days(fill.days_supply)},
        {"url": "earliest-fill", "valueDate": fill.earliest.isoformat()},
    ]
    parts.extend(
        {"url": "submission-clarification-code", "valueCode": c} for c in fill.clarification
    )
    if fill.label:
        parts.append({"url": "label", "valueString": fill.label})
    return {"url": EXT_PLANNED_FILL, "extension": parts}


def _activity(order_plan: OrderPlan, order: OrderInput, pharmacy: str | None) -> JsonObject:
    link = {
        "url": EXT_MEDICATION_REQUEST,
        "valueReference": reference(f"MedicationRequest/{order_plan.order_id}"),
    }
    note = [{"url": EXT_PLAN_NOTE, "valueString": order_plan.note}] if order_plan.note else []
    if not order_plan.synced:
        # Never doNotPerform: it is a modifier meaning "prohibited", and fhir-sync leaving an
        # order out of the pickup schedule prohibits nothing.
        return {
            "detail": {
                "extension": [link, *note],
                "kind": "MedicationRequest",
                "status": "not-started",
                "statusReason": exclusion_reason(order_plan.exclusion, order_plan.reason),
                "productCodeableConcept": order.medication,
            }
        }
    unit = order_plan.unit
    code = DISPENSE_CODES.get(unit) if unit is not None else None
    extensions = [
        link,
        {"url": EXT_SHORT_FILL, "valueBoolean": order_plan.short_fill},
        {"url": EXT_DAYS_SUPPLY, "valueQuantity": days(order_plan.fill_days)},
        {
            "url": EXT_CYCLE_QUANTITY,
            "valueQuantity": quantity(order_plan.cycle_quantity, unit, code),
        },
    ]
    if order_plan.refills_left is not None:
        extensions.append({"url": EXT_REFILLS_REMAINING, "valueInteger": order_plan.refills_left})
    if order_plan.earliest_fill is not None:
        extensions.append(
            {"url": EXT_EARLIEST_FILL, "valueDate": order_plan.earliest_fill.isoformat()}
        )
    extensions.extend(
        {"url": EXT_CLARIFICATION_CODE, "valueCode": code} for code in order_plan.clarification
    )
    if order_plan.own_date:
        extensions.append({"url": EXT_OWN_DATE, "valueBoolean": True})
    if order_plan.gap_days:
        extensions.append({"url": EXT_SUPPLY_GAP, "valueQuantity": days(order_plan.gap_days)})
    extensions.extend(_planned_fill(fill, unit, code) for fill in order_plan.fills)
    extensions.extend(note)
    extensions.extend(_dispensing_extensions(order_plan, unit, code))
    detail: JsonObject = {
        "extension": extensions,
        "kind": "MedicationRequest",
        "status": "scheduled",
    }
    period = {}
    if order_plan.next_fill is not None:
        period["start"] = order_plan.next_fill.isoformat()
    if order_plan.sync_date is not None:
        period["end"] = order_plan.sync_date.isoformat()
    if period:
        detail["scheduledPeriod"] = period
    if pharmacy is not None:
        detail["location"] = reference(pharmacy)
    detail["productCodeableConcept"] = order.medication
    if order_plan.daily_dose is not None:
        detail["dailyAmount"] = quantity(order_plan.daily_dose, unit, code)
    detail["quantity"] = quantity(order_plan.quantity, unit, code)
    if order_plan.reason:
        detail["description"] = order_plan.reason
    activity: JsonObject = {"detail": detail}
    if order_plan.flags:
        activity["progress"] = [{"text": note} for _, note in order_plan.flags]
    return activity


def _dispensing_extensions(
    order_plan: OrderPlan, unit: str | None, code: str | None
) -> list[JsonObject]:
    """Profile 2.1: the package, where each fact came from, flags for the pre-pickup call."""
    out: list[JsonObject] = []
    if order_plan.package is not None and order_plan.increment is not None:
        parts: list[JsonObject] = [
            {"url": "description", "valueString": order_plan.package},
            {"url": "size", "valueQuantity": quantity(order_plan.increment, unit, code)},
            {"url": "cycles", "valueInteger": order_plan.cycles_per_fill},
        ]
        parts.extend({"url": "carried-on", "valueDate": d.isoformat()} for d in order_plan.carrying)
        out.append({"url": EXT_PACKAGE, "extension": parts})
    for fact, source in order_plan.sources:
        out.append(
            {
                "url": EXT_FACT_SOURCE,
                "extension": [
                    {"url": "fact", "valueCode": fact},
                    {"url": "source", "valueCoding": {"system": CS_FACT_SOURCE, "code": source}},
                ],
            }
        )
    for flag, _ in order_plan.flags:
        out.append({"url": EXT_PLAN_FLAG, "valueCoding": {"system": CS_PLAN_FLAG, "code": flag}})
    if order_plan.fitting_cycle is not None:
        out.append({"url": EXT_FITTING_CYCLE, "valueDuration": days(order_plan.fitting_cycle)})
    return out
