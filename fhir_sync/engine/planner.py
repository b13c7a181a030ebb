"""One patient's sync plan: reconcile, project supply, choose the anchor, size the fills."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta
from fractions import Fraction

from fhir_sync.engine.anchor import Due, choose_anchor, join_day
from fhir_sync.engine.dispensing import FLAG_PACK_CYCLE, Dispensing, Unresolved, resolve
from fhir_sync.engine.reconcile import Candidate, duplicate_winners, exclusion
from fhir_sync.engine.renewals import fills_left, renewal_for
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.supply import days_covered, early_days, run_out, slack_days, units_for
from fhir_sync.engine.types import Exclusion, Fill, Order, OrderPlan, PatientPlan, Preferences

# Cycle lengths a pharmacy may choose, to suggest one that whole packages fit.
CYCLE_CHOICES = (28, 30, 90)
NOT_ACTIVE = Unresolved("the order is not active")
# How many of the anchors that carry a long-lasting package the plan lists.
CARRYING_LISTED = 3


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
        Candidate(
            order,
            # Only an active order can be synced; half of a history is old orders.
            resolve(order, by_order.get(order.id, ()), prefs)
            if order.status == "active"
            else NOT_ACTIVE,
            authorization(order),
        )
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
        found = c.dispensing
        assert isinstance(found, Dispensing)
        out = run_out(by_drug.get(c.order.drug_key, ()), found)
        due = today if out is None or out < today else out
        slack = slack_days(found.daily, found.step, prefs.cycle_days)
        dues[c.order.id] = Due(due.toordinal(), slack)

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
    c: Candidate,
    due: Due,
    used: int,
    anchor: date,
    today: date,
    prefs: Preferences,
) -> OrderPlan:
    found = c.dispensing
    assert isinstance(found, Dispensing)
    order, daily, step, cycle = c.order, found.daily, found.step, prefs.cycle_days
    sync = date.fromordinal(join_day(anchor.toordinal(), due, cycle))
    due_day = date.fromordinal(due.day)
    gap = (sync - due_day).days
    step_days = step / daily
    flags = list(found.flags)
    carrying: tuple[date, ...] = ()
    cycles_per_fill = 1
    fitting: int | None = None
    short = False
    if step_days >= cycle:
        # One package outlasts a cycle: never refilled every cycle, but on the anchor of the
        # cycle in which the supply runs out (or on its run-out date when that anchor comes
        # too early for the payer).
        cycles_per_fill = math.floor(step_days / cycle)
        quantity = cycle_quantity = step
        lasts = days_covered(step, daily)
        early = early_days(lasts, cycle)
        next_fill = _carry_day(due_day, early, anchor, cycle)
        carrying = _carrying(
            max(due_day, next_fill) + timedelta(days=lasts), early, anchor, lasts, cycle
        )
        on_anchor = _is_anchor(next_fill, anchor, cycle)
        # The first dispense on an anchor: where this order's supply joins the cycle.
        sync = next(
            (day for day in (next_fill, *carrying) if _is_anchor(day, anchor, cycle)),
            carrying[-1],
        )
        reason = (
            f"one {found.package_text or 'dispense'} lasts {lasts} days "
            f"({cycles_per_fill} cycle{'s' if cycles_per_fill > 1 else ''} or more): dispensed "
            "on the anchor of the cycle in which the supply runs out"
        )
        if not on_anchor:
            reason = "a whole package on its run-out date; then " + reason
    else:
        per_cycle = cycle * daily / step
        whole_steps = per_cycle.denominator == 1
        if whole_steps or step_days < 2:
            cycle_quantity = units_for(cycle, daily, step)
        else:
            cycle_quantity = max(1, math.floor(per_cycle)) * step
            fitting = next(
                (n for n in CYCLE_CHOICES if n != cycle and (n * daily / step).denominator == 1),
                None,
            )
            flags.append((FLAG_PACK_CYCLE, _pack_note(found, step_days, cycle, fitting)))
        if gap > 0:
            short = True
            next_fill, quantity = due_day, units_for(gap, daily, step)
            reason = "short fill to the anchor date"
        else:
            # What is still on hand at the anchor counts: the fewest whole steps that reach
            # the next anchor with it.
            on_hand = (due_day - sync).days
            next_fill, quantity = sync, units_for(cycle - on_hand, daily, step)
            reason = "refills on the anchor date"
    remaining = fills_left(c.auth, used)
    upcoming = [(sync, "anchor fill")]
    if carrying:
        upcoming = [(next_fill, "package fill"), (carrying[0], "package fill")]
    else:
        upcoming.append((sync + timedelta(days=cycle), "first refill after the anchor"))
        if short:
            upcoming.insert(0, (next_fill, "short fill"))
    renewal = renewal_for(
        order.id, order.schedule, c.auth, remaining, upcoming, today, prefs.lead_days
    )
    return OrderPlan(
        order_id=order.id,
        synced=True,
        reason=reason,
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
        unit=found.unit,
        increment=step,
        package=found.package_text if found.whole_package else None,
        cycles_per_fill=cycles_per_fill,
        carrying=carrying,
        sources=_sources(found),
        flags=tuple(flags),
        fitting_cycle=fitting,
    )


def _is_anchor(day: date, anchor: date, cycle: int) -> bool:
    return day >= anchor and (day - anchor).days % cycle == 0


def _carry_day(runs_out: date, early: int, anchor: date, cycle: int) -> date:
    """When a package outlasting a cycle is handed over: on the anchor of the cycle in which
    the supply runs out when that anchor is at most `early` days before it, else on the
    run-out date itself (off the anchor; the anchor choice counts it like a short fill)."""
    if runs_out < anchor:
        return runs_out
    day = anchor + timedelta(days=(runs_out - anchor).days // cycle * cycle)
    return day if (runs_out - day).days <= early else runs_out


def _carrying(runs_out: date, early: int, anchor: date, lasts: int, cycle: int) -> tuple[date, ...]:
    """The next days that carry a package, each found by `_carry_day` from the last one."""
    days = []
    end = runs_out
    for _ in range(CARRYING_LISTED):
        day = _carry_day(end, early, anchor, cycle)
        days.append(day)
        end = max(end, day) + timedelta(days=lasts)
    return tuple(days)


def _pack_note(found: Dispensing, step_days: Fraction, cycle: int, fitting: int | None) -> str:
    what = found.package_text or "dose"
    note = (
        f"whole packages ({what}, {math.floor(step_days)} days each) do not fill a {cycle}-day "
        "cycle: each anchor fill is the fewest whole ones that reach the next anchor with what "
        "is on hand"
    )
    if fitting is not None:
        note += f"; a {fitting}-day cycle would fit them"
    return note


def _sources(found: Dispensing) -> tuple[tuple[str, str], ...]:
    product = found.product
    sources = [("daily", str(found.source))]
    if product is not None:
        sources.append(("unit", str(product.form_source)))
        if product.strength_source is not None:
            sources.append(("strength", str(product.strength_source)))
        if product.package_source is not None and found.whole_package:
            sources.append(("package", str(product.package_source)))
    return tuple(sources)
