"""Worked examples of the cycle's rules, each date worked out by hand beside the assertion.

Sources (../shared/domain.md): section 1, APhA ABM (a call 3-7 days before, a set pickup day),
NCPA timeline (check-in days 20-23, appointment day 30), BestRx ("ready" 3 days early);
section 6 (renewals ignored: send early, track, escalate; discontinued drugs refilled;
returned to stock).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from fhir_sync.engine.cycle import derive_day, derive_days, item_id, renewal_age
from fhir_sync.engine.cycle_types import (
    Change,
    ChangeSet,
    Contact,
    ContactOutcome,
    Cycle,
    CycleFill,
    CycleSettings,
    Enrollment,
    ItemKind,
    PickupStatus,
    PrepStatus,
    RenewalAnswer,
    RenewalTrack,
    Stop,
)

ANCHOR = date(2026, 12, 30)  # a Wednesday
PLANNED = date(2026, 12, 1)
SETTINGS = CycleSettings()
FILLS = (
    CycleFill("mr-a", "atorvastatin 20 MG Oral Tablet", 30, "tablet", 30, date(2026, 12, 23)),
    CycleFill("mr-b", "metformin 500 MG Oral Tablet", 60, "tablet", 30, date(2026, 12, 23)),
)


def enrollment(**kw: object) -> Enrollment:
    cycle = Cycle(anchor=ANCHOR, fills=FILLS, planned_on=PLANNED)
    base: dict[str, object] = {"patient_id": "p1", "cycle_days": 30, "cycles": (cycle,)}
    base.update(kw)
    return Enrollment(**base)  # type: ignore[arg-type]


def with_cycle(**kw: object) -> Enrollment:
    return enrollment(cycles=(replace(Cycle(ANCHOR, FILLS, PLANNED), **kw),))  # type: ignore[arg-type]


def kinds_by_day(e: Enrollment, first: date, last: date, s: CycleSettings = SETTINGS) -> dict:
    out: dict[date, list[str]] = {}
    for item in derive_days(e, first, last, s):
        out.setdefault(item.day, []).append(item.kind.value)
    return {d: sorted(k) for d, k in out.items()}


def test_outreach_lead_days_then_preparation_prep_days_then_pickup_on_the_anchor() -> None:
    # lead 7: 2026-12-30 - 7 = 2026-12-23; prep 3: 2026-12-30 - 3 = 2026-12-27.
    assert kinds_by_day(enrollment(), PLANNED, ANCHOR) == {
        date(2026, 12, 23): ["outreach"],
        date(2026, 12, 27): ["prepare"],
        date(2026, 12, 30): ["pickup"],
    }
    assert derive_day(enrollment(), date(2026, 12, 22), SETTINGS) == ()
    (outreach,) = derive_day(enrollment(), date(2026, 12, 23), SETTINGS)
    assert outreach.id == "p1:outreach:2026-12-30"
    assert outreach.id == item_id("p1", ItemKind.OUTREACH, ANCHOR)


def test_preparation_due_on_a_closed_day_happens_the_open_day_before() -> None:
    # 2026-12-27 is a Sunday; closed on Sundays (6) -> Saturday 2026-12-26.
    closed = CycleSettings(closed_weekdays=frozenset({6}))
    (prep,) = [i for i in derive_days(enrollment(), PLANNED, ANCHOR, closed) if i.kind == "prepare"]
    assert prep.day == date(2026, 12, 26)


def test_a_cycle_planned_late_gets_its_call_the_day_it_is_planned() -> None:
    # A first, short cycle known only on 2026-12-26: the call cannot be on 12-23, so 12-26;
    # preparation stays on 12-27.
    e = with_cycle(planned_on=date(2026, 12, 26))
    assert kinds_by_day(e, PLANNED, ANCHOR) == {
        date(2026, 12, 26): ["outreach"],
        date(2026, 12, 27): ["prepare"],
        date(2026, 12, 30): ["pickup"],
    }


def test_no_answer_retries_the_next_day_up_to_the_count_then_the_pharmacist_decides() -> None:
    # retries 2: no answer 12-23 -> retry 12-24; no answer 12-24 -> retry 12-25;
    # no answer 12-25 (3 failures > 2 retries) -> "unreached" 12-26.
    calls = tuple(
        Contact(ANCHOR, date(2026, 12, d), ContactOutcome.NO_ANSWER) for d in (23, 24, 25)
    )
    got = kinds_by_day(enrollment(contacts=calls), date(2026, 12, 23), date(2026, 12, 26))
    assert got == {
        date(2026, 12, 23): ["outreach"],
        date(2026, 12, 24): ["call-retry"],
        date(2026, 12, 25): ["call-retry"],
        date(2026, 12, 26): ["unreached"],
    }
    ids = [i.id for i in derive_days(enrollment(contacts=calls), PLANNED, ANCHOR, SETTINGS)]
    assert "p1:call-retry:2026-12-30:1" in ids and "p1:call-retry:2026-12-30:2" in ids


def test_reached_on_the_retry_ends_the_calls() -> None:
    calls = (
        Contact(ANCHOR, date(2026, 12, 23), ContactOutcome.NO_ANSWER),
        Contact(ANCHOR, date(2026, 12, 24), ContactOutcome.REACHED),
    )
    got = kinds_by_day(enrollment(contacts=calls), date(2026, 12, 23), date(2026, 12, 26))
    assert got == {date(2026, 12, 23): ["outreach"], date(2026, 12, 24): ["call-retry"]}


def test_wrong_number_asks_for_the_number_and_retries() -> None:
    calls = (Contact(ANCHOR, date(2026, 12, 23), ContactOutcome.WRONG_NUMBER),)
    got = kinds_by_day(enrollment(contacts=calls), date(2026, 12, 24), date(2026, 12, 24))
    assert got == {date(2026, 12, 24): ["call-retry", "update-contact"]}


def test_no_show_follows_up_next_day_and_returns_to_stock_after_ten_days() -> None:
    # No-show 12-30 -> follow-up call 12-31; never picked up -> return to stock
    # 12-30 + 10 = 2027-01-09, and the next cycle is planned that day for 12-30 + 30 = 2027-01-29.
    e = with_cycle(outcomes=((ANCHOR, PickupStatus.NO_SHOW),))
    items = derive_days(e, ANCHOR, date(2027, 1, 31), SETTINGS)
    assert [(i.day, i.kind.value) for i in items] == [
        (date(2026, 12, 30), "pickup"),
        (date(2026, 12, 31), "no-show-follow-up"),
        (date(2027, 1, 9), "return-to-stock"),
        (date(2027, 1, 9), "roll-forward"),
    ]
    assert items[-1].next_anchor == date(2027, 1, 29)


def test_late_pickup_after_a_no_show_is_not_returned_to_stock() -> None:
    # No-show 12-30, came 2027-01-02 (within 10 days) with dispenses recorded that day.
    e = with_cycle(
        outcomes=((ANCHOR, PickupStatus.NO_SHOW), (date(2027, 1, 2), PickupStatus.FULFILLED)),
        dispensed_on=date(2027, 1, 2),
    )
    got = kinds_by_day(e, date(2026, 12, 31), date(2027, 1, 31))
    assert got == {date(2026, 12, 31): ["no-show-follow-up"], date(2027, 1, 2): ["roll-forward"]}


def test_dispenses_recorded_roll_forward_to_the_same_anchor() -> None:
    e = with_cycle(outcomes=((ANCHOR, PickupStatus.FULFILLED),), dispensed_on=ANCHOR)
    roll = [i for i in derive_day(e, ANCHOR, SETTINGS) if i.kind == ItemKind.ROLL_FORWARD]
    assert roll[0].next_anchor == date(2027, 1, 29)  # 2026-12-30 + 30


def test_a_pickup_no_dispense_confirms_is_flagged_after_two_days() -> None:
    # Picked up 12-30, no dispense: flagged 12-30 + 2 = 2027-01-01; no roll forward yet.
    e = with_cycle(outcomes=((ANCHOR, PickupStatus.FULFILLED),))
    got = kinds_by_day(e, date(2026, 12, 31), date(2027, 2, 28))
    assert got == {date(2027, 1, 1): ["unconfirmed-pickup"]}


def renewal(**kw: object) -> RenewalTrack:
    base: dict[str, object] = {
        "order_id": "mr-a",
        "needed_by": ANCHOR,
        "requested_on": date(2026, 12, 7),  # a Monday
    }
    base.update(kw)
    return RenewalTrack(**base)  # type: ignore[arg-type]


def renewal_days(track: RenewalTrack, s: CycleSettings = SETTINGS) -> list[tuple[date, str]]:
    items = derive_days(enrollment(renewals=(track,)), PLANNED, ANCHOR, s)
    return [(i.day, i.kind.value) for i in items if i.kind.value.startswith("renewal")]


def test_unanswered_renewal_is_sent_again_then_escalated_on_business_days() -> None:
    # Requested Mon 12-07; 3 business days = Tue 8, Wed 9, Thu 10 -> sent again Fri 12-11;
    # 2 more business days = Mon 14, Tue 15 -> escalated Wed 12-16.
    assert renewal_days(renewal()) == [
        (date(2026, 12, 11), "renewal-resend"),
        (date(2026, 12, 16), "renewal-escalate"),
    ]
    (escalated,) = derive_day(enrollment(renewals=(renewal(),)), date(2026, 12, 16), SETTINGS)
    assert escalated.urgent and escalated.id == "p1:renewal-escalate:2026-12-30:mr-a"


def test_renewal_answered_in_time_is_not_followed_up() -> None:
    accepted = renewal(answers=((date(2026, 12, 10), RenewalAnswer.ACCEPTED),))
    assert renewal_days(accepted) == []
    late = renewal(answers=((date(2026, 12, 14), RenewalAnswer.COMPLETED),))
    assert renewal_days(late) == [(date(2026, 12, 11), "renewal-resend")]


def test_a_holiday_is_not_a_business_day() -> None:
    # Holiday Wed 12-09: Tue 8, Thu 10, Fri 11 -> sent again Mon 12-14.
    s = CycleSettings(holidays=frozenset({date(2026, 12, 9)}))
    assert renewal_days(renewal(), s)[0] == (date(2026, 12, 14), "renewal-resend")


def test_refused_renewal_is_an_item_for_the_pharmacist_and_holds_the_preparation() -> None:
    refused = renewal(answers=((date(2026, 12, 9), RenewalAnswer.REJECTED),))
    assert renewal_days(refused) == [(date(2026, 12, 9), "renewal-rejected")]
    (prep,) = [
        i
        for i in derive_day(enrollment(renewals=(refused,)), date(2026, 12, 27), SETTINGS)
        if i.kind == ItemKind.PREPARE
    ]
    assert prep.status is PrepStatus.ON_HOLD
    assert prep.hold_reasons == (
        "the prescriber refused the renewal of atorvastatin 20 MG Oral Tablet",
    )


def test_preparation_waits_for_an_open_renewal_and_not_for_a_completed_one() -> None:
    def prep(track: RenewalTrack) -> PrepStatus | None:
        items = derive_day(enrollment(renewals=(track,)), date(2026, 12, 27), SETTINGS)
        return next(i.status for i in items if i.kind == ItemKind.PREPARE)

    assert prep(renewal()) is PrepStatus.ON_HOLD
    done = renewal(answers=((date(2026, 12, 20), RenewalAnswer.COMPLETED),))
    assert prep(done) is PrepStatus.REQUESTED
    assert renewal_age(renewal(), date(2026, 12, 27)) == 20  # 12-07 to 12-27
    assert renewal_age(done, date(2026, 12, 27)) is None


def test_a_stop_known_before_preparation_keeps_the_drug_out_and_after_it_pulls_it() -> None:
    early = enrollment(stops=(Stop("mr-b", date(2026, 12, 20)),))
    (prep,) = [i for i in derive_day(early, date(2026, 12, 27), SETTINGS) if i.kind == "prepare"]
    assert [f.order_id for f in prep.fills] == ["mr-a"]
    late = enrollment(stops=(Stop("mr-b", date(2026, 12, 28)),))
    (prep,) = [i for i in derive_day(late, date(2026, 12, 27), SETTINGS) if i.kind == "prepare"]
    assert [f.order_id for f in prep.fills] == ["mr-a", "mr-b"]
    (pull,) = derive_day(late, date(2026, 12, 28), SETTINGS)
    assert pull.kind is ItemKind.PULL_FILL and pull.order_id == "mr-b"
    (pickup,) = derive_day(late, ANCHOR, SETTINGS)
    assert [f.order_id for f in pickup.fills] == ["mr-a"]


def test_a_stop_learned_on_the_preparation_day_pulls_the_fill_the_same_day() -> None:
    # The Task may be written before the stop arrives that day: it keeps its content, and a
    # pull-fill item says to take the drug out.
    same_day = enrollment(stops=(Stop("mr-b", date(2026, 12, 27)),))
    items = derive_day(same_day, date(2026, 12, 27), SETTINGS)
    assert [(i.kind.value, i.order_id) for i in items] == [("prepare", None), ("pull-fill", "mr-b")]
    assert [f.order_id for f in items[0].fills] == ["mr-a", "mr-b"]


def test_vacation_supply_is_picked_up_early_with_scc_03() -> None:
    # The call on 12-23 learns the patient is away 12-26 to 2027-01-05: this pickup moves to
    # 12-25 (the day before leaving), the move agreed on 12-23. Preparation 12-25 - 3 = 12-22
    # has passed, so it is due at once, 12-23; the outreach keeps its day and identifier.
    e = with_cycle(pickup=date(2026, 12, 25), vacation=True, moved_on=date(2026, 12, 23))
    items = derive_days(e, PLANNED, date(2026, 12, 25), SETTINGS)
    assert [(i.day, i.kind.value) for i in items] == [
        (date(2026, 12, 23), "outreach"),
        (date(2026, 12, 23), "prepare"),
        (date(2026, 12, 25), "pickup"),
    ]
    assert items[0].id == "p1:outreach:2026-12-30"
    assert {f.scc for f in items[1].fills} == {"03"}


def test_nothing_is_derived_after_the_patient_leaves_the_program() -> None:
    got = kinds_by_day(enrollment(ended_on=date(2026, 12, 24)), PLANNED, ANCHOR)
    assert got == {date(2026, 12, 23): ["outreach"]}


def test_changes_of_a_replan_are_review_items_the_day_they_are_known() -> None:
    changes = ChangeSet(
        ANCHOR,
        date(2026, 12, 21),
        (Change("stopped", "mr-b", "metformin: stopped"), Change("hospital-visit", None, "x")),
    )
    items = derive_day(enrollment(change_sets=(changes,)), date(2026, 12, 21), SETTINGS)
    assert sorted(i.id for i in items) == [
        "p1:review:2026-12-30:hospital-visit",
        "p1:review:2026-12-30:stopped:mr-b",
    ]


def test_two_cycles_with_one_anchor_are_refused() -> None:
    cycle = Cycle(ANCHOR, FILLS, PLANNED)
    with pytest.raises(ValueError, match="distinct anchors"):
        derive_day(enrollment(cycles=(cycle, cycle)), ANCHOR, SETTINGS)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="prep_days"):
        CycleSettings(lead_days=3, prep_days=3)
    with pytest.raises(ValueError, match="return_to_stock_days"):
        CycleSettings(return_to_stock_days=0)
