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
