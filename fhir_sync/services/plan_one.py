"""Plan one patient: mapped inputs -> the engine's plan -> the transaction Bundle and its digest.

`fhir-sync plan`, `fhir-sync sync` and the server all plan a patient through `plan_one`, so
the three cannot come to different plans from the same inputs, and the digest that tells an
unchanged plan is taken the same way wherever the plan is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from fhir_sync.engine import Fill, PatientPlan, Preferences, plan_patient
from fhir_sync.engine.planner import Prepared
from fhir_sync.services.collect import PatientInputs
from mappings.fhir_literals import JsonObject
from mappings.inbound.orders import OrderInput
from mappings.outbound.bundle import plan_bundle
from mappings.outbound.plan_digest import stamp_plan_digest
from mappings.pickup_hours import PickupHours


@dataclass(frozen=True, slots=True)
class PlannedPatient:
    """`digest`: the plan digest the Bundle's CarePlan carries (None when not stamped)."""

    plan: PatientPlan
    bundle: JsonObject
    digest: str | None


def plan_one(
    patient_id: str,
    orders: Mapping[str, OrderInput],
    fills: Iterable[Fill],
    today: date,
    prefs: Preferences,
    *,
    pharmacy: str | None,
    pickup: PickupHours | None = None,
    load: Mapping[date, int] | None = None,
    stamp_digest: bool = True,
    prepared: Prepared | None = None,
) -> PlannedPatient:
    """The patient's plan and transaction Bundle; with `stamp_digest` the Bundle's CarePlan
    carries the plan digest (what a write to a FHIR server needs to skip unchanged plans).
    `load`: the pickups other patients already have per day (the pharmacy's daily limit);
    `prepared`: see `plan_patient`."""
    orders_in = [o.order for o in orders.values()]
    plan = plan_patient(patient_id, orders_in, fills, today, prefs, load=load, prepared=prepared)
    bundle = plan_bundle(plan, orders, pharmacy=pharmacy, pickup=pickup)
    digest = stamp_plan_digest(bundle) if stamp_digest else None
    return PlannedPatient(plan, bundle, digest)


def plan_in_turn(
    patient_id: str,
    inputs: PatientInputs,
    today: date,
    prefs: Preferences,
    load: Counter[date],
    *,
    anchor: date | None,
    pharmacy: str | None,
    pickup: PickupHours | None,
    stamp_digest: bool = True,
    prepared: Prepared | None = None,
) -> PlannedPatient:
    """`plan_one` for one of many patients planned one after another (`fhir-sync plan` and
    `fhir-sync sync`): `anchor` (kept from the stored plan, or chosen by a parent process)
    fixes the patient's anchor, and the plan's pickup is counted in `load`, so that each
    automatic anchor sees the pickups the patients planned before it took."""
    if anchor is not None:
        prefs = replace(prefs, anchor_date=anchor)
    planned = plan_one(
        patient_id,
        inputs.orders,
        inputs.fills.values(),
        today,
        prefs,
        pharmacy=pharmacy,
        pickup=pickup,
        load=load,
        stamp_digest=stamp_digest,
        prepared=prepared,
    )
    plan = planned.plan
    if plan.anchor is not None and plan.anchor_fills:
        load[plan.anchor] += 1
    return planned
