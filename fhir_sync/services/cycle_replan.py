"""What a re-plan tells the monthly cycle: the prescriber's answers and the changes to review.

A re-plan (`$sync`, a queued sync, a live pull, `$enroll` again) is compared with the plan it
replaces, as the engine compares plans (engine.plan_changes): a new active order of a therapy
whose renewal was waiting is the prescriber's answer, so the waiting renewal Task is completed
rather than cancelled, and the enrollment's renewal tracks are answered; every difference (a
new, stopped, replaced or changed order) is a change set of the pending cycle, which the
derivation turns into a review item the day it is known, and a stopped order is kept out of
the bags from that day. This runs inside the re-plan's transaction, so the plan and the cycle
facts it implies commit together.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import Connection

from fhir_sync.engine.cycle_types import ChangeSet, Enrollment, PickupStatus, RenewalTrack
from fhir_sync.engine.plan_changes import PlannedOrder, diff_plans, renewals_answered, stops_in
from fhir_sync.services.cycle_facts import load_facts
from fhir_sync.services.cycle_run import save_facts
from fhir_sync.services.indexing import JsonObject, without_meta
from fhir_sync.services.renewal_tracks import WAITING, renewal_order, track_plan
from fhir_sync.store import cycle as store
from fhir_sync.store.tables import Enrollment as EnrollmentRow
from mappings.inbound.careplan_fills import careplan_orders


def _orders(resources: list[JsonObject]) -> tuple[PlannedOrder, ...]:
    careplan = next((r for r in resources if r.get("resourceType") == "CarePlan"), None)
    return () if careplan is None else careplan_orders(careplan)


def _renewal_order(task: JsonObject) -> str | None:
    """The order of a renewal Task still waiting for the prescriber."""
    return renewal_order(task) if task.get("status") in WAITING else None


def answered_renewals(
    before: list[JsonObject], after: list[JsonObject], day: date
) -> list[JsonObject]:
    """`after` with each renewal Task of `before` that the new plan answers (a new active
    order of the same therapy, matched as the engine matches a renewal) completed; the new
    plan no longer asks for it, and a completed Task tells the EHR it was answered."""
    old, new = _orders(before), _orders(after)
    wanted = {(r["resourceType"], r.get("id")) for r in after}
    out = list(after)
    for task in before:
        order = _renewal_order(task)
        if order is None or ("Task", task.get("id")) in wanted:
            continue
        track = RenewalTrack(order, day, day)
        [answered] = renewals_answered((track,), old, new, day)
        if answered.answers:
            out.append({**without_meta(task), "status": "completed"})
    return out


def _pending_anchor(facts: Enrollment, day: date) -> date | None:
    """The cycle a change is reviewed for: the next not picked up, else the last one."""
    cycles = sorted(facts.cycles, key=lambda c: c.anchor)
    for cycle in cycles:
        done = any(s is PickupStatus.FULFILLED for _, s in cycle.outcomes)
        if not done and cycle.pickup_day >= day:
            return cycle.anchor
    return cycles[-1].anchor if cycles else None


def feed_replan(
    connection: Connection,
    enrollment: EnrollmentRow,
    before: list[JsonObject],
    after: list[JsonObject],
    day: date,
    now: datetime,
) -> int:
    """The re-plan's changes, renewal answers and renewal tracks (services.renewal_tracks)
    as the enrollment's cycle facts (nothing when it has no cycle yet: its first run tracks
    the stored plan's renewals; nothing when nothing changed); the items made due today."""
    if not before:
        return 0
    state = store.get_state(connection, enrollment.patient_id)
    if state is None:
        return 0
    facts = load_facts(state.facts)
    old, new = _orders(before), _orders(after)
    changes = diff_plans(old, new)
    renewals = track_plan(renewals_answered(facts.renewals, old, new, day), after, day)
    anchor = _pending_anchor(facts, day)
    if anchor is None or (not changes and renewals == facts.renewals):
        return 0
    known = {s.order_id for s in facts.stops}
    stops = tuple(s for s in stops_in(changes, day) if s.order_id not in known)
    change_sets = facts.change_sets
    if changes:
        change_sets = (*change_sets, ChangeSet(anchor, day, changes))
    facts = replace(facts, renewals=renewals, stops=(*facts.stops, *stops), change_sets=change_sets)
    return save_facts(connection, enrollment, state, facts, day, now)
