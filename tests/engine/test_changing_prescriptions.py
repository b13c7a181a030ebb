"""Prescriptions as they really change, controlled substances and fill history.

Each test states the pharmacist's numbers worked from the rule, with the rule's source
(../shared/domain.md sections 2, 6 and 8; 21 CFR 1306 and 1308).
"""

from __future__ import annotations

from datetime import date, timedelta

from fhir_sync.engine import ControlledPolicy, Dosage, Fill, Order, Preferences, plan_patient
from fhir_sync.engine.rules import authorization
from fhir_sync.engine.types import Bounds, Exclusion, OrderPlan, PatientPlan, Schedule

TODAY = date(2026, 11, 22)
ONCE_DAILY = (Dosage(dose=1.0, frequency=1.0, period_days=1.0),)
TWICE_DAILY = (Dosage(dose=1.0, frequency=2.0, period_days=1.0),)
DR_A = "Practitioner/a"


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def order(oid: str, drug: str = "617312", **kw: object) -> Order:
    base: dict[str, object] = {"dosages": ONCE_DAILY, "authored_on": day(-60)}
    base.update(kw)
    return Order(id=oid, drug_key=drug, **base)  # type: ignore[arg-type]


def fill(fid: str, oid: str | None, when: date, days: float = 30, **kw: object) -> Fill:
    base: dict[str, object] = {"days_supply": days, "quantity": days}
    base.update(kw)
    return Fill(id=fid, handed_over=when, order_id=oid, **base)  # type: ignore[arg-type]


def by_id(plan: PatientPlan) -> dict[str, OrderPlan]:
    return {o.order_id: o for o in plan.orders}


# --- therapy matching: domain.md 6.2 (discontinued drugs refilled), RxNorm SCD names (7) ---


def test_a_new_strength_of_the_same_ingredient_and_form_replaces_the_old_order() -> None:
    # atorvastatin 20 mg written 200 days ago and filled 20 days ago; atorvastatin 40 mg written
    # 5 days ago (2026-11-17): one statin, dose raised. Only the 40 mg is synced; the 20 mg is
    # flagged for the prescriber's confirmation.
    old = order("a20", "617312", name="atorvastatin 20 MG Oral Tablet", authored_on=day(-200))
    new = order("a40", "617311", name="atorvastatin 40 MG Oral Tablet", authored_on=day(-5))
    plan = plan_patient("p", [old, new], [fill("1", "a20", day(-20))], TODAY, Preferences())
    plans = by_id(plan)
    assert plans["a40"].synced and not plans["a20"].synced
    assert plans["a20"].exclusion is Exclusion.REPLACED
    assert plans["a20"].reason == (
        "replaced by MedicationRequest/a40 on 2026-11-17: confirm it is stopped"
    )
    assert plans["a40"].note is not None and "MedicationRequest/a20" in plans["a40"].note


def test_two_strengths_written_together_by_one_prescriber_are_one_therapy_of_two_products() -> None:
    # levothyroxine 100 mcg + 25 mcg (125 mcg a day), same prescriber, same day: both synced.
    big = order("l100", "892246", name="levothyroxine sodium 0.1 MG Oral Tablet", author=DR_A)
    small = order("l25", "966222", name="Levothyroxine Sodium 0.025 MG Oral Tablet", author=DR_A)
    plan = plan_patient("p", [big, small], [], TODAY, Preferences())
    assert {o.order_id for o in plan.synced} == {"l100", "l25"}


def test_two_strengths_filled_side_by_side_are_both_synced() -> None:
    # 100 mcg written 90 days ago, 25 mcg written 40 days ago by another prescriber; both were
    # dispensed 10 days ago, the 100 mcg on or after the 25 mcg's first fill: the patient takes
    # both, neither is a stale order.
    big = order(
        "l100", "892246", name="levothyroxine sodium 0.1 MG Oral Tablet", authored_on=day(-90)
    )
    small = order(
        "l25", "966222", name="levothyroxine sodium 0.025 MG Oral Tablet", authored_on=day(-40)
    )
    fills = [fill("1", "l100", day(-10)), fill("2", "l25", day(-10))]
    plan = plan_patient("p", [big, small], fills, TODAY, Preferences())
    assert {o.order_id for o in plan.synced} == {"l100", "l25"}


def test_an_old_strength_refilled_once_after_the_new_was_written_is_still_replaced() -> None:
    # 20 mg filled day -3, after the 40 mg was written on day -5 but before the 40 mg was ever
    # filled: a refill of habit, not a second product. Filling the 40 mg today must not turn
    # the 20 mg into a concurrent therapy.
    old = order("a20", "617312", name="atorvastatin 20 MG Oral Tablet", authored_on=day(-200))
    new = order("a40", "617311", name="atorvastatin 40 MG Oral Tablet", authored_on=day(-5))
    history = [fill("1", "a20", day(-3))]
    for fills in (history, [*history, fill("2", "a40", TODAY)]):
        plan = plan_patient("p", [old, new], fills, TODAY, Preferences())
        assert by_id(plan)["a20"].exclusion is Exclusion.REPLACED


def test_another_dose_form_is_another_therapy() -> None:
    tablet = order(
        "t", "1", name="metformin hydrochloride 500 MG Oral Tablet", authored_on=day(-90)
    )
    er = order(
        "x",
        "2",
        name="24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
        authored_on=day(-5),
    )
    plan = plan_patient("p", [tablet, er], [], TODAY, Preferences())
    assert {o.order_id for o in plan.synced} == {"t", "x"}


# --- dose change on the same product: supply on hand at the new daily dose ---


def test_a_dose_change_recounts_the_supply_on_hand_at_the_new_dose_from_its_start() -> None:
    # 30 tablets on day -10 at 1 a day would last to day +20. On day -4 a new order for the same
    # tablet says 2 a day: 24 tablets were left that day, 24 / 2 = 12 days, so they run out on
    # day -4 + 12 = day +8 (2026-11-30), not day +20.
    old = order("once", authored_on=day(-100))
    new = order("twice", dosages=TWICE_DAILY, authored_on=day(-4))
    plan = plan_patient("p", [old, new], [fill("1", "once", day(-10))], TODAY, Preferences())
    plans = by_id(plan)
    assert plans["twice"].synced and plans["twice"].run_out == date(2026, 11, 30)
    assert plans["once"].exclusion is Exclusion.REPLACED
    assert plans["once"].reason.startswith("replaced by MedicationRequest/twice on 2026-11-18")


# --- bounded courses: timing.repeat.bounds[x] / count without courseOfTherapyType ---


def test_a_twelve_day_taper_without_a_course_of_therapy_is_an_acute_course() -> None:
    taper = order("pred", bounds=(Bounds(0, days=12.0),), authored_on=day(-3))
    plan = plan_patient("p", [taper], [], TODAY, Preferences())
    (o,) = plan.orders
    assert not o.synced and o.exclusion is Exclusion.ACUTE
    # written day -3, never filled: the course runs from day -3 for 12 days, to 2026-12-01
    assert o.reason == (
        "bounded 12-day course, ending 2026-12-01 and no course of therapy stated: "
        "an acute course, not a maintenance medication"
    )


def test_a_bounded_order_stated_continuous_stays_maintenance() -> None:
    taper = order("pred", bounds=(Bounds(0, days=12.0),), course="continuous")
    assert plan_patient("p", [taper], [], TODAY, Preferences()).orders[0].synced


def test_a_titration_is_planned_on_its_maintenance_step_once_its_steps_are_over() -> None:
    # sertraline 1 tablet a day for 14 days, then 2 a day. First fill day -30: the step ended on
    # day -16, so the plan uses 2 a day: 60 tablets last 30 days.
    steps = (
        Dosage(dose=1.0, frequency=1.0, period_days=1.0, sequence=1),
        Dosage(dose=2.0, frequency=1.0, period_days=1.0, sequence=2),
    )
    titration = order("s", dosages=steps, bounds=(Bounds(1, days=14.0),))
    done = plan_patient("p", [titration], [fill("1", "s", day(-30))], TODAY, Preferences())
    (o,) = done.orders
    assert o.synced and o.daily_dose == 2.0 and o.cycle_quantity == 60
    # first fill day -5: the 14-day step runs to day +9 (2026-12-01); not synced until then
    ongoing = plan_patient("p", [titration], [fill("1", "s", day(-5))], TODAY, Preferences())
    (o,) = ongoing.orders
    assert not o.synced and o.exclusion is Exclusion.TITRATING
    assert "until 2026-12-01" in o.reason


# --- expired prescriptions: domain.md 2 (renewal when validity ends), 6.1 (send early) ---


def test_an_expired_maintenance_order_gets_a_renewal_now_needed_when_its_supply_runs_out() -> None:
    # validity ended day -7; 30 days dispensed on day -20 last to day +10 (2026-12-02): the
    # renewal is asked today and needed by 2026-12-02. The order stays in the plan.
    lapsed = order("a", validity_end=day(-7))
    plan = plan_patient("p", [lapsed], [fill("1", "a", day(-20))], TODAY, Preferences())
    (o,) = plan.orders
    assert not o.synced and o.exclusion is Exclusion.EXPIRED
    assert "a new prescription is needed" in o.reason
    assert o.renewal is not None
    assert o.renewal.due == TODAY and o.renewal.needed_by == date(2026, 12, 2)
    assert o.note == "needs a new prescription by 2026-12-02"
    assert plan.renewals == (o.renewal,)


def test_an_expired_order_out_of_supply_needs_its_renewal_today() -> None:
    plan = plan_patient("p", [order("a", validity_end=day(-7))], [], TODAY, Preferences())
    renewal = plan.orders[0].renewal
    assert renewal is not None and renewal.needed_by == TODAY == renewal.due


def test_an_expired_order_replaced_by_a_new_one_needs_no_renewal() -> None:
    old = order("old", validity_end=day(-7), authored_on=day(-400))
    new = order("new", authored_on=day(-3))
    plan = plan_patient("p", [old, new], [], TODAY, Preferences())
    assert not plan.renewals
    assert by_id(plan)["old"].exclusion is Exclusion.DUPLICATE


# --- refills by quantity: NCPDP, quantity x (1 + repeats) minus what was dispensed ---


def test_a_thirty_day_prescription_filled_as_ninety_days_asks_for_renewal_in_time() -> None:
    # 30 tablets with 5 refills authorize 30 x 6 = 180 tablets. One 90-day fill (90 tablets)
    # on day -60 leaves 90: the anchor fill on day +30 (2026-12-22) takes them all, the refill
    # after it (2027-03-22) needs a new prescription, asked 7 days before: 2027-03-15.
    # Counting dispenses alone (6 - 1 = 5 left) would never ask.
    rx = order("a", supply_quantity=30.0, supply_days=30.0, repeats_allowed=5)
    prefs = Preferences(cycle_days=90, anchor_date=day(30))
    plan = plan_patient("p", [rx], [fill("1", "a", day(-60), days=90)], TODAY, prefs)
    (o,) = plan.orders
    assert o.synced and o.sync_date == date(2026, 12, 22) and o.refills_left == 5
    assert o.renewal is not None
    assert o.renewal.needed_by == date(2027, 3, 22) and o.renewal.due == date(2027, 3, 15)
    assert "quantity (quantity x (1 + refills)) is used up before the first refill" in (
        o.renewal.reason
    )
    assert authorization(rx).total_units == 180


# --- partial fills: the owed balance of a partial refill comes first ---


def test_the_owed_balance_of_a_partial_refill_counts_as_supply_and_uses_no_refill() -> None:
    # Prescribed 30; a partial refill (RFP) of 10 on day -5 owes 20. The 10 last to day +5, the
    # 20 owed follow: supply runs out on day +25 (2026-12-17). 2 refills: 3 fills, 1 used.
    rx = order("a", supply_quantity=30.0, repeats_allowed=2)
    partial = fill("1", "a", day(-5), days=10, partial=True)
    plan = plan_patient("p", [rx], [partial], TODAY, Preferences())
    (o,) = plan.orders
    assert o.run_out == date(2026, 12, 17) and o.refills_left == 2
    assert o.note is not None and "complete the 20 owed" in o.note


def test_a_completed_partial_fill_owes_nothing() -> None:
    rx = order("a", supply_quantity=30.0)
    fills = [
        fill("1", "a", day(-5), days=10, partial=True),
        fill("2", "a", day(-4), days=20, completes_partial=True),
    ]
    (o,) = plan_patient("p", [rx], fills, TODAY, Preferences()).orders
    assert o.run_out == date(2026, 12, 17) and o.note is None  # 10 + 20 days from day -5


def test_a_partial_fill_recorded_with_the_whole_fills_days_is_not_counted_twice() -> None:
    # docs/prescription-rules.md s.6: an RFP of 10 tablets on day -5 whose claim states the
    # days supply of the whole fill (30, as NCPDP's "days supply intended"), completed (RFC)
    # with 20 tablets on day -4 also stating 30 days. 10 + 20 = 30 tablets at 1 a day last 30
    # days from day -5: supply ends day +25 (2026-12-17), not 30 + 30 = day +55.
    rx = order("a", supply_quantity=30.0)
    fills = [
        fill("1", "a", day(-5), days=30, quantity=10, partial=True),
        fill("2", "a", day(-4), days=30, quantity=20, completes_partial=True),
    ]
    (o,) = plan_patient("p", [rx], fills, TODAY, Preferences()).orders
    assert o.run_out == date(2026, 12, 17)
    # The payer dates the next refill from the partial fill for the 30 days both give:
    # day -5 + ceil(0.8 x 30) = day -5 + 24 = day +19 (2026-12-11), not from the completion.
    assert o.fills[0].earliest == date(2026, 12, 11)


# --- fills waiting for pickup and fills from elsewhere ---


def test_a_fill_waiting_in_will_call_is_supply_about_to_be_had() -> None:
    # 30 days dispensed on day -30 run out today; a 30-day refill prepared yesterday waits for
    # pickup: supply runs to day +30 (2026-12-22), no second fill is planned for today.
    rx = order("a")
    fills = [fill("1", "a", day(-30)), fill("2", "a", day(-1), pending=True)]
    (o,) = plan_patient("p", [rx], fills, TODAY, Preferences()).orders
    assert o.run_out == date(2026, 12, 22) and o.next_fill != TODAY
    assert o.note is not None and "waiting for pickup" in o.note


def test_a_fill_coded_by_ndc_or_named_alike_counts_for_the_order() -> None:
    # The order lists RxNorm 617312 and NDC 0071-0155-23. A transferred fill names another
    # pharmacy's prescription and only the NDC; another fill has only the drug's name.
    ndc = "http://hl7.org/fhir/sid/ndc|0071-0155-23"
    rx = order("a", name="atorvastatin 20 MG Oral Tablet", codes=(ndc,), repeats_allowed=5)
    transferred = fill("t", "elsewhere-rx", day(-40), drug_key=ndc, codes=())
    by_name = fill(
        "n", None, day(-10), drug_key="atorvastatin 20 mg", name="Atorvastatin 20 MG Oral Tablet"
    )
    (o,) = plan_patient("p", [rx], [transferred, by_name], TODAY, Preferences()).orders
    # day -40 + 30 = day -10 (2026-11-12); refilled that day for 30: runs out day +20
    assert o.run_out == date(2026, 12, 12)
    assert o.refills_left == 6  # neither fill was dispensed against this prescription


# --- controlled substances: 21 CFR 1306.12, 1306.22; domain.md 8 ---


def test_schedule_iii_and_iv_limits_run_from_the_date_written_not_the_validity_start() -> None:
    # written 2026-05-06, validity from 2026-08-14: six months from writing end 2026-11-06,
    # before today, so the C-IV prescription has expired (counted from the validity start it
    # would have run to 2027-02-14).
    civ = order(
        "c", schedule=Schedule.CIV, authored_on=date(2026, 5, 6), validity_start=date(2026, 8, 14)
    )
    assert authorization(civ).expires == date(2026, 11, 6)
    (o,) = plan_patient("p", [civ], [], TODAY, Preferences()).orders
    assert o.exclusion is Exclusion.EXPIRED and o.renewal is not None


def test_schedule_ii_prescriptions_written_together_are_a_series() -> None:
    # Three C-II prescriptions written day -10 with earliest-fill dates day -10, day +20, day +50
    # (21 CFR 1306.12(b)); the first was filled on day -10 for 30 days (to day +20). The second is
    # planned, not before day +20 (2026-12-12), with no renewal because the third follows; the
    # third waits for 2027-01-11; none is a duplicate.
    common: dict[str, object] = {"schedule": Schedule.CII, "repeats_allowed": 0, "author": DR_A}
    series = [
        order("s1", authored_on=day(-10), earliest_fill=day(-10), **common),
        order("s2", authored_on=day(-10), earliest_fill=day(20), **common),
        order("s3", authored_on=day(-10), earliest_fill=day(50), **common),
    ]
    plan = plan_patient("p", series, [fill("1", "s1", day(-10))], TODAY, Preferences())
    plans = by_id(plan)
    assert [o.order_id for o in plan.synced] == ["s2"]
    assert plans["s2"].next_fill is not None and plans["s2"].next_fill >= date(2026, 12, 12)
    assert plans["s2"].renewal is None
    assert plans["s1"].exclusion is plans["s3"].exclusion is Exclusion.SERIES
    assert "may be filled on or after 2027-01-11" in plans["s3"].reason
    assert not any(o.exclusion is Exclusion.DUPLICATE for o in plan.orders)


def test_the_last_of_a_schedule_ii_series_asks_for_the_renewal() -> None:
    common: dict[str, object] = {"schedule": Schedule.CII, "repeats_allowed": 0}
    series = [
        order("s1", authored_on=day(-70), earliest_fill=day(-70), **common),
        order("s2", authored_on=day(-70), earliest_fill=day(-40), **common),
    ]
    fills = [fill("1", "s1", day(-70)), fill("2", "s2", day(-40))]
    plan = plan_patient("p", series, fills, TODAY, Preferences())
    (synced,) = plan.synced
    assert synced.order_id == "s2" and synced.renewal is not None
    assert "Schedule II" in synced.renewal.reason


def test_the_controlled_substance_policy_can_leave_schedule_ii_or_all_out() -> None:
    cii = order("cii", "1", schedule=Schedule.CII, repeats_allowed=0)
    civ = order("civ", "2", schedule=Schedule.CIV, repeats_allowed=5)
    plain = order("plain", "3")
    orders = [cii, civ, plain]

    def synced(policy: ControlledPolicy) -> set[str]:
        plan = plan_patient("p", orders, [], TODAY, Preferences(controlled=policy))
        return {o.order_id for o in plan.synced}

    assert synced(ControlledPolicy.SYNC) == {"cii", "civ", "plain"}
    assert synced(ControlledPolicy.SKIP_CII) == {"civ", "plain"}
    assert synced(ControlledPolicy.SKIP_ALL) == {"plain"}
    plan = plan_patient("p", orders, [], TODAY, Preferences(controlled=ControlledPolicy.SKIP_CII))
    left_out = by_id(plan)["cii"]
    assert left_out.exclusion is Exclusion.CONTROLLED and "Schedule II" in left_out.reason


def test_a_dose_change_is_recounted_from_the_fills_when_the_old_order_was_stopped() -> None:
    # The EHR stopped the 1-a-day order when it wrote the 2-a-day one on day -4: the fill of
    # day -10 (30 tablets for 30 days) still says 1 a day, so again 24 tablets are left on
    # day -4 and last 12 days, to day +8 (2026-11-30).
    old = order("once", status="stopped", authored_on=day(-100))
    new = order("twice", dosages=TWICE_DAILY, authored_on=day(-4))
    plan = plan_patient("p", [old, new], [fill("1", "once", day(-10))], TODAY, Preferences())
    assert by_id(plan)["twice"].run_out == date(2026, 11, 30)
