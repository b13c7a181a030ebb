"""One patient's sync plan: reconcile, project supply, choose the anchor, size the fills."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from fhir_sync.engine.anchor import Due, choose_anchor, join_day
from fhir_sync.engine.reconcile import Candidate, duplicate_winners, exclusion
from fhir_sync.engine.renewals import fills_left, renewal_for
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.supply import daily_dose, days_covered, run_out, slack_days, units_for
from fhir_sync.engine.types import Exclusion, Fill, Order, OrderPlan, PatientPlan, Preferences


def plan_patient(
    patient_id: str,
    orders: Iterable[Order],
    fills: Iterable[Fill],
    today: date,
    prefs: Preferences,
) -> PatientPlan:
    """Plan one patient. Deterministic: the result depends on the inputs' content, not order.

    Raises ValueError when two orders share an id (the caller must reject duplicates).
    """
    ordered = sorted(orders, key=lambda o: o.id)
    ids = [o.id for o in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("order ids must be unique within a patient")
    history = sorted(fills, key=lambda f: (f.handed_over, f.id))
    by_order, by_drug = _attribute_fills(ordered, history)

    candidates = [
        Candidate(order, daily_dose(order, by_order.get(order.id, ())), authorization(order))
        for order in ordered
    ]
    reasons = {c.order.id: exclusion(c, today) for c in candidates}
    syncable = [c for c in candidates if reasons[c.order.id] is None]
    for loser, keeper in duplicate_winners(syncable).items():
        reasons[loser] = (
            Exclusion.DUPLICATE,
            f"duplicate of MedicationRequest/{keeper} (same drug): kept the newer order",
        )
    synced = [c for c in syncable if reasons[c.order.id] is None]

    dues: dict[str, Due] = {}
    for c in synced:
        assert c.daily is not None
        out = run_out(by_drug.get(c.order.drug_key, ()), c.daily)
        due = today if out is None or out < today else out
        dues[c.order.id] = Due(due.toordinal(), slack_days(c.daily, c.order.package_size))

    anchor = choose_anchor(list(dues.values()), today, prefs) if synced else None
    plans = []
    for c in candidates:
        excluded = reasons[c.order.id]
        if excluded is not None:
            code, why = excluded
            plans.append(OrderPlan(order_id=c.order.id, synced=False, reason=why, exclusion=code))
        else:
            assert anchor is not None  # some order is synced
            used = sum(1 for f in by_order.get(c.order.id, ()) if not f.completes_partial)
            plans.append(_synced_plan(c, dues[c.order.id], used, anchor, today, prefs))
    return PatientPlan(
        patient_id=patient_id,
        today=today,
        cycle_days=prefs.cycle_days,
        anchor=anchor,
        orders=tuple(plans),
    )


def _attribute_fills(
    orders: list[Order], history: list[Fill]
) -> tuple[dict[str, list[Fill]], dict[str, list[Fill]]]:
    """Fills per authorizing order (refill counting) and per drug (supply on hand).

    A dispense names its prescription when the pharmacy knows it; one that does not, or names
    an order this patient does not have, still put the drug in the patient's hands.
    """
    drug_of = {o.id: o.drug_key for o in orders}
    by_order: dict[str, list[Fill]] = {}
    by_drug: dict[str, list[Fill]] = {}
    for fill in history:
        drug = drug_of.get(fill.order_id) if fill.order_id else None
        if drug is not None and fill.order_id is not None:
            by_order.setdefault(fill.order_id, []).append(fill)
        else:
            drug = fill.drug_key
        if drug is not None:
            by_drug.setdefault(drug, []).append(fill)
    return by_order, by_drug


def _synced_plan(
    c: Candidate, due: Due, used: int, anchor: date, today: date, prefs: Preferences
) -> OrderPlan:
    assert c.daily is not None
    order, daily, cycle = c.order, c.daily, prefs.cycle_days
    sync = date.fromordinal(join_day(anchor.toordinal(), due, cycle))
    due_day = date.fromordinal(due.day)
    gap = (sync - due_day).days
    cycle_quantity = units_for(cycle, daily, order.package_size)
    if gap > 0:
        next_fill, quantity = due_day, units_for(gap, daily, order.package_size)
    else:
        next_fill, quantity = sync, cycle_quantity
    short = gap > 0
    remaining = fills_left(c.auth, used)
    upcoming = [
        (sync, "anchor fill"),
        (sync + timedelta(days=cycle), "first refill after the anchor"),
    ]
    if short:
        upcoming.insert(0, (next_fill, "short fill"))
    renewal = renewal_for(
        order.id, order.schedule, c.auth, remaining, upcoming, today, prefs.lead_days
    )
    return OrderPlan(
        order_id=order.id,
        synced=True,
        reason="short fill to the anchor date" if short else "refills on the anchor date",
        daily_dose=daily,
        run_out=due_day,
        next_fill=next_fill,
        sync_date=sync,
        short_fill=short,
        fill_days=days_covered(quantity, daily),
        quantity=quantity,
        cycle_quantity=cycle_quantity,
        refills_left=remaining,
        renewal=renewal,
    )
