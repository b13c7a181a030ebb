"""The engine's invariants, stated as properties over generated patients."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_sync.engine import Dosage, Fill, Order, PatientPlan, Preferences, plan_patient
from fhir_sync.engine.anchor import Due, _automatic, automatic_by_brute_force
from fhir_sync.engine.supply import slack_days
from tests.engine.strategies import TODAY, patients, preferences

settings.register_profile(
    "engine", max_examples=int(os.environ.get("ENGINE_EXAMPLES", "300")), deadline=None
)
settings.load_profile("engine")


def _plan(orders: list[Order], fills: list[Fill], prefs: Preferences) -> PatientPlan:
    return plan_patient("p1", orders, fills, TODAY, prefs)


@given(patients(), preferences)
def test_no_synced_order_runs_out_before_its_next_fill_or_the_anchor(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences
) -> None:
    plan = _plan(*patient, prefs)
    for o in plan.synced:
        assert o.next_fill is not None and o.run_out is not None and o.sync_date is not None
        assert plan.anchor is not None
        assert TODAY <= o.next_fill <= o.run_out, "supply on hand lasts until the next fill"
        if o.carrying:
            # A package outlasting a cycle: each later one is handed over before the supply
            # before it runs out, and no more than a quarter of its days earlier.
            end = max(o.run_out, o.next_fill) + timedelta(days=o.fill_days)
            for day in o.carrying:
                assert end - timedelta(days=o.fill_days // 4) <= day <= end
                end = max(end, day) + timedelta(days=o.fill_days)
            if (o.sync_date - plan.anchor).days % plan.cycle_days:
                continue  # out of step with every anchor: dispensed on its run-out dates
        assert o.next_fill + timedelta(days=o.fill_days) >= o.sync_date or o.carrying
        assert o.sync_date >= plan.anchor
        assert (o.sync_date - plan.anchor).days % plan.cycle_days == 0
        assert plan.anchor >= TODAY + timedelta(days=prefs.lead_days)


@given(patients(), preferences)
def test_prn_acute_inactive_and_non_orders_are_never_synced(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences
) -> None:
    orders, fills = patient
    plan = _plan(orders, fills, prefs)
    by_id = {o.id: o for o in orders}
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


@given(patients(), preferences)
def test_quantities_are_positive_and_supply_ends_on_the_anchor_within_one_package(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences
) -> None:
    orders, fills = patient
    plan = _plan(orders, fills, prefs)
    for o in plan.synced:
        assert o.quantity > 0 and o.cycle_quantity > 0 and o.fill_days >= 0
        assert o.daily_dose is not None and o.next_fill is not None and o.sync_date is not None
        assert o.run_out is not None
        assert o.increment is not None
        slack = slack_days(o.daily_dose, o.increment, prefs.cycle_days)
        if o.carrying:  # a package outlasting a cycle: dispensed where its supply runs out
            end = max(o.run_out, o.next_fill) + timedelta(days=o.fill_days)
            assert o.next_fill <= o.run_out or o.next_fill == o.sync_date
            assert o.carrying[0] <= end
            continue
        supply_end = o.next_fill + timedelta(days=o.fill_days) if o.short_fill else o.run_out
        assert 0 <= (supply_end - o.sync_date).days <= slack


def _dispense_short_fills(plan: PatientPlan) -> tuple[set[str], list[Fill]]:
    """The plan carried out: each short fill dispensed, except those the order does not
    authorize (the renewal comes first, and re-planning rightly still shows them)."""
    off_anchor = [o for o in plan.synced if o.next_fill != o.sync_date]
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
            days_supply=o.fill_days,
            quantity=o.quantity,
            unit=o.unit,
        )
        for o in off_anchor
        if o.next_fill is not None and o.order_id not in blocked
    ]
    return blocked, dispensed


@given(patients(), preferences)
def test_planning_the_output_state_again_changes_nothing(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences
) -> None:
    orders, fills = patient
    first = _plan(orders, fills, prefs)
    blocked, dispensed = _dispense_short_fills(first)
    kept = replace(prefs, anchor_date=first.anchor)
    again = _plan(orders, fills + dispensed, kept)
    assert again.anchor == first.anchor
    assert [o.order_id for o in again.synced] == [o.order_id for o in first.synced]
    assert {o.order_id for o in again.short_fills} == blocked & {
        o.order_id for o in first.short_fills
    }
    for before, after in zip(first.synced, again.synced, strict=True):
        if before.carrying:
            continue  # packages outlasting a cycle: see test_a_package_lasting_k_cycles_...
        assert after.sync_date == before.sync_date
        if before.order_id not in blocked:
            assert after.next_fill == before.sync_date
            assert after.renewal == before.renewal


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
    blocked, dispensed = _dispense_short_fills(first)
    if blocked:
        return
    again = _plan(orders, patient[1] + dispensed, prefs)
    assert again.anchor == first.anchor
    assert again.short_fills == ()


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
    st.lists(st.builds(Due, day=st.integers(-40, 120), slack=st.integers(0, 40)), max_size=6),
    preferences.map(lambda p: replace(p, anchor_day=None)),
)
def test_automatic_anchor_matches_evaluating_every_day_of_the_window(
    offsets: list[Due], prefs: Preferences
) -> None:
    dues = [Due(TODAY.toordinal() + max(0, d.day), d.slack) for d in offsets]
    earliest = TODAY + timedelta(days=prefs.lead_days)
    assert _automatic(dues, earliest, prefs) == automatic_by_brute_force(dues, TODAY, prefs)


@given(patients(), preferences)
def test_every_quantity_is_whole_increments_and_bills_what_it_truly_lasts(
    patient: tuple[list[Order], list[Fill]], prefs: Preferences
) -> None:
    """Whole tablets, doses or packages; the days supply is floor(quantity / daily use)."""
    plan = _plan(*patient, prefs)
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
