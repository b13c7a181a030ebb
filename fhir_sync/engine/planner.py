"""One patient's sync plan: reconcile, project supply, choose the anchor, size the fills."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from fractions import Fraction

from fhir_sync.engine.anchor import Cost, Layout, anchor_costs, choose_layout
from fhir_sync.engine.calendar import next_open_day
from fhir_sync.engine.courses import course_of
from fhir_sync.engine.dispensing import FLAG_PACK_CYCLE, Dispensing, Unresolved
from fhir_sync.engine.dispensing import resolve as dispensing_for
from fhir_sync.engine.history import attribute_fills, supply_end
from fhir_sync.engine.placement import Kind, Need, Placement, need_for, place, too_soon_days
from fhir_sync.engine.reconcile import Candidate, exclusion, expired, resolve, written
from fhir_sync.engine.renewals import expired_renewal, fills_left, renewal_for, units_left
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.supply import (
    cycle_units,
    days_covered,
    early_days,
    fitting_units,
    last_fill_days,
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
    Renewal,
    Visit,
)
from fhir_sync.engine.visits import Trip

SHORT_FILL_CODES = ("47", "61")  # shortened days supply; synchronization
AFTER_SHORT_FILL_CODES = ("48",)  # fill after a shortened days supply
EARLY_SYNC_CODES = ("61",)  # synchronization: dispensed before it is due, with the others
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
    *,
    load: Mapping[date, int] | None = None,
    prepared: Prepared | None = None,
) -> PatientPlan:
    """Plan one patient. Deterministic: the result depends on the inputs' content, not order.

    `load` holds the pickups already planned per day at the pharmacy (other patients); the
    automatic anchor avoids days it fills up to `prefs.daily_limit`. `prepared`: what
    `prepared_candidates` made of these orders and fills on this day (with preferences that
    differ at most in the anchor), so that a caller who asked for the candidates first does
    not reconcile the orders again.
    Raises ValueError when two orders share an id (the caller must reject duplicates).
    """
    p = prepared if prepared is not None else _prepare(orders, fills, today, prefs)
    needs = p.needs
    layout = choose_layout(needs, today, prefs, load or {}) if needs else None
    placed: dict[str, tuple[Need, Placement, Trip]] = {}
    if layout is not None:
        for index, need in enumerate(needs):
            placed[need.order_id] = (need, layout.placements[index], layout.trips[index])
    plans = []
    for c in p.candidates:
        oid = c.order.id
        excluded = p.reasons[oid]
        if excluded is not None:
            code, why = excluded
            plans.append(
                OrderPlan(
                    order_id=oid,
                    synced=False,
                    reason=why,
                    exclusion=code,
                    renewal=p.renewals.get(oid),
                    note=p.notes.get(oid),
                )
            )
        else:
            assert layout is not None and isinstance(c.dispensing, Dispensing)  # synced
            own = p.by_order.get(oid, ())
            used = sum(1 for f in own if not f.completes_partial)
            # The quantity view needs a prescribed dose: one guessed from the last fill moves
            # with every fill, and with it the quantities the check adds up.
            prescribed = bool(c.order.dosages) or bool(c.order.supply_days)
            left = units_left(c.auth, own, c.dispensing) if prescribed else None
            plans.append(
                _synced_plan(
                    c,
                    placed[oid],
                    used,
                    layout,
                    today,
                    prefs,
                    left,
                    oid in p.followed,
                    p.notes.get(oid),
                )
            )
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


@dataclass(slots=True)
class _Prepared:
    """The reconciled orders: each one's reason to be left out (or None), the renewals and
    notes of those left out or synced, and what the anchor choice needs of those synced."""

    candidates: list[Candidate]
    reasons: dict[str, tuple[Exclusion, str] | None]
    by_order: dict[str, list[Fill]]
    notes: dict[str, str]
    followed: set[str]
    needs: list[Need] = field(default_factory=list)
    renewals: dict[str, Renewal] = field(default_factory=dict)


Prepared = _Prepared


def _prepare(
    orders: Iterable[Order], fills: Iterable[Fill], today: date, prefs: Preferences
) -> _Prepared:
    ordered = sorted(orders, key=lambda o: o.id)
    ids = [o.id for o in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("order ids must be unique within a patient")
    history = attribute_fills(ordered, sorted(fills, key=lambda f: (f.handed_over, f.id)), today)
    by_order, by_drug = history.by_order, history.by_drug

    candidates = [_candidate(order, by_order.get(order.id, ()), today, prefs) for order in ordered]
    reasons: dict[str, tuple[Exclusion, str] | None] = {
        c.order.id: exclusion(c, today, prefs.controlled) for c in candidates
    }
    syncable = [c for c in candidates if reasons[c.order.id] is None]
    resolved = resolve(syncable, by_order, today)
    reasons.update(resolved.reasons)
    out = _Prepared(
        candidates, reasons, by_order, _notes(history.notes, resolved.notes), resolved.followed
    )
    doses = _doses_by_drug(candidates, by_order, prefs)
    for c in syncable:
        oid = c.order.id
        if reasons[oid] is not None:
            continue
        assert isinstance(c.dispensing, Dispensing)
        drug_fills = by_drug.get(c.order.drug_key, ())
        end = supply_end(
            drug_fills,
            c.dispensing,
            written(c.order),
            _previous_dose(c, doses.get(c.order.drug_key, ())),
        )
        lapsed = expired(c, today)
        if lapsed is not None:
            assert c.auth.expires is not None
            reasons[oid] = lapsed
            renewal = expired_renewal(oid, c.auth.expires, end or today, today)
            out.renewals[oid] = renewal
            out.notes = _notes(
                out.notes, {oid: f"needs a new prescription by {renewal.needed_by.isoformat()}"}
            )
            continue
        out.needs.append(_need(c, drug_fills, end, resolved.earliest.get(oid), today, prefs))
    return out


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
    return prepared_candidates(orders, fills, today, prefs)[0]


def prepared_candidates(
    orders: Iterable[Order], fills: Iterable[Fill], today: date, prefs: Preferences
) -> tuple[Candidates, Prepared]:
    """`anchor_candidates`, and the reconciled orders for `plan_patient(..., prepared=...)`
    (they do not depend on the anchor)."""
    prepared = _prepare(orders, fills, today, prefs)
    needs = prepared.needs
    if not needs:
        return [], prepared
    if prefs.anchor_date is not None or prefs.anchor_day is not None:
        fixed = choose_layout(needs, today, prefs, {})
        return [(NO_COST, date.fromordinal(fixed.anchor), fixed.busy)], prepared
    costs = anchor_costs(needs, today, prefs)
    return [(cost, day, layout.busy) for cost, day, layout in costs], prepared


def _need(
    c: Candidate,
    history: Sequence[Fill],
    out: date | None,
    start: date | None,
    today: date,
    prefs: Preferences,
) -> Need:
    """What the anchor choice needs of a synced order whose supply runs out on `out` and that
    may not be filled before `start` (an earliest-fill date, a C-II series' next date)."""
    found = c.dispensing
    assert isinstance(found, Dispensing)
    # Nothing can be handed over before the pharmacy next opens.
    first = next_open_day(today, prefs.closed_weekdays)
    due = first if out is None or out < first else out
    if start is not None and start > due:
        due = start
    threshold = prefs.threshold_for(c.order.form)
    last = last_fill_days(history, found)
    earliest = first
    if last is not None:
        paid = last[0] + timedelta(days=too_soon_days(last[1], threshold))
        earliest = min(due, max(first, paid))
    if start is not None and start > earliest:
        earliest = start
    return need_for(
        c.order.id,
        due.toordinal(),
        earliest.toordinal(),
        slack_days(found.daily, found.step, prefs.cycle_days),
        found.daily,
        found.step,
        threshold,
        prefs.cycle_days,
        _lag(due, earliest, prefs.closed_weekdays),
    )


def _lag(due: date, earliest: date, closed: frozenset[int]) -> int:
    """Days after `due` a fill is first handed over: the pharmacy is closed on `due` and on
    every day back to the first one the payer pays it (as visits.plan_trips places it)."""
    day = due
    while day >= earliest:
        if day.weekday() not in closed:
            return 0
        day -= timedelta(days=1)
    return (next_open_day(due, closed) - due).days


def _candidate(order: Order, fills: Sequence[Fill], today: date, prefs: Preferences) -> Candidate:
    """The order as planned (a finished titration on its maintenance step) and its facts."""
    course = course_of(order, fills, today) if order.bounds else None
    planned = course.order if course is not None else order
    # Only an active order can be synced; half of a history is old orders.
    found = dispensing_for(planned, fills, prefs) if order.status == "active" else NOT_ACTIVE
    return Candidate(planned, found, authorization(order), course)


def _doses_by_drug(
    candidates: Sequence[Candidate], by_order: Mapping[str, Sequence[Fill]], prefs: Preferences
) -> dict[str, list[tuple[date, Fraction]]]:
    """(date written, daily amount) of the orders of each drug that has several, any status:
    an order no longer active is sized here only, when another order of its drug needs it."""
    counts: dict[str, int] = {}
    for c in candidates:
        counts[c.order.drug_key] = counts.get(c.order.drug_key, 0) + 1
    doses: dict[str, list[tuple[date, Fraction]]] = {}
    for c in candidates:
        day = written(c.order)
        if counts[c.order.drug_key] < 2 or day is None:
            continue
        found = c.dispensing
        if found is NOT_ACTIVE:
            found = dispensing_for(c.order, by_order.get(c.order.id, ()), prefs)
        if isinstance(found, Dispensing):
            doses.setdefault(c.order.drug_key, []).append((day, found.daily))
    return doses


def _previous_dose(c: Candidate, doses: Sequence[tuple[date, Fraction]]) -> Fraction | None:
    """The daily dose of the latest earlier order for the same drug, whatever its status: the
    dose the supply on hand was taken at before this order (when the fills do not say)."""
    start = written(c.order)
    earlier = [d for d in doses if start is not None and d[0] < start]
    return max(earlier)[1] if earlier else None


def _notes(*sources: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for source in sources:
        for oid, text in source.items():
            out[oid] = f"{out[oid]}; {text}" if oid in out else text
    return out


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


def _synced_plan(
    c: Candidate,
    where: tuple[Need, Placement, Trip],
    used: int,
    layout: Layout,
    today: date,
    prefs: Preferences,
    units: Fraction | None = None,
    followed: bool = False,
    note: str | None = None,
) -> OrderPlan:
    found = c.dispensing
    assert isinstance(found, Dispensing)
    need, placement, trip = where
    order, daily, step, cycle = c.order, found.daily, found.step, prefs.cycle_days
    anchor = date.fromordinal(layout.anchor)
    day = date.fromordinal(trip.day)
    due = date.fromordinal(need.due)
    earliest = date.fromordinal(need.earliest)
    kind = placement.kind
    join = date.fromordinal(placement.join) if placement.join is not None else None
    flags = list(found.flags)
    carrying: tuple[date, ...] = ()
    cycles_per_fill = 1
    fitting: int | None = None
    reason: str | None = None
    onward_join: date | None = None
    if need.pack:
        # One package outlasts a cycle: never refilled every cycle, but on the anchor of the
        # cycle in which the supply runs out when the payer pays it then (else on its run-out
        # date), and so on for the next ones.
        cycles_per_fill = math.floor(step / daily / cycle)
        quantity = cycle_quantity = step
        lasts = cycle_billed = days_covered(step, daily)
        early = early_days(lasts, cycle)
        carrying = _carrying(
            max(due, day) + timedelta(days=lasts),
            day + timedelta(days=too_soon_days(lasts, need.threshold)),
            early,
            anchor,
            lasts,
            need.threshold,
            cycle,
        )
        # The first dispense on an anchor: where this order's supply joins the cycle.
        join = next(
            (d for d in (day, *carrying) if _is_anchor(d, anchor, cycle)),
            carrying[-1],
        )
        reason = (
            f"one {found.package_text or 'dispense'} lasts {lasts} days "
            f"({cycles_per_fill} cycle{'s' if cycles_per_fill > 1 else ''} or more): dispensed "
            "on the anchor of the cycle in which the supply runs out"
        )
        if not _is_anchor(day, anchor, cycle):
            reason = "a whole package on its run-out date; then " + reason
    else:
        cycle_quantity = cycle_units(cycle, daily, step)
        if kind is Kind.OWN:
            # Off the pickup cycle, refilled when it runs out: no more than fits in a cycle.
            cycle_quantity = fitting_units(cycle, daily, step)
        if (cycle * daily / step).denominator != 1 and step / daily >= 2:
            fitting = next(
                (n for n in CYCLE_CHOICES if n != cycle and (n * daily / step).denominator == 1),
                None,
            )
            flags.append((FLAG_PACK_CYCLE, _pack_note(found, step / daily, cycle, fitting)))
        cycle_billed = days_covered(cycle_quantity, daily)
    if kind is Kind.SHORT and join is not None and day >= join:
        kind = Kind.LATE  # a closed pharmacy pushed the short fill onto the pickup itself
    short = kind is Kind.SHORT
    if short:
        assert join is not None
        # Dispensed early, the supply still on hand carries over: the fill covers due -> join.
        quantity = units_for((join - max(day, due)).days, daily, step)
    elif not need.pack:
        quantity = cycle_quantity
    billed = days_covered(quantity, daily)
    paid_next = day + timedelta(days=too_soon_days(billed, need.threshold))
    codes = SHORT_FILL_CODES if short else EARLY_SYNC_CODES if kind is Kind.EARLY else ()
    fills = [PlannedFill(day, billed, quantity, earliest, codes, "short fill" if short else "")]
    if need.pack:
        fills.append(PlannedFill(carrying[0], billed, quantity, paid_next, (), "package fill"))
        fills[0] = PlannedFill(day, billed, quantity, earliest, codes, "package fill")
    elif short:
        assert join is not None
        fills.append(
            PlannedFill(join, cycle_billed, cycle_quantity, paid_next, AFTER_SHORT_FILL_CODES)
        )
    elif join is not None:
        after = join + timedelta(days=cycle)
        fills.append(PlannedFill(after, cycle_billed, cycle_quantity, paid_next))
    else:
        refill = day + timedelta(days=billed)
        onward = _onward(need, refill, paid_next, daily, step, cycle, layout.anchor, prefs)
        if onward is None:
            fills.append(PlannedFill(refill, billed, quantity, paid_next))
        else:
            # The refill on its own date can join the pickups where this dispense could not
            # (it is at another distance from them): the plan says so now, as a re-plan after
            # this dispense will.
            following, onward_join = onward
            fills.append(following)
            what = "a short fill" if following.label == "short fill" else "a refill"
            reason = (
                _why(kind, day, due, join, anchor, earliest, billed, trip.gap)
                + f"; then {what} on {following.day.isoformat()} joins the pickups on "
                + onward_join.isoformat()
            )
    fills = [_labelled(f, anchor) for f in fills]
    remaining = fills_left(c.auth, used)
    # A C-II prescription followed by another of its series needs no renewal yet.
    renewal = None
    if not followed:
        renewal = renewal_for(
            order.id,
            order.schedule,
            c.auth,
            remaining,
            [(f.day, f.label, f.quantity) for f in fills]
            if need.pack
            else _upcoming(fills, join, anchor, cycle, cycle_quantity),
            today,
            prefs.lead_days,
            units,
        )
    return OrderPlan(
        order_id=order.id,
        synced=True,
        reason=reason or _why(kind, day, due, join, anchor, earliest, billed, trip.gap),
        daily_dose=daily,
        run_out=due,
        next_fill=day,
        sync_date=join or onward_join,
        short_fill=short,
        fill_days=billed,
        quantity=quantity,
        cycle_quantity=cycle_quantity,
        refills_left=remaining,
        renewal=renewal,
        earliest_fill=earliest,
        clarification=codes,
        fills=tuple(fills),
        own_date=join is None or (need.pack and not _is_anchor(join, anchor, cycle)),
        gap_days=trip.gap,
        note=note,
        unit=found.unit,
        increment=step,
        package=found.package_text if found.whole_package else None,
        cycles_per_fill=cycles_per_fill,
        carrying=carrying,
        sources=_sources(found),
        flags=tuple(flags),
        fitting_cycle=fitting,
    )


def _onward(
    need: Need,
    refill: date,
    paid: date,
    daily: Fraction,
    step: Fraction,
    cycle: int,
    anchor: int,
    prefs: Preferences,
) -> tuple[PlannedFill, date] | None:
    """The dispense after one on the order's own date, when that one reaches the pickups:
    where it goes and the pickup it joins (None: it stays on its own date too)."""
    start = max(paid, refill)
    lag = _lag(refill, start, prefs.closed_weekdays)
    place_next = place(
        replace(need, due=refill.toordinal(), earliest=start.toordinal(), lag=lag),
        anchor,
        cycle,
        prefs.window_days,
        prefs.tolerance_days,
    )
    if place_next.join is None:
        return None
    day, join = date.fromordinal(place_next.day), date.fromordinal(place_next.join)
    if place_next.kind is Kind.SHORT:
        quantity = units_for((join - refill).days, daily, step)
        billed = days_covered(quantity, daily)
        return PlannedFill(day, billed, quantity, paid, SHORT_FILL_CODES, "short fill"), join
    quantity = cycle_units(cycle, daily, step)
    codes = EARLY_SYNC_CODES if place_next.kind is Kind.EARLY else ()
    return PlannedFill(day, days_covered(quantity, daily), quantity, paid, codes), join


def _is_anchor(day: date, anchor: date, cycle: int) -> bool:
    return day >= anchor and (day - anchor).days % cycle == 0


def _carry_day(runs_out: date, paid: date, early: int, anchor: date, cycle: int) -> date:
    """When a package outlasting a cycle is handed over: on the anchor of the cycle in which
    the supply runs out when that anchor is at most `early` days before it and the payer pays
    the refill then (from `paid`), else on the run-out date itself."""
    if runs_out < anchor:
        return runs_out
    day = anchor + timedelta(days=(runs_out - anchor).days // cycle * cycle)
    return day if (runs_out - day).days <= early and day >= paid else runs_out


def _carrying(
    runs_out: date,
    paid: date,
    early: int,
    anchor: date,
    lasts: int,
    threshold: Fraction,
    cycle: int,
) -> tuple[date, ...]:
    """The next days that carry a package, each found by `_carry_day` from the last one."""
    days = []
    end = runs_out
    for _ in range(CARRYING_LISTED):
        day = _carry_day(end, paid, early, anchor, cycle)
        days.append(day)
        end = max(end, day) + timedelta(days=lasts)
        paid = day + timedelta(days=too_soon_days(lasts, threshold))
    return tuple(days)


def _pack_note(found: Dispensing, step_days: Fraction, cycle: int, fitting: int | None) -> str:
    what = found.package_text or "dose"
    note = (
        f"whole packages ({what}, {math.floor(step_days)} days each) do not fill a {cycle}-day "
        "cycle: a cycle's refill is the fewest whole ones covering it (the patient keeps the "
        "days left over), or the order goes out on its own date when the payer would refuse "
        "the next refill as too soon"
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
    fills: list[PlannedFill], join: date | None, anchor: date, cycle: int, cycle_quantity: Fraction
) -> list[tuple[date, str, Fraction]]:
    """The dispenses (day, label, quantity) the order must authorize: through the first refill
    after the anchor."""
    upcoming = [(f.day, f.label, f.quantity) for f in fills]
    if join is None:
        return upcoming
    day = upcoming[-1][0] + timedelta(days=cycle)
    horizon = anchor + timedelta(days=cycle)
    while upcoming[-1][0] < horizon:
        label = "anchor fill" if day == anchor else "first refill after the anchor"
        upcoming.append((day, label, cycle_quantity))
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
            f"whole packages cannot reach the pickup cycle without a refill the payer refuses "
            f"as too soon (NCPDP reject 79) or days without supply, so it is dispensed on its "
            f"own date ({on}), {billed} days at a time"
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
