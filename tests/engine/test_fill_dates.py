"""Worked examples of the fill-date rules (docs/fill-dates.md), each number worked by hand from
the rule and its source (../shared/domain.md, "DR"), never copied from the program."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction

from fhir_sync.engine import Dosage, Fill, Order, Preferences, plan_patient
from fhir_sync.engine.types import OPHTHALMIC

TODAY = date(2026, 11, 22)  # a Sunday
ONCE_DAILY = (Dosage(dose=1.0, frequency=1.0, period_days=1.0),)
NO_LIMIT = Preferences(daily_limit=None)


def order(oid: str, drug: str | None = None, **kw: object) -> Order:
    base: dict[str, object] = {"dosages": ONCE_DAILY, "authored_on": TODAY - timedelta(days=60)}
    base.update(kw)
    return Order(id=oid, drug_key=drug or f"drug-{oid}", **base)  # type: ignore[arg-type]


def fill(oid: str, day: date, days: float = 30) -> Fill:
    return Fill(id=f"f-{oid}-{day}", handed_over=day, order_id=oid, days_supply=days)


def test_a_new_patient_gets_everything_today_for_a_full_cycle_and_no_short_fill() -> None:
    """DR 2: s = (S - due) mod C. Never dispensed: due today (2026-11-22) for all three;
    the anchor 2026-11-22 + 30 = 2026-12-22 gives s = 30 mod 30 = 0: three full 30-day fills
    today, none of them a short fill, and the next pickup one cycle later."""
    plan = plan_patient("p", [order("a"), order("b"), order("c")], [], TODAY, NO_LIMIT)
    assert plan.anchor == date(2026, 12, 22)
    assert plan.short_fills == ()
    for o in plan.orders:
        assert o.next_fill == TODAY and o.quantity == 30 and o.fill_days == 30
        assert o.clarification == ()  # an ordinary claim: no SCC 47/61
        assert o.sync_date == TODAY  # on the cycle of 2026-12-22 (30 days later)
    assert [v.day for v in plan.visits] == [TODAY]
    assert plan.anchor_fills == 3


def test_an_already_synchronized_patient_refills_on_the_anchor_without_short_fills() -> None:
    """All three were filled 30 days on 2026-11-02: due 2026-12-02 together. The anchor is
    2026-12-02 (s = 0 for all), full 30-day refills on it."""
    filled = date(2026, 11, 2)
    fills = [fill(x, filled) for x in "abc"]
    plan = plan_patient("p", [order("a"), order("b"), order("c")], fills, TODAY, NO_LIMIT)
    assert plan.anchor == date(2026, 12, 2) and plan.short_fills == ()
    assert all(o.next_fill == date(2026, 12, 2) and o.quantity == 30 for o in plan.orders)


def test_a_preferred_day_still_gets_short_fills() -> None:
    """The patient asked for the 15th: due today, anchor 2026-12-15, s = 23: a 23-day short
    fill today (SCC 47, 61), then the anchor fill (SCC 48)."""
    plan = plan_patient("p", [order("a")], [], TODAY, Preferences(anchor_day=15))
    (o,) = plan.orders
    assert o.short_fill and o.quantity == 23 and o.clarification == ("47", "61")
    short, anchor_fill = o.fills
    assert (short.day, short.days_supply) == (TODAY, 23)
    assert anchor_fill.day == date(2026, 12, 15) and anchor_fill.clarification == ("48",)
    # The anchor fill is paid from 2026-11-22 + ceil(0.8 x 23) = + 19 = 2026-12-11.
    assert anchor_fill.earliest == date(2026, 12, 11)


def test_a_fill_due_within_the_window_after_a_pickup_is_dispensed_at_it() -> None:
    """Anchor 2026-12-10 (established). Drug b was filled 30 days on 2026-11-12: due
    2026-12-12, 2 days after the pickup (window 3), paid from 2026-11-12 + ceil(0.8 x 30) =
    2026-12-06 <= 2026-12-10: the full cycle is dispensed at the pickup, SCC 61, no short
    fill and no trip of its own (before: a 28-day short fill on 2026-12-12)."""
    prefs = Preferences(anchor_date=date(2026, 12, 10), daily_limit=None)
    fills = [fill("a", date(2026, 11, 10)), fill("b", date(2026, 11, 12))]
    orders = [order("a"), order("b")]
    plan = plan_patient("p", orders, fills, TODAY, prefs)
    b = next(o for o in plan.orders if o.order_id == "b")
    assert not b.short_fill and b.next_fill == date(2026, 12, 10) and b.quantity == 30
    assert b.clarification == ("61",) and b.earliest_fill == date(2026, 12, 6)
    assert [v.day for v in plan.visits] == [date(2026, 12, 10)]
    # With no window the old 28-day short fill comes back: (12-10 - 12-12) mod 30 = 28.
    narrow = plan_patient("p", orders, fills, TODAY, replace(prefs, window_days=0))
    b = next(o for o in narrow.orders if o.order_id == "b")
    assert b.short_fill and b.fill_days == 28


def test_the_payer_decides_how_early_a_fill_may_join_a_pickup() -> None:
    """10 tablets on 2026-11-10: due 2026-11-20, paid from 2026-11-10 + ceil(0.8 x 10) =
    2026-11-18. Anchor 2026-11-18: dispensed there, 2 days early. Anchor 2026-11-17 (3 days
    early, inside the window, but refused as too soon): a 27-day short fill on 2026-11-20."""
    today = date(2026, 11, 15)
    fills = [fill("a", date(2026, 11, 10), days=10)]
    ok = Preferences(anchor_date=date(2026, 11, 18), lead_days=0, daily_limit=None)
    (o,) = plan_patient("p", [order("a")], fills, today, ok).orders
    assert o.earliest_fill == date(2026, 11, 18)
    assert o.next_fill == date(2026, 11, 18) and not o.short_fill and o.clarification == ("61",)
    early = Preferences(anchor_date=date(2026, 11, 17), lead_days=0, daily_limit=None)
    (o,) = plan_patient("p", [order("a")], fills, today, early).orders
    assert o.short_fill and o.next_fill == date(2026, 11, 20) and o.fill_days == 27


def test_eye_drops_are_paid_at_seventy_percent() -> None:
    """A bottle lasting 25 days, dispensed 2026-11-01: eye drops paid from 2026-11-01 +
    ceil(0.7 x 25) = + 18 = 2026-11-19; at 0.80, + ceil(20) = 2026-11-21 (DR 2)."""
    today = date(2026, 11, 15)
    fills = [fill("a", date(2026, 11, 1), days=25)]
    drops = order("a", form=OPHTHALMIC)
    prefs = Preferences(lead_days=0, daily_limit=None)
    (o,) = plan_patient("p", [drops], fills, today, prefs).orders
    assert o.earliest_fill == date(2026, 11, 19)
    (o,) = plan_patient("p", [order("a")], fills, today, prefs).orders
    assert o.earliest_fill == date(2026, 11, 21)
    stricter = Preferences(lead_days=0, daily_limit=None, form_thresholds=())
    (o,) = plan_patient("p", [drops], fills, today, stricter).orders
    assert o.earliest_fill == date(2026, 11, 21)
    # Exact arithmetic: 0.8 x 30 is 24, not 24.000000000000004 rounded up to 25.
    half = Preferences(lead_days=0, daily_limit=None, refill_threshold=Fraction(4, 5))
    (o,) = plan_patient("p", [order("a")], [fill("a", date(2026, 11, 1))], today, half).orders
    assert o.earliest_fill == date(2026, 11, 25)


def test_a_pack_that_cannot_join_the_cycle_is_dispensed_on_its_own_date() -> None:
    """A 28-tablet pack, 1 a day, on a 30-day cycle: covering a cycle takes 2 packs = 56 days
    and the refill 30 days later is at 30/56 = 54% used, refused (ceil(0.8 x 56) = 45 > 30);
    one pack a cycle leaves 2 days without tablets. So it is dispensed on its own date: one
    pack (28 tablets, 28 days), next refill 2026-11-22 + 28 = 2026-12-20, paid from + ceil(0.8
    x 28) = + 23 = 2026-12-15 (domain.md sections 2 and 7: unit-of-use packs are not split).
    On a 28-day cycle one pack refills every 28 days (23 <= 28): synchronized, no short fill
    needed when it is due today."""
    pack = order("pill", package_size=28.0)
    plan = plan_patient("p", [pack, order("a")], [], TODAY, NO_LIMIT)
    p = next(o for o in plan.orders if o.order_id == "pill")
    assert p.synced and p.own_date and p.quantity == 28 and p.fill_days == 28
    assert "own date" in p.reason and p.sync_date is None
    assert p.fills[1].day == date(2026, 12, 20)
    assert p.fills[1].earliest == date(2026, 12, 15)
    plan = plan_patient("p", [pack], [], TODAY, Preferences(cycle_days=28, daily_limit=None))
    (p,) = plan.orders
    assert not p.own_date and not p.short_fill and p.quantity == 28


def test_an_own_date_refill_that_can_reach_the_pickups_is_planned_as_the_short_fill() -> None:
    """Atorvastatin 2 tablets twice a day (4 a day) from bottles of 60 = 15 days a bottle,
    never dispensed (due today, 2026-11-22), 28-day cycle, pickups from 2026-11-29 (the
    29th): s = 7. One bottle bills 15 days, paid again after ceil(0.8 x 15) = 12 > 7 days:
    refused; to the pickup after it (s + C = 35 days) 3 bottles = 45 days, paid after
    ceil(0.8 x 45) = 36 > 35: refused. So one bottle today on its own date (DR 2, refill too
    soon). Its refill on 2026-11-22 + 15 = 2026-12-07 is (2026-11-29 - 2026-12-07) mod 28 = 20
    days before a pickup: 2 bottles (30 days, paid after 24 > 20) refused; 48 days to
    2026-11-29 + 56 = 2027-01-24: 4 bottles = 240 tablets = 60 days, paid after
    ceil(0.8 x 60) = 48 <= 48: the short fill (SCC 47, 61), earliest 2026-11-22 +
    ceil(0.8 x 15) = 2026-12-04. docs/dispensing-rules.md, "Refill-too-soon wins"."""
    twice = (Dosage(dose=2.0, frequency=2.0, period_days=1.0),)
    statin = order("statin", dosages=twice, package_size=60.0)
    prefs = Preferences(
        cycle_days=28, anchor_day=29, lead_days=0, tolerance_days=0, daily_limit=None
    )
    (o,) = plan_patient("p", [statin], [], TODAY, prefs).orders
    assert o.own_date and not o.short_fill
    today_fill, onward = o.fills
    assert (today_fill.day, today_fill.quantity, today_fill.days_supply) == (TODAY, 60, 15)
    assert (onward.day, onward.quantity, onward.days_supply) == (date(2026, 12, 7), 240, 60)
    assert onward.label == "short fill" and onward.clarification == ("47", "61")
    assert onward.earliest == date(2026, 12, 4)
    assert o.sync_date == date(2027, 1, 24)
    # Carried out, the re-plan's next fill is the short fill the plan said.
    done = Fill(id="f1", handed_over=TODAY, order_id="statin", days_supply=15, quantity=60)
    (again,) = plan_patient("p", [statin], [done], TODAY, prefs).orders
    assert again.short_fill and (again.next_fill, again.quantity) == (date(2026, 12, 7), 240)
    assert again.sync_date == date(2027, 1, 24)


def test_an_insulin_carton_is_not_short_filled_into_a_refill_too_soon() -> None:
    """A carton of 1500 units at 40 units a day lasts floor(1500 / 40) = 37 days; filled
    2026-10-19 for 37 days: due 2026-11-25, paid from 2026-10-19 + ceil(0.8 x 37) = + 30 =
    2026-11-18. The patient wants the 5th (2026-12-05): a short fill of 10 days is a whole
    carton lasting 37, and the anchor fill 10 days later would be at 27% used (the payer wants
    30 days): refused. So the carton goes out on its run-out date, 2026-11-25, not short
    filled, and joins the pickups later (domain.md section 7: packs lasting longer than a cycle
    are carried on the anchor of the cycle in which they run out when the payer pays then, at
    most a quarter of their days early, floor(37 / 4) = 9):
    - 2026-11-25 + 37 = 2027-01-01; the pickup before it is 2026-12-05, 27 days early > 9:
      handed over on 2027-01-01 itself;
    - 2027-01-01 + 37 = 2027-02-07; the pickup 2027-02-03 is 4 days early <= 9 and paid from
      2027-01-01 + 30 = 2027-01-31: handed over on the pickup, 2027-02-03, where it joins."""
    insulin = order("ins", dosages=(Dosage(40.0, 1.0, 1.0),), package_size=1500.0)
    fills = [Fill("f", date(2026, 10, 19), "ins", days_supply=37)]
    plan = plan_patient("p", [insulin], fills, TODAY, Preferences(anchor_day=5, daily_limit=None))
    (o,) = plan.orders
    assert not o.short_fill and "run-out date" in o.reason
    assert o.next_fill == date(2026, 11, 25) and o.quantity == 1500 and o.fill_days == 37
    assert o.earliest_fill == TODAY  # paid since 2026-11-18; nothing is planned in the past
    assert o.carrying[:2] == (date(2027, 1, 1), date(2027, 2, 3))
    assert o.sync_date == date(2027, 2, 3)
    for planned in o.fills:
        assert planned.day >= planned.earliest


def test_short_fills_due_close_together_share_one_trip() -> None:
    """Anchor 2026-12-12 (the 12th); a due 2026-11-27, b due 2026-11-29 (2 days later, inside
    the 3-day window, and paid from 2026-10-30 + 24 = 2026-11-23): one trip on 2026-11-27 with
    both short fills, 15 days for a and 13 for b (b's 2 days on hand carry over)."""
    fills = [fill("a", date(2026, 10, 28)), fill("b", date(2026, 10, 30))]
    prefs = Preferences(anchor_day=12, daily_limit=None)
    orders = [order("a"), order("b")]
    plan = plan_patient("p", orders, fills, TODAY, prefs)
    a, b = plan.orders
    assert a.short_fill and b.short_fill
    assert a.next_fill == b.next_fill == date(2026, 11, 27)
    assert (a.fill_days, b.fill_days) == (15, 13)
    assert [v.day for v in plan.transition_visits] == [date(2026, 11, 27)]
    alone = plan_patient("p", orders, fills, TODAY, replace(prefs, window_days=1))
    assert len(alone.transition_visits) == 2  # 2 days apart: a 1-day window keeps two trips


def test_a_trip_on_a_closed_day_moves_to_the_previous_open_day_the_payer_accepts() -> None:
    """Closed Sundays. a due Sunday 2026-11-29 (filled 30 days 2026-10-30, paid from
    2026-10-30 + 24 = 2026-11-23); the patient wants the 12th: the 13-day short fill moves
    to Saturday 2026-11-28 (the day on hand carries over: still 13 days, no gap)."""
    prefs = Preferences(anchor_day=12, closed_weekdays=frozenset({6}), daily_limit=None)
    (o,) = plan_patient("p", [order("a")], [fill("a", date(2026, 10, 30))], TODAY, prefs).orders
    assert o.next_fill == date(2026, 11, 28) and o.fill_days == 13 and o.gap_days == 0


def test_nothing_is_handed_over_before_the_pharmacy_next_opens() -> None:
    """Closed Saturdays and Sundays; 6 days filled Monday 2026-11-16 run out today, Sunday
    2026-11-22. The first possible hand-over is Monday 2026-11-23; the patient wants the 10th:
    a short fill of 2026-12-10 - 2026-11-23 = 17 days on Monday."""
    prefs = Preferences(anchor_day=10, closed_weekdays=frozenset({5, 6}), daily_limit=None)
    fills = [fill("a", date(2026, 11, 16), days=6)]
    (o,) = plan_patient("p", [order("a")], fills, TODAY, prefs).orders
    assert o.next_fill == date(2026, 11, 23) and o.fill_days == 17


def test_a_short_fill_handed_over_late_is_sized_so_that_its_refill_is_paid() -> None:
    """Closed Saturdays and Sundays, 28-day cycle, anchor Friday 2026-12-11 (b refills on it).
    a: 4 tablets a day from packs of 28 (7 days a pack), 7 days filled today (Sunday
    2026-11-22): due Sunday 2026-11-29, paid from 2026-11-22 + ceil(0.8 x 7) = + 6 =
    Saturday 2026-11-28, so Friday 2026-11-27 is too soon and the fill goes out Monday
    2026-11-30 (1 day without supply, unavoidable). From Monday, 11 days to the pickup take
    2 packs = 14 days, and the anchor refill would be paid only from 2026-11-30 + ceil(0.8 x
    14) = + 12 = 2026-12-12 > 2026-12-11: refused (NCPDP 79; on Sunday the same 2 packs would
    have been paid on 2026-12-11). So the short fill reaches the pickup after it, 2027-01-08:
    39 days take ceil(39 x 4 / 28) = 6 packs = 168 tablets = 42 days, paid again from
    2026-11-30 + ceil(0.8 x 42) = + 34 = 2027-01-03 <= 2027-01-08 (DR 2, refill too soon;
    docs/dispensing-rules.md section 6, "Refill-too-soon wins over the sync"). Then the
    cycle's 4 packs (112 tablets, 28 days) on 2027-01-08."""
    prefs = Preferences(
        cycle_days=28,
        anchor_date=date(2026, 12, 11),
        closed_weekdays=frozenset({5, 6}),
        lead_days=0,
        daily_limit=None,
    )
    packs = order("a", dosages=(Dosage(4.0, 1.0, 1.0),), package_size=28.0)
    fills = [fill("a", TODAY, days=7), fill("b", date(2026, 11, 13), days=28)]
    plan = plan_patient("p", [packs, order("b")], fills, TODAY, prefs)
    a, b = plan.orders
    assert plan.anchor == date(2026, 12, 11) and b.next_fill == date(2026, 12, 11)
    assert a.short_fill and a.next_fill == date(2026, 11, 30) and a.gap_days == 1
    assert (a.quantity, a.fill_days, a.sync_date) == (168, 42, date(2027, 1, 8))
    anchor_fill = a.fills[1]
    assert (anchor_fill.day, anchor_fill.quantity, anchor_fill.days_supply) == (
        date(2027, 1, 8),
        112,
        28,
    )
    assert anchor_fill.earliest == date(2027, 1, 3)


def test_a_full_day_sends_the_next_patient_elsewhere() -> None:
    """Due today with nothing dispensed: the natural anchor 2026-12-22 has 0 short fills.
    With 2 pickups already planned there and a limit of 2 the patient goes to the best open
    day left: 2026-11-29 (a 7-day short fill today, one trip), the first day of the window."""
    load = {date(2026, 12, 22): 2}
    prefs = Preferences(daily_limit=2)
    plan = plan_patient("p", [order("a")], [], TODAY, prefs, load=load)
    assert plan.anchor == date(2026, 11, 29) and plan.orders[0].fill_days == 7
    roomy = plan_patient("p", [order("a")], [], TODAY, Preferences(daily_limit=3), load=load)
    assert roomy.anchor == date(2026, 12, 22) and not roomy.short_fills


def test_equally_good_days_prefer_the_emptiest() -> None:
    """a runs out 2026-12-02, b 2026-12-17. Anchor 12-02: b short-filled (12-02 - 12-17) mod
    30 = 15 days; anchor 12-17: a short-filled 15 days. One short fill, one extra trip and 15
    days either way: the earlier day wins, unless it already has more pickups planned."""
    fills = [fill("a", date(2026, 11, 2)), fill("b", date(2026, 11, 17))]
    prefs = Preferences(daily_limit=None)
    first = plan_patient("p", [order("a"), order("b")], fills, TODAY, prefs)
    assert first.anchor == date(2026, 12, 2)
    busy = {date(2026, 12, 2): 5, date(2026, 12, 17): 4}
    second = plan_patient("p", [order("a"), order("b")], fills, TODAY, prefs, load=busy)
    assert second.anchor == date(2026, 12, 17)
    assert [o.fill_days for o in second.short_fills] == [15]


def test_no_pickup_is_counted_for_an_anchor_with_nothing_to_dispense() -> None:
    """Filled 2026-11-20 for 90 days: due 2027-02-18. The 1st wanted: 2026-12-01 has nothing
    to dispense, nor 2027-01-01/2027-01-30; the 11-day short fill on 2027-02-18 joins the
    pickup of 2027-03-01 (2026-12-01 + 3 x 30), which becomes the anchor."""
    fills = [fill("a", date(2026, 11, 20), days=90)]
    plan = plan_patient("p", [order("a")], fills, TODAY, Preferences(anchor_day=1))
    (o,) = plan.orders
    assert plan.anchor is not None and o.sync_date is not None
    assert plan.anchor_fills == 1 and plan.anchor == o.sync_date == date(2027, 3, 1)
    assert o.short_fill and o.fill_days == 11


def test_a_fill_due_two_days_before_the_pickup_is_not_short_filled_when_its_tablets_cover() -> None:
    """Tolerance 0 (the default), grouping window (issue 10; docs/fill-dates.md s.1).

    Drug a: 30 tablets for 30 days on 2026-11-02, due 2026-12-02. Drug b: 30 tablets on
    2026-10-31 billed as 28 days (1 a day): by the claim due 2026-11-28, but 30 tablets at 1 a
    day last 30 days, to 2026-11-30. Pickup (anchor) 2026-11-30. b's supply in hand reaches the
    pickup: no 2-day short fill, no trip on 2026-11-28; b refills 30 on 2026-11-30, and the
    payer's earliest day still counts from the 28 days billed: 2026-10-31 + ceil(0.8 x 28) =
    + 23 days = 2026-11-23."""
    a = Fill("fa", date(2026, 11, 2), "a", quantity=Fraction(30), days_supply=30, unit="tablet")
    b = Fill("fb", date(2026, 10, 31), "b", quantity=Fraction(30), days_supply=28, unit="tablet")
    tablets = (Dosage(1, 1, 1, dose_unit="tablet"),)
    orders = [order("a", dosages=tablets), order("b", dosages=tablets)]
    prefs = Preferences(anchor_date=date(2026, 11, 30), daily_limit=None)
    plan = plan_patient("p", orders, [a, b], TODAY, prefs)
    by_id = {o.order_id: o for o in plan.orders}
    assert by_id["b"].run_out == date(2026, 11, 30)
    assert not by_id["b"].short_fill and by_id["b"].next_fill == date(2026, 11, 30)
    assert by_id["b"].quantity == 30 and by_id["b"].fills[0].earliest == date(2026, 11, 23)
    assert plan.short_fills == ()


def test_with_tolerance_0_a_fill_due_two_days_early_and_not_covered_is_short_filled() -> None:
    """The same drug b with 28 tablets for 28 days: the supply ends 2026-11-28, two days before
    the pickup. Tolerance 0 means no day without medicine: a short fill of
    s = (2026-11-30 - 2026-11-28) mod 30 = 2 days, 2 tablets, on 2026-11-28. With the
    pharmacy's tolerance at 2 days the refill waits for the pickup and the 2-day gap is said."""
    b = Fill("fb", date(2026, 10, 31), "b", quantity=Fraction(28), days_supply=28, unit="tablet")
    tablets = (Dosage(1, 1, 1, dose_unit="tablet"),)
    prefs = Preferences(anchor_date=date(2026, 11, 30), daily_limit=None)
    (o,) = plan_patient("p", [order("b", dosages=tablets)], [b], TODAY, prefs).orders
    assert o.short_fill and o.next_fill == date(2026, 11, 28) and o.quantity == 2
    (waits,) = plan_patient(
        "p", [order("b", dosages=tablets)], [b], TODAY, replace(prefs, tolerance_days=2)
    ).orders
    assert not waits.short_fill and waits.next_fill == date(2026, 11, 30)
    assert "2 day(s) without supply" in waits.reason
