"""What check-in answers and plan differences mean, worked by hand.

Source (../shared/domain.md section 1): the pre-pickup call asks about therapy changes, doctor
visits and hospital stays; section 6: discontinued drugs refilled, react to EHR status and
dose changes; section 3: SCC 03 is a vacation supply.
"""

from __future__ import annotations

from datetime import date

from fhir_sync.engine.checkin import CheckInAnswers, PickupChoice, interpret_check_in
from fhir_sync.engine.cycle_types import CycleSettings, RenewalAnswer, RenewalTrack, Stop
from fhir_sync.engine.plan_changes import (
    PlannedOrder,
    diff_plans,
    planned_orders,
    renewals_answered,
    stops_in,
)
from fhir_sync.engine.types import Dosage, Order, OrderPlan, PatientPlan

PICKUP = date(2026, 12, 30)
CALL = date(2026, 12, 23)
SETTINGS = CycleSettings()


def test_all_well_changes_nothing() -> None:
    answers = CheckInAnswers(
        CALL, taking_as_directed=True, missed_doses=False, hospital_visit=False,
        new_medicines=False, stopped_or_changed=False, side_effects=False,
        pickup=PickupChoice.KEEP, stop_program=False,
    )  # fmt: skip
    result = interpret_check_in(answers, PICKUP, SETTINGS)
    assert not result.replan and result.reviews == () and not result.unenroll
    assert result.new_anchor is None and result.early_pickup is None


def test_hospital_stay_and_changed_medicines_replan_and_go_to_the_pharmacist() -> None:
    answers = CheckInAnswers(CALL, hospital_visit=True, stopped_or_changed=True)
    result = interpret_check_in(answers, PICKUP, SETTINGS)
    assert result.replan
    assert [r.kind for r in result.reviews] == ["hospital-visit", "stopped-or-changed"]


def test_adherence_answers_are_reviews_without_a_replan() -> None:
    answers = CheckInAnswers(CALL, taking_as_directed=False, missed_doses=True, side_effects=True)
    result = interpret_check_in(answers, PICKUP, SETTINGS)
    assert not result.replan
    assert [r.kind for r in result.reviews] == ["not-as-directed", "missed-doses", "side-effects"]


def test_new_date_reanchors_and_a_past_one_is_asked_again() -> None:
    moved = CheckInAnswers(CALL, pickup=PickupChoice.NEW_DATE, new_date=date(2027, 1, 4))
    assert interpret_check_in(moved, PICKUP, SETTINGS).new_anchor == date(2027, 1, 4)
    past = CheckInAnswers(CALL, pickup=PickupChoice.NEW_DATE, new_date=date(2026, 12, 1))
    result = interpret_check_in(past, PICKUP, SETTINGS)
    assert result.new_anchor is None and result.reviews[0].kind == "new-date"


def test_vacation_over_the_pickup_moves_this_pickup_to_the_day_before_leaving() -> None:
    # Away 2026-12-26 to 2027-01-05 over the 12-30 pickup: pick up 12-25.
    away = CheckInAnswers(
        CALL, pickup=PickupChoice.AWAY, away_from=date(2026, 12, 26), away_until=date(2027, 1, 5)
    )
    assert interpret_check_in(away, PICKUP, SETTINGS).early_pickup == date(2026, 12, 25)
    # Closed on Fridays (4): 12-25 is a Friday -> Thursday 12-24.
    closed = CycleSettings(closed_weekdays=frozenset({4}))
    assert interpret_check_in(away, PICKUP, closed).early_pickup == date(2026, 12, 24)
    # Back before the pickup: nothing to do.
    short = CheckInAnswers(
        CALL, pickup=PickupChoice.AWAY, away_from=date(2026, 12, 24), away_until=date(2026, 12, 28)
    )
    result = interpret_check_in(short, PICKUP, SETTINGS)
    assert result.early_pickup is None and result.reviews == ()


def test_stop_the_program_unenrolls_and_tells_the_pharmacist() -> None:
    result = interpret_check_in(CheckInAnswers(CALL, stop_program=True), PICKUP, SETTINGS)
    assert result.unenroll and result.reviews[0].kind == "stop-program"


def test_delivery_is_noted() -> None:
    answers = CheckInAnswers(CALL, pickup=PickupChoice.DELIVERY)
    assert interpret_check_in(answers, PICKUP, SETTINGS).delivery


def po(oid: str, **kw: object) -> PlannedOrder:
    base: dict[str, object] = {
        "order_id": oid,
        "medication": f"drug {oid}",
        "therapy": f"t-{oid}",
        "drug_key": f"k-{oid}",
        "active": True,
        "daily_dose": 1.0,
        "prescriber": "Practitioner/dr1",
    }
    base.update(kw)
    return PlannedOrder(**base)  # type: ignore[arg-type]


def kinds(changes: tuple) -> list[tuple[str | None, str]]:
    return [(c.order_id, c.kind) for c in changes]


def test_no_change_no_review() -> None:
    assert diff_plans([po("a"), po("b")], [po("a"), po("b")]) == ()


def test_new_stopped_dose_prescriber_and_prn_changes() -> None:
    before = [po("a"), po("b"), po("c"), po("d")]
    after = [
        po("a", daily_dose=2.0),  # dose doubled
        po("b", active=False),  # stopped in the EHR
        po("c", prescriber="Practitioner/dr2"),
        po("d", as_needed=True),
        po("e", prescriber="Practitioner/dr9"),  # new order from a new prescriber
    ]
    assert kinds(diff_plans(before, after)) == [
        ("a", "dose-changed"),
        ("b", "stopped"),
        ("c", "new-prescriber"),
        ("d", "newly-prn"),
        ("e", "new-order"),
        ("e", "new-prescriber"),
    ]


def test_new_order_for_the_same_therapy_replaces_and_names_the_strength_change() -> None:
    # atorvastatin 20 mg (order a) replaced by atorvastatin 40 mg (order a2): not "stopped".
    before = [po("a", therapy="atorvastatin", drug_key="617312")]
    after = [po("a2", therapy="atorvastatin", drug_key="617318")]
    assert kinds(diff_plans(before, after)) == [
        ("a2", "order-replaced"),
        ("a2", "strength-changed"),
    ]


def test_stops_become_facts_for_the_cycle() -> None:
    changes = diff_plans([po("a"), po("b")], [po("a")])
    assert stops_in(changes, CALL) == (Stop("b", CALL),)


def test_planned_orders_reads_the_plan_and_the_orders() -> None:
    orders = [
        Order("a", "k1", dosages=(Dosage(1.0, 1.0, 1.0),)),
        Order("b", "k2", dosages=(Dosage(1.0, 1.0, 1.0, as_needed=True),)),
        Order("c", "k3", status="stopped"),
    ]
    plan = PatientPlan("p1", CALL, 30, PICKUP, (OrderPlan("a", True, "synced", daily_dose=1.0),))
    got = planned_orders(plan, orders, names={"a": "atorvastatin"})
    assert [(o.order_id, o.medication, o.active, o.as_needed, o.daily_dose) for o in got] == [
        ("a", "atorvastatin", True, False, 1.0),
        ("b", "k2", True, True, None),
        ("c", "k3", False, False, None),
    ]


def test_a_new_order_for_the_same_therapy_completes_its_renewal() -> None:
    # Renewal of atorvastatin (order a) requested 12-07; on 12-15 order a2 (same therapy, a
    # new prescription) arrives: the renewal is completed that day. Metformin's stays open.
    before = [po("a", therapy="atorvastatin"), po("m", therapy="metformin")]
    after = [*before, po("a2", therapy="atorvastatin")]
    tracks = (
        RenewalTrack("a", PICKUP, date(2026, 12, 7)),
        RenewalTrack("m", PICKUP, date(2026, 12, 7)),
    )
    atorvastatin, metformin = renewals_answered(tracks, before, after, date(2026, 12, 15))
    assert atorvastatin.answers == ((date(2026, 12, 15), RenewalAnswer.COMPLETED),)
    assert metformin.answers == ()
    # Already completed: not completed twice.
    again = renewals_answered((atorvastatin,), before, after, date(2026, 12, 16))
    assert again == (atorvastatin,)
