"""One patient's sync plan: reconcile, project supply, choose the anchor, size the fills."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from fhir_sync.engine.anchor import Cost, Layout, anchor_costs, choose_layout
from fhir_sync.engine.calendar import next_open_day
from fhir_sync.engine.placement import Kind, Need, Placement, need_for, too_soon_days
from fhir_sync.engine.reconcile import Candidate, duplicate_winners, exclusion
from fhir_sync.engine.renewals import fills_left, renewal_for
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.supply import (
    daily_dose,
    days_covered,
    last_fill_days,
    run_out,
    slack_days,
    units_for,
)
from fhir_sync.engine.types import (
    Exclusion,
    Fill,
    Order,
    OrderPlan,
    PatientPlan,
    PlannedFill,
    Preferences,
    Visit,
)
from fhir_sync.engine.visits import Trip

SHORT_FILL_CODES = ("47", "61")  # shortened days supply; synchronization
AFTER_SHORT_FILL_CODES = ("48",)  # fill after a shortened days supply
EARLY_SYNC_CODES = ("61",)  # synchronization: dispensed before it is due, with the others


def plan_patient(
    patient_id: str,
    orders: Iterable[Order],
    fills: Iterable[Fill],
    today: date,
    prefs: Preferences,
    *,
    load: Mapping[date, int] | None = None,
) -> PatientPlan:
    """Plan one patient. Deterministic: the result depends on the inputs' content, not order.

    `load` holds the pickups already planned per day at the pharmacy (other patients); the
    automatic anchor avoids days it fills up to `prefs.daily_limit`.
    Raises ValueError when two orders share an id (the caller must reject duplicates).
    """
    prepared = _prepare(orders, fills, today, prefs)
    candidates, reasons, by_order, needs = prepared
    layout = choose_layout(needs, today, prefs, load or {}) if needs else None
    placed: dict[str, tuple[Need, Placement, Trip]] = {}
    if layout is not None:
        for index, need in enumerate(needs):
            placed[need.order_id] = (need, layout.placements[index], layout.trips[index])
    plans = []
    for c in candidates:
        excluded = reasons[c.order.id]
        if excluded is not None:
            code, why = excluded
            plans.append(OrderPlan(order_id=c.order.id, synced=False, reason=why, exclusion=code))
        else:
            assert layout is not None  # some order is synced
            used = sum(1 for f in by_order.get(c.order.id, ()) if not f.completes_partial)
            plans.append(_synced_plan(c, placed[c.order.id], used, layout, today, prefs))
    anchor = date.fromordinal(layout.anchor) if layout is not None else None
    return PatientPlan(
        patient_id=patient_id,
        today=today,
        cycle_days=prefs.cycle_days,
        anchor=anchor,
        orders=tuple(plans),
        visits=_visits(plans),
        anchor_fills=sum(1 for o in plans if anchor is not None and _fills_on(o, anchor, prefs))
        if layout is not None and layout.busy
        else 0,
    )


Prepared = tuple[
    list[Candidate],
    dict[str, tuple[Exclusion, str] | None],
    dict[str, list[Fill]],
    list[Need],
]


def _prepare(
    orders: Iterable[Order], fills: Iterable[Fill], today: date, prefs: Preferences
) -> Prepared:
    """Reconcile the orders: each one's reason to be left out (or None), and what the anchor
    choice needs of those synced."""
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
    needs = [_need(c, by_drug.get(c.order.drug_key, ()), today, prefs) for c in synced]
    return candidates, reasons, by_order, needs


Candidates = list[tuple[Cost, date, bool]]
NO_COST: Cost = (0, 0, 0, 0, 0)


def anchor_candidates(
    orders: Iterable[Order], fills: Iterable[Fill], today: date, prefs: Preferences
) -> Candidates:
    """The days the patient's anchor may take, what each costs the patient, and whether a
    pickup happens on it (empty when nothing is synced; one day when the anchor is fixed).

    With `anchor.pick_anchor` and the pharmacy's load, a caller planning patients in several
    processes chooses exactly what `plan_patient(..., load=...)` would, then plans with
    `anchor_date` set to that day.
    """
    needs = _prepare(orders, fills, today, prefs)[3]
    if not needs:
        return []
    if prefs.anchor_date is not None or prefs.anchor_day is not None:
        fixed = choose_layout(needs, today, prefs, {})
        return [(NO_COST, date.fromordinal(fixed.anchor), fixed.busy)]
    return [(cost, day, layout.busy) for cost, day, layout in anchor_costs(needs, today, prefs)]


def _need(c: Candidate, fills: Iterable[Fill], today: date, prefs: Preferences) -> Need:
    assert c.daily is not None
    history = list(fills)
    out = run_out(history, c.daily)
    # Nothing can be handed over before the pharmacy next opens.
    first = next_open_day(today, prefs.closed_weekdays)
    due = first if out is None or out < first else out
    threshold = prefs.threshold_for(c.order.form)
    last = last_fill_days(history, c.daily)
    earliest = first
    if last is not None:
        paid = last[0] + timedelta(days=too_soon_days(last[1], threshold))
        earliest = min(due, max(first, paid))
    return need_for(
        c.order.id,
        due.toordinal(),
        earliest.toordinal(),
        slack_days(c.daily, c.order.package_size),
        c.daily,
        c.order.package_size,
        threshold,
        prefs.cycle_days,
    )


def _visits(plans: list[OrderPlan]) -> tuple[Visit, ...]:
    by_day: dict[date, list[str]] = {}
    for o in plans:
        if o.synced and o.next_fill is not None:
            by_day.setdefault(o.next_fill, []).append(o.order_id)
    return tuple(Visit(day, tuple(sorted(ids))) for day, ids in sorted(by_day.items()))


def _fills_on(o: OrderPlan, day: date, prefs: Preferences) -> bool:
    """Whether the order is dispensed on `day` (its next fill, or a refill of its cycle)."""
    if not o.synced:
        return False
    if o.next_fill == day:
        return True
    sync = o.sync_date
    return sync is not None and sync <= day and (day - sync).days % prefs.cycle_days == 0


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
    c: Candidate,
    where: tuple[Need, Placement, Trip],
    used: int,
    layout: Layout,
    today: date,
    prefs: Preferences,
) -> OrderPlan:
    assert c.daily is not None
    need, placement, trip = where
    order, daily, cycle = c.order, c.daily, prefs.cycle_days
    anchor = date.fromordinal(layout.anchor)
    day = date.fromordinal(trip.day)
    due = date.fromordinal(need.due)
    earliest = date.fromordinal(need.earliest)
    cycle_quantity = units_for(cycle, daily, order.package_size)
    cycle_billed = days_covered(cycle_quantity, daily)
    kind = placement.kind
    join = date.fromordinal(placement.join) if placement.join is not None else None
    if kind is Kind.SHORT and join is not None and day >= join:
        kind = Kind.LATE  # a closed pharmacy pushed the short fill onto the pickup itself
    short = kind is Kind.SHORT
    if short:
        assert join is not None
        # Dispensed early, the supply still on hand carries over: the fill covers due -> join.
        quantity = units_for((join - max(day, due)).days, daily, order.package_size)
    else:
        quantity = cycle_quantity
    billed = days_covered(quantity, daily)
    paid_next = day + timedelta(days=too_soon_days(billed, need.threshold))
    codes = SHORT_FILL_CODES if short else EARLY_SYNC_CODES if kind is Kind.EARLY else ()
    fills = [PlannedFill(day, billed, quantity, earliest, codes, "short fill" if short else "")]
    if short:
        assert join is not None
        fills.append(
            PlannedFill(join, cycle_billed, cycle_quantity, paid_next, AFTER_SHORT_FILL_CODES)
        )
    elif join is not None:
        after = join + timedelta(days=cycle)
        fills.append(PlannedFill(after, cycle_billed, cycle_quantity, paid_next))
    else:
        fills.append(PlannedFill(day + timedelta(days=billed), billed, quantity, paid_next))
    fills = [_labelled(f, anchor) for f in fills]
    remaining = fills_left(c.auth, used)
    renewal = renewal_for(
        order.id,
        order.schedule,
        c.auth,
        remaining,
        _upcoming(fills, join, anchor, cycle),
        today,
        prefs.lead_days,
    )
    return OrderPlan(
        order_id=order.id,
        synced=True,
        reason=_why(kind, day, due, join, anchor, earliest, billed, trip.gap),
        daily_dose=daily,
        run_out=due,
        next_fill=day,
        sync_date=join,
        short_fill=short,
        fill_days=billed,
        quantity=quantity,
        cycle_quantity=cycle_quantity,
        refills_left=remaining,
        renewal=renewal,
        earliest_fill=earliest,
        clarification=codes,
        fills=tuple(fills),
        own_date=join is None,
        gap_days=trip.gap,
    )


def _labelled(fill: PlannedFill, anchor: date) -> PlannedFill:
    if fill.label:
        return fill
    if fill.day == anchor:
        label = "anchor fill"
    elif fill.day > anchor:
        label = "first refill after the anchor"
    else:
        label = "refill"
    return PlannedFill(
        fill.day, fill.days_supply, fill.quantity, fill.earliest, fill.clarification, label
    )


def _upcoming(
    fills: list[PlannedFill], join: date | None, anchor: date, cycle: int
) -> list[tuple[date, str]]:
    """The dispenses the order must authorize: through the first refill after the anchor."""
    upcoming = [(f.day, f.label) for f in fills]
    if join is None:
        return upcoming
    day = upcoming[-1][0] + timedelta(days=cycle)
    horizon = anchor + timedelta(days=cycle)
    while upcoming[-1][0] < horizon:
        label = "anchor fill" if day == anchor else "first refill after the anchor"
        upcoming.append((day, label))
        day += timedelta(days=cycle)
    return upcoming


def _why(
    kind: Kind,
    day: date,
    due: date,
    join: date | None,
    anchor: date,
    earliest: date,
    billed: int,
    gap: int,
) -> str:
    on = day.isoformat()
    if kind is Kind.SHORT:
        why = "short fill to the anchor date"
        if day < due:
            why += f", dispensed on {on} with the other fills due then"
    elif kind is Kind.OWN:
        why = (
            f"unbreakable package lasts {billed} days: the payer would refuse a refill on the "
            f"pickup cycle as too soon, so it is dispensed on its own date ({on})"
        )
    elif day == anchor:
        why = "refills on the anchor date"
    elif kind is Kind.EARLY:
        why = (
            f"refilled {(due - day).days} day(s) before it is due, at the pickup on {on} "
            f"(the payer pays from {earliest.isoformat()}); then on the anchor cycle"
        )
    elif kind is Kind.LATE:
        return (
            f"refill waits {gap} day(s) for the pickup on {on} (within the pharmacy's "
            "tolerance for a gap in supply)"
        )
    else:
        why = f"full-cycle refill on {on}, when it is due; then on the anchor cycle"
    if gap > 0:
        why += f"; {gap} day(s) without supply: the pharmacy is closed on {due.isoformat()}"
    return why
