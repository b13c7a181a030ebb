"""The engine's invariants, stated as properties over generated patients."""

from __future__ import annotations

import math
import os
import random
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_sync.engine import (
    Dosage,
    Fill,
    Order,
    OrderPlan,
    PatientPlan,
    Preferences,
    anchor_candidates,
    pick_anchor,
    plan_patient,
)
from fhir_sync.engine.calendar import next_open_day
from fhir_sync.engine.supply import slack_days
from tests.engine.strategies import DRUGS, TODAY, Planned, patients, planned_patients, preferences

# In CI (CI set, as .ci/run's callers do) the examples are derandomized: the same ones every
# run, so a red build is a change's doing; developers' runs explore new ones each time
# (ENGINE_EXAMPLES=5000 explores more) and print a blob that reproduces what they find.
settings.register_profile(
    "engine",
    max_examples=int(os.environ.get("ENGINE_EXAMPLES", "300")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    print_blob=True,
)
settings.load_profile("engine")


def _plan(orders: list[Order], fills: list[Fill], prefs: Preferences) -> PatientPlan:
    return plan_patient("p1", orders, fills, TODAY, prefs)


@given(planned_patients)
def test_no_synced_order_runs_out_before_its_next_fill_beyond_the_tolerance(p: Planned) -> None:
    plan, prefs = p.plan, p.prefs
    tolerance = timedelta(days=prefs.tolerance_days)
    for o in plan.synced:
        assert o.next_fill is not None and o.run_out is not None
        assert plan.anchor is not None
        forced = timedelta(days=_forced_gap(o, prefs))
        assert TODAY <= o.next_fill <= o.run_out + tolerance + forced, "supply lasts"
        assert o.gap_days <= prefs.tolerance_days or forced
        first, following = o.fills
        assert first.day == o.next_fill
        # What the next dispense covers starts when the supply on hand ends (carried over).
        covered_to = max(o.next_fill, o.run_out) + timedelta(days=o.fill_days)
        assert following.day <= covered_to + tolerance, "the next dispense lasts to the one after"
        if not o.own_date:
            assert o.sync_date is not None
            assert (o.sync_date - plan.anchor).days % plan.cycle_days == 0
        if o.carrying:
            # A package outlasting a cycle: each later one is handed over before the supply
            # before it runs out, and no more than a quarter of its days earlier.
            end = max(o.run_out, o.next_fill) + timedelta(days=o.fill_days)
            for day in o.carrying:
                assert end - timedelta(days=o.fill_days // 4) <= day <= end
                end = max(end, day) + timedelta(days=o.fill_days)
        assert plan.anchor >= TODAY + timedelta(days=prefs.lead_days)


def _forced_gap(o: OrderPlan, prefs: Preferences) -> int:
    """Days without supply that no plan can avoid: the pharmacy is closed on every day from
    the first one the payer pays the fill (or today) to the day the supply runs out."""
    assert o.earliest_fill is not None and o.run_out is not None
    day = max(o.earliest_fill, TODAY)
    while day <= o.run_out:
        if day.weekday() not in prefs.closed_weekdays:
            return 0
        day += timedelta(days=1)
    return 7


@given(planned_patients)
def test_no_planned_fill_is_before_the_day_the_payer_pays_it(p: Planned) -> None:
    fills, prefs, plan, by_id = p.fills, p.prefs, p.plan, p.by_id
    for o in plan.synced:
        assert o.fills and o.earliest_fill is not None and o.daily_dose is not None
        for planned in o.fills:
            assert planned.day >= planned.earliest
        first, following = o.fills
        threshold = prefs.threshold_for(by_id[o.order_id].form)
        wait = -(-threshold.numerator * first.days_supply // threshold.denominator)
        assert following.day >= first.day + timedelta(days=wait), "refill too soon (reject 79)"
        # The first dispense waits for the previous fill of the drug to be used up enough.
        drug = by_id[o.order_id].drug_key
        for f in fills:
            if f.drug_key != drug or not f.days_supply or f.completes_partial:
                continue
            days = int(f.days_supply)
            paid = f.handed_over + timedelta(
                days=-(-threshold.numerator * days // threshold.denominator)
            )
            last = max(g.handed_over for g in fills if g.drug_key == drug)
            if f.handed_over == last and paid >= TODAY and o.run_out is not None:
                assert first.day >= min(paid, o.run_out)


@given(planned_patients)
def test_no_dispense_is_planned_on_a_day_the_pharmacy_is_closed(p: Planned) -> None:
    plan, prefs = p.plan, p.prefs
    if plan.anchor is not None and plan.anchor_fills:
        assert plan.anchor.weekday() not in prefs.closed_weekdays
    for visit in plan.visits:
        assert visit.day.weekday() not in prefs.closed_weekdays
    for o in plan.synced:
        assert o.next_fill is not None and o.next_fill.weekday() not in prefs.closed_weekdays


@given(
    st.lists(st.sampled_from(DRUGS), min_size=1, max_size=6, unique=True),
    st.integers(-40, 60),
    st.sampled_from([1.0, 2.0, 3.0]),
    preferences.map(lambda p: replace(p, anchor_day=None)),
)
def test_an_already_synchronized_patient_gets_no_short_fill(
    drugs: list[str], offset: int, dose: float, prefs: Preferences
) -> None:
    """Every supply ends on the same day (or nothing was ever dispensed): that day is kept."""
    cycle = prefs.cycle_days
    ends = TODAY + timedelta(days=offset)
    orders = [
        Order(id=f"mr{n}", drug_key=d, dosages=(Dosage(dose, 1.0, 1.0),), authored_on=TODAY)
        for n, d in enumerate(drugs)
    ]
    fills = [
        Fill(
            id=f"md{n}",
            handed_over=ends - timedelta(days=cycle),
            order_id=o.id,
            drug_key=o.drug_key,
            days_supply=cycle,
        )
        for n, o in enumerate(orders)
    ]
    if not _natural_day_open(max(ends, next_open_day(TODAY, prefs.closed_weekdays)), prefs):
        return  # the pharmacy is closed on the natural pickup day: it cannot be kept
    plan = _plan(orders, fills, replace(prefs, daily_limit=None))
    assert len(plan.synced) == len(orders)
    assert plan.short_fills == ()
    expected = max(ends, next_open_day(TODAY, prefs.closed_weekdays))
    for o in plan.synced:
        if expected.weekday() not in prefs.closed_weekdays:
            assert o.next_fill == expected and o.quantity == dose * cycle
    if _natural_day_open(next_open_day(TODAY, prefs.closed_weekdays), prefs):
        never = _plan(orders, [], replace(prefs, daily_limit=None))
        assert never.short_fills == ()


def _natural_day_open(ends: date, prefs: Preferences) -> bool:
    """Whether the pickup day a supply ending on `ends` implies (past the lead time) is open."""
    natural = ends
    while natural < TODAY + timedelta(days=prefs.lead_days):
        natural += timedelta(days=prefs.cycle_days)
    return natural.weekday() not in prefs.closed_weekdays


@given(planned_patients)
def test_prn_acute_inactive_and_non_orders_are_never_synced(p: Planned) -> None:
    plan, by_id = p.plan, p.by_id
    for o in plan.orders:
        order = by_id[o.order_id]
        excluded = (
            any(d.as_needed for d in order.dosages)
            or order.course in ("acute", "seasonal")
            or order.status != "active"
            or order.intent in ("plan", "proposal")
            or "inpatient" in order.category
        )
        if excluded:
            assert not o.synced and o.reason
        if not o.synced:
            assert o.reason, "every order left out says why"


@given(planned_patients)
def test_quantities_are_positive_and_a_short_fill_ends_on_its_pickup_within_one_package(
    p: Planned,
) -> None:
    plan, prefs = p.plan, p.prefs
    for o in plan.synced:
        assert o.quantity > 0 and o.cycle_quantity > 0 and o.fill_days >= 0
        assert o.daily_dose is not None and o.next_fill is not None
        assert o.run_out is not None
        assert o.increment is not None
        slack = slack_days(o.daily_dose, o.increment, prefs.cycle_days)
        if o.carrying:  # a package outlasting a cycle: dispensed where its supply runs out
            end = max(o.run_out, o.next_fill) + timedelta(days=o.fill_days)
            assert o.carrying[0] <= end
            continue
        if not o.short_fill:
            continue
        assert o.sync_date is not None
        supply_end = max(o.next_fill, o.run_out) + timedelta(days=o.fill_days)
        assert 0 <= (supply_end - o.sync_date).days <= slack
        # Shorter than a cycle, except where the whole steps reaching the first pickup would
        # make its refill too soon for the payer: then it reaches the pickup after it
        # (docs/dispensing-rules.md section 6), never further.
        assert 0 < o.fill_days < 2 * plan.cycle_days + slack, "a short fill reaches one pickup"
        if o.fill_days >= plan.cycle_days + slack:
            shorter = o.sync_date - timedelta(days=plan.cycle_days) - max(o.next_fill, o.run_out)
            step_days = o.increment / o.daily_dose
            billed = math.floor(math.ceil(shorter.days / step_days) * step_days)
            threshold = prefs.threshold_for(None)
            assert math.ceil(threshold * billed) > shorter.days, "only when the payer refuses"


def _dispense_short_fills(
    plan: PatientPlan, by_drug: dict[str, str]
) -> tuple[set[str], set[str], list[Fill]]:
    """The plan carried out up to the anchor: each fill off the pickups before it dispensed,
    except those the order does not authorize (`blocked`: the renewal comes first, and
    re-planning rightly still shows them). `kept`: the orders whose fill off the pickups was
    not dispensed (blocked, or due after the anchor), which a re-plan shows again."""
    # What goes out before the anchor pickup: a refill the calendar moved off a later pickup
    # (a closed day) is not due yet, and dispensing it now would be a fill the plan never made.
    off_anchor = [
        o
        for o in plan.synced
        if o.next_fill != o.sync_date
        and o.next_fill is not None
        and plan.anchor is not None
        and o.next_fill < plan.anchor
    ]
    blocked = {
        o.order_id
        for o in off_anchor
        if o.renewal is not None and o.renewal.needed_by == o.next_fill
    }
    dispensed = [
        Fill(
            id=f"short-{o.order_id}",
            handed_over=o.next_fill,
            order_id=o.order_id,
            drug_key=by_drug[o.order_id],
            days_supply=o.fill_days,
            quantity=o.quantity,
            unit=o.unit,
        )
        for o in off_anchor
        if o.next_fill is not None and o.order_id not in blocked
    ]
    done = {f.order_id for f in dispensed}
    kept = {o.order_id for o in plan.synced if o.next_fill != o.sync_date} - done
    return blocked, kept, dispensed


@given(planned_patients)
def test_planning_the_output_state_again_changes_nothing(p: Planned) -> None:
    orders, fills, prefs, first = p
    if first.synced and first.anchor_fills == 0:
        # Known limit (docs/dispensing-rules.md section 7): every synced order goes out on its
        # own date, so the anchor is a pickup with nothing to dispense and a re-plan may move
        # it to the first pickup that has something.
        return
    _, kept, dispensed = _dispense_short_fills(first, {o.id: o.drug_key for o in orders})
    # Known limit (docs/dispensing-rules.md section 7): an order without a dosage takes its
    # daily amount from its last dispense, and a short fill's whole units over its floored
    # days supply are a slightly higher rate, so its re-plan may add a day's short fill.
    drifting = {o.order_id for o in first.synced if ("daily", "dispenses") in o.sources}
    again = _plan(orders, fills + dispensed, replace(prefs, anchor_date=first.anchor))
    assert again.anchor == first.anchor
    assert [o.order_id for o in again.synced] == [o.order_id for o in first.synced]
    # An order on its own date whose next refill joins the pickups: that refill is the plan's
    # next step, a short fill when the plan said so (docs/dispensing-rules.md section 6).
    onward = {
        o.order_id
        for o in first.synced
        if o.own_date and not o.carrying and o.sync_date is not None
    } - kept
    onward_short = {
        o.order_id
        for o in first.synced
        if o.order_id in onward and o.fills[1].label == "short fill"
    }
    assert {o.order_id for o in again.short_fills} - drifting == (
        (kept & {o.order_id for o in first.short_fills}) | onward_short
    ) - drifting
    # A pickup's refill before the anchor that the calendar moved off its pickup (a closed
    # day: handed over the open day before) was dispensed: it covered that pickup, so the
    # re-plan's next fill is the one the plan said came after it, on the next pickup.
    moved = {
        o.order_id
        for o in first.synced
        if not o.short_fill and not o.own_date and o.next_fill != o.sync_date
    } - kept
    for before, after in zip(first.synced, again.synced, strict=True):
        if before.carrying:
            continue  # packages outlasting a cycle: see test_a_package_lasting_k_cycles_...
        if before.order_id in moved:
            assert before.sync_date is not None
            said = before.fills[1]
            assert after.sync_date == before.sync_date + timedelta(days=first.cycle_days)
            if said.day.weekday() not in prefs.closed_weekdays:
                assert (after.next_fill, after.quantity) == (said.day, said.quantity)
            continue
        assert after.sync_date == before.sync_date
        if before.order_id in drifting:
            continue
        if before.order_id in onward:
            said = before.fills[1]
            if said.day.weekday() not in prefs.closed_weekdays:
                assert (after.next_fill, after.quantity) == (said.day, said.quantity)
            continue
        if before.own_date:
            continue  # handed over in a short fill's trip, which this model does not dispense
        if before.order_id not in kept:
            expected = before.sync_date if before.short_fill else before.next_fill
            if expected is not None and expected.weekday() not in prefs.closed_weekdays:
                assert after.next_fill == expected


@given(patients(), preferences.map(lambda p: replace(p, anchor_day=None)))
def test_automatic_anchor_is_stable_when_every_supply_can_end_exactly_on_it(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences
) -> None:
    """Without unbreakable packages the automatic anchor is the one day with no short fill
    left, so re-planning finds it again without being told."""
    orders = [replace(o, package_size=None) for o in patient[0]]
    first = _plan(orders, patient[1], prefs)
    if any(o.daily_dose is not None and o.daily_dose < 1 for o in first.synced):
        return  # a fraction of a unit a day: a whole unit overshoots like a package
    blocked, kept, dispensed = _dispense_short_fills(first, {o.id: o.drug_key for o in orders})
    if blocked:
        return
    again = _plan(orders, patient[1] + dispensed, prefs)
    assert again.anchor == first.anchor
    # Only the short fills due after the anchor, not carried out yet, remain.
    assert {o.order_id for o in again.short_fills} == kept & {o.order_id for o in first.short_fills}


@given(patients(), preferences, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_input_order(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences, rnd: random.Random
) -> None:
    orders, fills = patient
    shuffled_orders, shuffled_fills = orders[:], fills[:]
    rnd.shuffle(shuffled_orders)
    rnd.shuffle(shuffled_fills)
    assert _plan(orders, fills, prefs) == _plan(shuffled_orders, shuffled_fills, prefs)


@given(
    patients(),
    preferences.map(lambda p: replace(p, anchor_day=None)),
    st.integers(1, 3),
    st.lists(st.integers(0, 40), min_size=40, max_size=40),
)
def test_the_automatic_anchor_is_the_best_of_every_day_of_the_cycle(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences, limit: int, loads: list[int]
) -> None:
    """The search skips gathering trips for days that cannot win; what it picks is what
    comparing every day's full cost picks, whatever the load (the several-process path)."""
    orders, fills = patient
    prefs = replace(prefs, daily_limit=limit)
    start = TODAY + timedelta(days=prefs.lead_days)
    load = {start + timedelta(days=i): n % 4 for i, n in enumerate(loads)}
    plan = plan_patient("p1", orders, fills, TODAY, prefs, load=load)
    candidates = anchor_candidates(orders, fills, TODAY, prefs)
    if not candidates:
        assert plan.anchor is None
        return
    assert plan.anchor == pick_anchor(candidates, limit, load)


@given(planned_patients)
def test_every_quantity_is_whole_increments_and_bills_what_it_truly_lasts(p: Planned) -> None:
    """Whole tablets, doses or packages; the days supply is floor(quantity / daily use)."""
    plan = p.plan
    for o in plan.synced:
        assert o.increment is not None and o.increment > 0 and o.daily_dose is not None
        assert (o.quantity / o.increment).denominator == 1
        assert (o.cycle_quantity / o.increment).denominator == 1
        assert o.fill_days <= o.quantity / o.daily_dose < o.fill_days + 1


@given(
    st.integers(1, 5),
    st.sampled_from([28, 30]),
    st.integers(0, 4),
    st.integers(0, 10),
)
def test_a_package_lasting_k_cycles_is_dispensed_once_in_k_cycles(
    k: int, cycle: int, cycles_ago: int, lead: int
) -> None:
    """1 unit a day from a package of k x cycle units, last dispensed so that it runs out on
    an anchor: the next package goes out on that anchor and then every k cycles."""
    anchor = TODAY + timedelta(days=lead)
    lasts = k * cycle
    order = Order(
        id="o",
        drug_key="d",
        dosages=(Dosage(1, 1, 1),),
        authored_on=TODAY - timedelta(days=10),
        package_size=lasts,
    )
    runs_out = anchor + timedelta(days=cycles_ago * cycle)
    fill = Fill("f", runs_out - timedelta(days=lasts), "o", days_supply=lasts)
    prefs = Preferences(cycle_days=cycle, anchor_date=anchor, lead_days=lead)
    (o,) = plan_patient("p", [order], [fill], TODAY, prefs).orders
    assert o.synced and o.cycles_per_fill == k and o.quantity == lasts
    assert o.next_fill == runs_out == o.sync_date
    gaps = [(b - a).days for a, b in zip((o.next_fill, *o.carrying), o.carrying, strict=False)]
    assert gaps == [lasts] * len(o.carrying)
