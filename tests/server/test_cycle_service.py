"""The cycle's services on a real database (SQLite and PostgreSQL): the daily run stores each
day's items once, catches up missed days, and the worklist actions act on them.

Expected days worked out from docs/cycle.md's rules (APhA ABM call 3-7 days before; defaults
lead 7, prep 3, call retries 2, return to stock 10 days), not from the program's output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, insert

from fhir_sync.engine.cycle_types import ContactOutcome, PickupStatus
from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.services.worklist import (
    ActionRefusedError,
    day_worklist,
    record_contact,
    record_pickup,
    set_preparation_status,
)
from fhir_sync.store import cycle as store
from fhir_sync.store.enrollments import ENROLLMENT

ANCHOR = date(2027, 1, 29)  # a Friday
NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)


def _enroll(engine: Engine, patient_id: str, anchor: date = ANCHOR) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(ENROLLMENT).values(
                patient_id=patient_id,
                status="active",
                cycle_days=30,
                anchor_date=anchor,
                closed_weekdays="",
                lead_days=7,
                enrolled_at=NOW,
                updated_at=NOW,
                version=1,
            )
        )


def _kinds(engine: Engine, day: date) -> list[tuple[str, str]]:
    return [(e.patient_id, e.kind) for e in day_worklist(engine, day).entries]


def test_a_cycle_day_by_day_with_a_missed_day_and_a_rerun(engine: Engine) -> None:
    _enroll(engine, "p1")
    start = date(2027, 1, 20)
    run_cycle_day(engine, start)
    # Missed days: the run on the 23rd catches up the 21st and 22nd.
    summary = run_cycle_day(engine, date(2027, 1, 23))
    assert summary.days_caught_up == 2
    # Outreach lead 7 days before 01-29: 01-22.
    assert _kinds(engine, date(2027, 1, 22)) == [("p1", "outreach")]
    again = run_cycle_day(engine, date(2027, 1, 23))
    assert again.items_created == 0
    with engine.connect() as connection:
        count = store.count_items(connection)
    assert count == 1


def test_no_answer_is_called_again_next_day_then_prepared_and_picked_up(engine: Engine) -> None:
    _enroll(engine, "p2")
    for day in range(20, 23):
        run_cycle_day(engine, date(2027, 1, day))
    call = day_worklist(engine, date(2027, 1, 22)).entries[0]
    assert call.kind == "outreach" and call.resource is not None
    assert call.resource.startswith("CommunicationRequest/")
    record_contact(engine, call.item_id, ContactOutcome.NO_ANSWER, date(2027, 1, 22))
    run_cycle_day(engine, date(2027, 1, 23))
    retry = day_worklist(engine, date(2027, 1, 23)).entries
    assert [(e.kind, e.state) for e in retry] == [("call-retry", "open")]
    record_contact(engine, retry[0].item_id, ContactOutcome.REACHED, date(2027, 1, 23))
    for day in range(24, 30):
        run_cycle_day(engine, date(2027, 1, day))
    # Preparation prep 3 days before 01-29: 01-26.
    prep = day_worklist(engine, date(2027, 1, 26), groups=["preparations"]).entries
    assert [e.kind for e in prep] == ["prepare"] and prep[0].task_status == "requested"
    set_preparation_status(engine, prep[0].item_id, "in-progress", expected="requested")
    try:
        set_preparation_status(engine, prep[0].item_id, "requested")
    except ActionRefusedError:
        pass
    else:
        raise AssertionError("in-progress -> requested is not a preparation move")
    set_preparation_status(engine, prep[0].item_id, "completed")
    assert day_worklist(engine, date(2027, 1, 26)).entries[0].state == "done"
    assert _kinds(engine, ANCHOR) == [("p2", "pickup")]
    record_pickup(engine, "p2", ANCHOR, PickupStatus.FULFILLED, ANCHOR)
    # Picked up and dispensed: the next cycle keeps the anchor, 30 days on (02-28), and its
    # call is 7 days before (02-21).
    for day in range(1, 22):
        run_cycle_day(engine, date(2027, 2, day))
    assert _kinds(engine, date(2027, 2, 21)) == [("p2", "outreach")]
    assert day_worklist(engine, date(2027, 2, 21)).entries[0].pickup == date(2027, 2, 28)


def test_a_no_show_is_called_the_next_day_and_returned_to_stock_after_ten(
    engine: Engine,
) -> None:
    _enroll(engine, "p3")
    run_cycle_day(engine, date(2027, 1, 28))
    run_cycle_day(engine, ANCHOR)
    record_pickup(engine, "p3", ANCHOR, PickupStatus.NO_SHOW, ANCHOR)
    for day in range(30, 32):
        run_cycle_day(engine, date(2027, 1, day))
    assert _kinds(engine, date(2027, 1, 30)) == [("p3", "no-show-follow-up")]
    run_cycle_day(engine, date(2027, 2, 8))
    # 10 days after the pickup of 01-29: 02-08.
    assert ("p3", "return-to-stock") in _kinds(engine, date(2027, 2, 8))


def test_calls_run_out_after_the_retries_and_the_pharmacist_is_told(engine: Engine) -> None:
    """Outreach 01-22; no answer 3 times (the call and call_retries=2 more, on 01-23 and
    01-24): "not reached" goes to the pharmacist the next open day, 01-25."""
    _enroll(engine, "p4")
    run_cycle_day(engine, date(2027, 1, 22))
    for day in (22, 23, 24):
        entries = day_worklist(engine, date(2027, 1, day), groups=["calls"]).entries
        assert len(entries) == 1, day
        record_contact(engine, entries[0].item_id, ContactOutcome.NO_ANSWER, date(2027, 1, day))
        run_cycle_day(engine, date(2027, 1, day + 1))
    assert _kinds(engine, date(2027, 1, 25)) == [("p4", "unreached")]


def test_check_in_new_date_re_anchors_and_stop_unenrolls(engine: Engine) -> None:
    from fhir_sync.engine.checkin import CheckInAnswers, PickupChoice
    from fhir_sync.services.worklist import check_in

    _enroll(engine, "p5")
    _enroll(engine, "p6")
    run_cycle_day(engine, date(2027, 1, 22))
    moved = check_in(
        engine,
        "p5",
        CheckInAnswers(
            answered_on=date(2027, 1, 22), pickup=PickupChoice.NEW_DATE, new_date=date(2027, 2, 5)
        ),
    )
    assert moved.result.new_anchor == date(2027, 2, 5)
    stopped = check_in(
        engine, "p6", CheckInAnswers(answered_on=date(2027, 1, 22), stop_program=True)
    )
    assert stopped.result.unenroll
    # A review item for the pharmacist the same day (cancel what is prepared).
    assert ("p6", "review") in _kinds(engine, date(2027, 1, 22))
    for day in range(23, 30):
        run_cycle_day(engine, date(2027, 1, day))
    # p5: no preparation for 01-29 any more; its call for 02-05 is 7 days before: 01-29.
    assert ("p5", "prepare") not in _kinds(engine, date(2027, 1, 26))
    assert ("p5", "outreach") in _kinds(engine, date(2027, 1, 29))
    # p6 left the program from 01-23: nothing after.
    assert all(p != "p6" for d in range(23, 30) for p, _ in _kinds(engine, date(2027, 1, d)))


def test_a_hospital_stay_queues_a_sync_for_a_live_enrollment(engine: Engine) -> None:
    from sqlalchemy import select, update

    from fhir_sync.engine.checkin import CheckInAnswers
    from fhir_sync.services.worklist import check_in
    from fhir_sync.store.sync_requests import SYNC_REQUEST

    _enroll(engine, "p7")
    with engine.begin() as connection:
        connection.execute(
            update(ENROLLMENT)
            .where(ENROLLMENT.c.patient_id == "p7")
            .values(ehr_endpoint="http://127.0.0.1:9/fhir")
        )
    run_cycle_day(engine, date(2027, 1, 22))
    done = check_in(
        engine, "p7", CheckInAnswers(answered_on=date(2027, 1, 22), hospital_visit=True)
    )
    assert done.result.replan
    with engine.connect() as connection:
        queued = connection.execute(select(SYNC_REQUEST.c.patient_id)).scalars().all()
    assert queued == ["p7"]
    assert ("p7", "review") in _kinds(engine, date(2027, 1, 22))


def test_a_steady_day_writes_no_facts_row(engine: Engine) -> None:
    """Facts only grow by dated events (docs/cycle.md "Facts the derivation reads"): a day on
    which nothing happened to an enrollment leaves its facts row as it was (same text, same
    version), one statement marks the batch derived through the day, and the next days still
    bring their items (outreach 7 days before 01-29: 01-22)."""
    from sqlalchemy import event

    for patient in ("s1", "s2", "s3"):
        _enroll(engine, patient)
    run_cycle_day(engine, date(2027, 1, 18))
    with engine.connect() as connection:
        first = store.get_states(connection, ["s1", "s2", "s3"])
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        run_cycle_day(engine, date(2027, 1, 19))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with engine.connect() as connection:
        steady = store.get_states(connection, ["s1", "s2", "s3"])
    assert {p: (s.facts, s.version) for p, s in steady.items()} == {
        p: (s.facts, s.version) for p, s in first.items()
    }
    assert {s.derived_through for s in steady.values()} == {date(2027, 1, 19)}
    assert sum(s.startswith("update cycle_state") for s in statements) == 1
    run_cycle_day(engine, date(2027, 1, 22))
    assert sorted(_kinds(engine, date(2027, 1, 22))) == [
        ("s1", "outreach"),
        ("s2", "outreach"),
        ("s3", "outreach"),
    ]
