"""A plan's renewal Tasks reconciled with the enrollment's renewal tracks
(services/renewal_tracks.py): the rules of docs/cycle.md "Re-plans feed the facts": a waiting
Task is tracked once, from the day its window opens; a Task the plan cancelled drops its
track; an answer the stored Task shows is added to its track once, dated the day it is seen.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_sync.engine.cycle_types import RenewalAnswer, RenewalTrack
from fhir_sync.services.renewal_tracks import track_plan
from mappings.profile import SID_RENEWAL_TASK

DAY = date(2026, 11, 22)


def _task(order: str, status: str, start: str = "2027-02-24") -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "identifier": [{"system": SID_RENEWAL_TASK, "value": f"pt-1:{order}"}],
        "status": status,
        "focus": {"reference": f"MedicationRequest/{order}"},
        "restriction": {"period": {"start": start, "end": "2027-03-03"}},
    }


def test_a_waiting_task_is_tracked_once_from_its_window() -> None:
    plan = [_task("mr-1", "requested"), {"resourceType": "CarePlan"}]
    once = track_plan((), plan, DAY)
    assert once == (RenewalTrack("mr-1", date(2027, 3, 3), date(2027, 2, 24)),)
    assert track_plan(once, plan, date(2026, 12, 1)) == once


def test_a_window_already_open_is_requested_the_day_the_plan_is_tracked() -> None:
    [track] = track_plan((), [_task("mr-1", "requested", start="2026-11-01")], DAY)
    assert track.requested_on == DAY


def test_a_cancelled_task_drops_its_track_and_others_stay() -> None:
    tracks = track_plan((), [_task("mr-1", "requested"), _task("mr-2", "requested")], DAY)
    later = track_plan(tracks, [_task("mr-1", "cancelled"), _task("mr-2", "requested")], DAY)
    assert [t.order_id for t in later] == ["mr-2"]
    # A cancelled Task of an order never tracked makes no track.
    assert track_plan((), [_task("mr-3", "cancelled")], DAY) == ()


def test_an_answer_the_task_shows_is_added_once() -> None:
    tracks = track_plan((), [_task("mr-1", "requested")], DAY)
    seen = date(2027, 2, 26)
    answered = track_plan(tracks, [_task("mr-1", "rejected")], seen)
    assert answered[0].answers == ((seen, RenewalAnswer.REJECTED),)
    assert track_plan(answered, [_task("mr-1", "rejected")], date(2027, 3, 1)) == answered
