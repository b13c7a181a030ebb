"""Worked examples of the engine's rules, each checked against hand arithmetic."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest

from fhir_sync.engine import Dosage, Fill, Order, Preferences, Schedule, plan_patient
from fhir_sync.engine.calendar import add_months
from fhir_sync.engine.dispensing import Dispensing, resolve
from fhir_sync.engine.products import Source
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.supply import run_out

TODAY = date(2026, 11, 22)  # a Sunday
ONCE_DAILY = (Dosage(dose=1.0, frequency=1.0, period_days=1.0),)


def order(oid: str, drug: str = "314076", **kw: object) -> Order:
    base: dict[str, object] = {"dosages": ONCE_DAILY, "authored_on": TODAY - timedelta(days=60)}
    base.update(kw)
    return Order(id=oid, drug_key=drug, **base)  # type: ignore[arg-type]


def fill(fid: str, oid: str, day: date, days: float = 30, qty: float | None = None) -> Fill:
    return Fill(id=fid, handed_over=day, order_id=oid, days_supply=days, quantity=qty)


def daily_dose(o: Order, fills: list[Fill]) -> float | None:
    found = resolve(o, fills, Preferences())
    return found.daily if isinstance(found, Dispensing) else None


def test_daily_dose_from_timing_then_supply_then_last_fill() -> None:
    twice = (Dosage(dose=2.0, frequency=2.0, period_days=1.0),)
    assert daily_dose(order("a", dosages=twice), []) == 4.0
    every_6h = (Dosage(dose=1.0, frequency=1.0, period_days=0.25),)
    assert daily_dose(order("a", dosages=every_6h), []) == 4.0
    by_supply = order("a", dosages=(), supply_quantity=90.0, supply_days=30.0)
    assert daily_dose(by_supply, []) == 3.0
    bare = order("a", dosages=())
    assert daily_dose(bare, [fill("f", "a", TODAY, days=30, qty=60)]) == 2.0
    assert daily_dose(bare, []) is None


def test_early_refill_is_carried_over_and_late_refill_starts_on_pickup() -> None:
    start = date(2026, 9, 1)
    once = resolve(order("a"), [], Preferences())
    assert isinstance(once, Dispensing)
    early = [fill("1", "a", start), fill("2", "a", start + timedelta(days=25))]
    assert run_out(early, once) == start + timedelta(days=60)
    late = [fill("1", "a", start), fill("2", "a", start + timedelta(days=40))]
    assert run_out(late, once) == start + timedelta(days=70)


def test_supply_on_hand_is_counted_at_most_ten_years_past_the_dispense() -> None:
    """100,000 tablets at 0.000001 a day would last 10^11 days, past the end of the calendar;
    on hand is capped at MAX_ON_HAND_DAYS = 3660 days after the hand-over. Two such fills a
    year apart: the second starts where the first ends (early refill), but still ends at most
    3660 days after its own hand-over: 2027-01-01 + 3660 days = 2037-01-08."""
    start = date(2026, 1, 1)
    huge = [fill("1", "a", start, days=0, qty=100_000)]
    tiny = Dispensing(Fraction(1, 1_000_000), None, Fraction(1), Source.DOSE_UNIT)
    assert run_out(huge, tiny) == date(2036, 1, 9)
    twice = [*huge, fill("2", "a", date(2027, 1, 1), days=0, qty=100_000)]
    assert run_out(twice, tiny) == date(2037, 1, 8)
    normal = [fill("1", "a", start, days=0, qty=3000)]
    one = Dispensing(Fraction(1), None, Fraction(1), Source.DOSE_UNIT)
    assert run_out(normal, one) == start + timedelta(days=3000)


def test_never_dispensed_order_runs_out_today_and_is_short_filled_to_the_anchor() -> None:
    plan = plan_patient("p", [order("a")], [], TODAY, Preferences(anchor_day=15))
    assert plan.anchor == date(2026, 12, 15)
    (o,) = plan.orders
    assert o.synced and o.short_fill and o.next_fill == TODAY
    assert o.quantity == 23 and o.fill_days == 23 and o.cycle_quantity == 30


def test_automatic_anchor_lines_up_on_the_most_common_run_out_date() -> None:
    last = TODAY - timedelta(days=10)  # two drugs run out on TODAY + 20, one on TODAY + 5
    fills = [fill("1", "a", last), fill("2", "b", last), fill("3", "c", TODAY - timedelta(days=25))]
    orders = [order("a", "d1"), order("b", "d2"), order("c", "d3")]
    plan = plan_patient("p", orders, fills, TODAY, Preferences())
    assert plan.anchor == TODAY + timedelta(days=20)
    (c,) = plan.short_fills
    assert c.order_id == "c" and c.next_fill == TODAY + timedelta(days=5) and c.quantity == 15


def test_preferred_day_moves_off_closed_weekdays_and_clamps_to_month_end() -> None:
    sundays = Preferences(anchor_day=6, closed_weekdays=frozenset({6}))
    plan = plan_patient("p", [order("a")], [], TODAY, sundays)
    assert plan.anchor == date(2026, 12, 7)  # Dec 6 2026 is a Sunday
    plan = plan_patient("p", [order("a")], [], date(2027, 1, 30), Preferences(anchor_day=31))
    assert plan.anchor == date(2027, 2, 28)  # Feb has no 31st: its last day stands in
    plan = plan_patient("p", [order("a")], [], date(2027, 3, 27), Preferences(anchor_day=31))
    assert plan.anchor == date(2027, 4, 30)  # Mar 31 is inside the 7-day lead time
    plan = plan_patient("p", [order("a")], [], date(2027, 1, 10), Preferences(anchor_day=31))
    assert plan.anchor == date(2027, 1, 31)


def test_unbreakable_package_is_rounded_up_and_bills_the_true_days_supply() -> None:
    inhaler = order("a", dosages=(Dosage(2.0, 2.0, 1.0),), package_size=120.0)  # 4 puffs a day
    plan = plan_patient("p", [inhaler], [], TODAY, Preferences(anchor_day=15))
    (o,) = plan.orders
    assert o.quantity == 120 and o.fill_days == 30  # 23 days needed, one inhaler lasts 30
    assert o.cycle_quantity == 120


def test_orders_left_out_say_why() -> None:
    prn = order("prn", "d1", dosages=(Dosage(1.0, 1.0, 1.0, as_needed=True),))
    acute = order("abx", "d2", course="acute")
    stopped = order("stop", "d3", status="stopped")
    inpatient = order("inp", "d4", category=("inpatient",))
    expired = order("old", "d5", authored_on=TODAY - timedelta(days=400))
    no_dose = order("nod", "d6", dosages=())
    plan = plan_patient(
        "p", [prn, acute, stopped, inpatient, expired, no_dose], [], TODAY, Preferences()
    )
    reasons = {o.order_id: o.reason for o in plan.orders}
    assert plan.anchor is None and not plan.synced
    assert "as needed" in reasons["prn"] and "acute" in reasons["abx"]
    assert "stopped" in reasons["stop"] and "inpatient" in reasons["inp"]
    assert "expired" in reasons["old"] and "daily dose" in reasons["nod"]


def test_duplicate_prescriptions_keep_the_newer_one() -> None:
    old = order("old", authored_on=TODAY - timedelta(days=90))
    new = order("new", authored_on=TODAY - timedelta(days=10))
    plan = plan_patient("p", [old, new], [], TODAY, Preferences())
    reasons = {o.order_id: (o.synced, o.reason) for o in plan.orders}
    assert reasons["new"][0] and not reasons["old"][0]
    assert "duplicate of MedicationRequest/new" in reasons["old"][1]


def test_controlled_substance_limits() -> None:
    written = date(2026, 8, 31)
    civ = order("a", authored_on=written, repeats_allowed=11, schedule=Schedule.CIV)
    auth = authorization(civ)
    assert auth.expires == date(2027, 2, 28) and auth.repeats == 5
    cii = order("b", authored_on=written, repeats_allowed=3, schedule=Schedule.CII)
    assert authorization(cii).repeats == 0
    plain = order("c", authored_on=written)
    assert authorization(plain).expires == add_months(written, 12)


def test_schedule_ii_order_always_needs_a_renewal_before_its_next_fill() -> None:
    cii = order("a", schedule=Schedule.CII, repeats_allowed=0)
    fills = [fill("1", "a", TODAY - timedelta(days=20))]
    plan = plan_patient("p", [cii], fills, TODAY, Preferences(anchor_day=20))
    (o,) = plan.orders
    assert o.renewal is not None and "Schedule II" in o.renewal.reason
    assert o.renewal.needed_by == o.next_fill == TODAY + timedelta(days=10)
    assert o.renewal.due == TODAY + timedelta(days=3)


def test_renewal_when_refills_run_out_or_validity_ends_before_one_cycle_past_the_anchor() -> None:
    last = TODAY - timedelta(days=25)
    two_left = order("a", "d1", repeats_allowed=2)  # 3 fills authorized, 1 used -> 2 left
    expiring = order("b", "d2", validity_end=TODAY + timedelta(days=40), repeats_allowed=11)
    plenty = order("c", "d3", repeats_allowed=11)
    fills = [fill("1", "a", last), fill("2", "b", last), fill("3", "c", last)]
    plan = plan_patient("p", [two_left, expiring, plenty], fills, TODAY, Preferences(anchor_day=15))
    by_id = {o.order_id: o for o in plan.orders}
    anchor = date(2026, 12, 15)
    assert by_id["a"].refills_left == 2 and by_id["a"].renewal is not None
    assert by_id["a"].renewal.needed_by == anchor + timedelta(days=30)
    assert by_id["b"].renewal is not None and by_id["b"].renewal.needed_by == anchor + timedelta(30)
    assert "expires" in by_id["b"].renewal.reason
    assert by_id["c"].renewal is None


def test_partial_fill_completion_does_not_use_a_refill() -> None:
    o = order("a", repeats_allowed=1)
    fills = [
        fill("1", "a", TODAY - timedelta(days=30), days=10),
        Fill(
            id="2",
            handed_over=TODAY - timedelta(days=27),
            order_id="a",
            days_supply=20,
            completes_partial=True,
        ),
    ]
    plan = plan_patient("p", [o], fills, TODAY, Preferences())
    assert plan.orders[0].refills_left == 1


def test_bad_preferences_are_rejected() -> None:
    with pytest.raises(ValueError):
        Preferences(cycle_days=3)
    with pytest.raises(ValueError):
        Preferences(closed_weekdays=frozenset(range(7)))
    with pytest.raises(ValueError):
        Preferences(anchor_day=32)


def test_duplicate_order_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_patient("p", [order("a"), order("a")], [], TODAY, Preferences())


def test_an_established_anchor_is_kept_and_rolled_forward_once_passed() -> None:
    ahead = Preferences(cycle_days=28, anchor_date=TODAY + timedelta(days=28), lead_days=0)
    plan = plan_patient("p", [order("a")], [], TODAY, ahead)
    assert plan.anchor == TODAY + timedelta(days=28)  # not the occurrence 28 days earlier
    passed = Preferences(cycle_days=28, anchor_date=TODAY - timedelta(days=30))
    plan = plan_patient("p", [order("a")], [], TODAY, passed)
    assert plan.anchor == TODAY + timedelta(days=26)  # the next occurrence past the lead time


def test_a_tiny_dose_of_a_late_year_fill_does_not_run_past_the_calendar() -> None:
    """A fill handed over on 2199-12-31 (the last date the mappings accept) of 100,000 units at
    one unit every ten years would last 1,000,000 years; the supply counts at most ten years
    (MAX_ON_HAND_DAYS), so the payer's earliest date (F + ceil(0.8 x 3,660) = F + 2,928 days)
    is a real date and planning answers instead of overflowing."""
    from fhir_sync.engine.supply import MAX_ON_HAND_DAYS, last_fill_days

    fill = Fill(
        id="md-1",
        order_id="mr-1",
        drug_key="rx|1",
        handed_over=date(2199, 12, 31),
        quantity=100_000.0,
        days_supply=None,
    )
    from fractions import Fraction

    from fhir_sync.engine.dispensing import Dispensing
    from fhir_sync.engine.products import Source

    tiny = Dispensing(Fraction(1, 3650), None, Fraction(1), Source.DISPENSES)
    assert last_fill_days([fill], tiny) == (date(2199, 12, 31), MAX_ON_HAND_DAYS)
