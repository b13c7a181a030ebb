"""One patient's sync plan: reconcile, project supply, choose the anchor, size the fills."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from fhir_sync.engine.anchor import Due, choose_anchor, join_day
from fhir_sync.engine.courses import course_of
from fhir_sync.engine.history import attribute_fills, supply_end
from fhir_sync.engine.reconcile import Candidate, exclusion, expired, resolve, written
from fhir_sync.engine.renewals import expired_renewal, fills_left, renewal_for, units_left
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.supply import daily_dose, days_covered, slack_days, units_for
from fhir_sync.engine.types import (
    Fill,
    Order,
    OrderPlan,
    PatientPlan,
    Preferences,
    Renewal,
)


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
    history = attribute_fills(ordered, sorted(fills, key=lambda f: (f.handed_over, f.id)), today)
    by_order, by_drug = history.by_order, history.by_drug

    candidates = [_candidate(order, by_order.get(order.id, ()), today) for order in ordered]
    reasons = {c.order.id: exclusion(c, today, prefs.controlled) for c in candidates}
    syncable = [c for c in candidates if reasons[c.order.id] is None]
    resolved = resolve(syncable, by_order, today)
    reasons.update(resolved.reasons)
    notes = _notes(history.notes, resolved.notes)

    doses = _doses_by_drug(candidates)
    dues: dict[str, Due] = {}
    renewals: dict[str, Renewal] = {}
    for c in syncable:
        oid = c.order.id
        if reasons[oid] is not None:
            continue
        assert c.daily is not None
        out = supply_end(
            by_drug.get(c.order.drug_key, ()),
            c.daily,
            written(c.order),
            _previous_dose(c, doses.get(c.order.drug_key, ())),
        )
        lapsed = expired(c, today)
        if lapsed is not None:
            assert c.auth.expires is not None
            reasons[oid] = lapsed
            renewal = renewals[oid] = expired_renewal(oid, c.auth.expires, out or today, today)
            notes = _notes(
                notes,
                {oid: f"needs a new prescription by {renewal.needed_by.isoformat()}"},
            )
            continue
        due = today if out is None or out < today else out
        earliest = resolved.earliest.get(oid)
        if earliest is not None and earliest > due:
            due = earliest
        dues[oid] = Due(due.toordinal(), slack_days(c.daily, c.order.package_size))

    anchor = choose_anchor(list(dues.values()), today, prefs) if dues else None
    plans = []
    for c in candidates:
        oid = c.order.id
        excluded = reasons[oid]
        if excluded is not None:
            code, why = excluded
            plans.append(
                OrderPlan(
                    order_id=oid,
                    synced=False,
                    reason=why,
                    exclusion=code,
                    renewal=renewals.get(oid),
                    note=notes.get(oid),
                )
            )
        else:
            assert anchor is not None  # some order is synced
            own = by_order.get(oid, ())
            used = sum(1 for f in own if not f.completes_partial)
            assert c.daily is not None
            # The quantity view needs a prescribed dose: one guessed from the last fill moves
            # with every fill, and with it the quantities the check adds up.
            prescribed = bool(c.order.dosages) or bool(c.order.supply_days)
            left = units_left(c.auth, own, c.daily) if prescribed else None
            plans.append(
                _synced_plan(
                    c,
                    dues[oid],
                    used,
                    anchor,
                    today,
                    prefs,
                    left,
                    oid in resolved.followed,
                    notes.get(oid),
                )
            )
    return PatientPlan(
        patient_id=patient_id,
        today=today,
        cycle_days=prefs.cycle_days,
        anchor=anchor,
        orders=tuple(plans),
    )


def _candidate(order: Order, fills: Sequence[Fill], today: date) -> Candidate:
    """The order as planned (a finished titration on its maintenance step) and its facts."""
    course = course_of(order, fills, today) if order.bounds else None
    planned = course.order if course is not None else order
    return Candidate(planned, daily_dose(planned, fills), authorization(order), course)


def _doses_by_drug(candidates: Sequence[Candidate]) -> dict[str, list[tuple[date, float]]]:
    """(date written, daily dose) of the orders of each drug that has several, any status."""
    counts: dict[str, int] = {}
    for c in candidates:
        counts[c.order.drug_key] = counts.get(c.order.drug_key, 0) + 1
    doses: dict[str, list[tuple[date, float]]] = {}
    for c in candidates:
        day = written(c.order)
        if counts[c.order.drug_key] > 1 and day is not None and c.daily is not None:
            doses.setdefault(c.order.drug_key, []).append((day, c.daily))
    return doses


def _previous_dose(c: Candidate, doses: Sequence[tuple[date, float]]) -> float | None:
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


def _synced_plan(
    c: Candidate,
    due: Due,
    used: int,
    anchor: date,
    today: date,
    prefs: Preferences,
    units: float | None = None,
    followed: bool = False,
    note: str | None = None,
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
        (sync, "anchor fill", cycle_quantity),
        (sync + timedelta(days=cycle), "first refill after the anchor", cycle_quantity),
    ]
    if short:
        upcoming.insert(0, (next_fill, "short fill", quantity))
    # A C-II prescription followed by another of its series needs no renewal yet.
    renewal = None
    if not followed:
        renewal = renewal_for(
            order.id, order.schedule, c.auth, remaining, upcoming, today, prefs.lead_days, units
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
        note=note,
    )
