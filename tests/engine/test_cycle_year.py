"""A year in the life of a simulated pharmacy, over the pure cycle engine: 200 patients, calls
that go unanswered, no-shows, late and missing dispenses, renewals answered late, never or
refused, stops learned on the call, vacations and patients who leave."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from fhir_sync.engine.cycle import derive_day, derive_days
from fhir_sync.engine.cycle_calendar import business_day_after
from fhir_sync.engine.cycle_types import CycleItem, CycleSettings, ItemKind, PickupStatus
from tests.engine.cycle_world import YEAR_END, YEAR_START, World, new_world

SETTINGS = CycleSettings()
PATIENTS = 200


def days() -> list[date]:
    out, day = [], YEAR_START
    while day <= YEAR_END:
        out.append(day)
        day += timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def daily() -> World:
    world = new_world(PATIENTS, SETTINGS)
    for day in days():
        world.run(day, day)
    return world


def by_kind(world: World, kind: ItemKind) -> list[CycleItem]:
    return [i for i in world.log if i.kind is kind]


def test_the_year_is_busy(daily: World) -> None:
    kinds = Counter(i.kind for i in daily.log)
    # Enough of every event for the assertions below to mean something.
    assert kinds[ItemKind.OUTREACH] > 1500
    for kind in (
        ItemKind.CALL_RETRY,
        ItemKind.UNREACHED,
        ItemKind.NO_SHOW_FOLLOW_UP,
        ItemKind.RETURN_TO_STOCK,
        ItemKind.UNCONFIRMED_PICKUP,
        ItemKind.RENEWAL_RESEND,
        ItemKind.RENEWAL_ESCALATE,
        ItemKind.RENEWAL_REJECTED,
        ItemKind.REVIEW,
        ItemKind.PULL_FILL,
    ):
        assert kinds[kind] > 0, kind


def test_nothing_is_created_twice(daily: World) -> None:
    ids = [i.id for i in daily.log]
    assert len(ids) == len(set(ids))


def test_every_active_cycle_has_one_outreach_lead_days_before_and_a_preparation(
    daily: World,
) -> None:
    outreach = {(i.patient_id, i.anchor): i for i in by_kind(daily, ItemKind.OUTREACH)}
    prep = {(i.patient_id, i.anchor): i for i in by_kind(daily, ItemKind.PREPARE)}
    pickups = by_kind(daily, ItemKind.PICKUP)
    assert len(pickups) > 1500
    for pickup in pickups:
        patient = daily.patients[pickup.patient_id]
        cycle = daily.cycle(patient, pickup.anchor)
        key = (pickup.patient_id, pickup.anchor)
        # Outreach: anchor - 7 (no closed days), or the day the cycle was planned if later.
        if not cycle.vacation:
            assert outreach[key].day == max(pickup.anchor - timedelta(days=7), cycle.planned_on)
        # Preparation: pickup - 3, or when planned; always on or before the pickup.
        assert prep[key].day == max(pickup.day - timedelta(days=3), cycle.planned_on)


def test_every_cycle_rolls_forward_on_the_same_anchor_until_the_patient_leaves(
    daily: World,
) -> None:
    for patient in daily.patients.values():
        e = patient.enrollment
        anchors = sorted(c.anchor for c in e.cycles)
        steps = {(b - a).days for a, b in itertools.pairwise(anchors)}
        assert steps <= {e.cycle_days}
        last = anchors[-1]
        if e.ended_on is None:
            # The last cycle is still running: its pickup is within a cycle and the return
            # window of the year's end.
            assert last + timedelta(days=SETTINGS.return_to_stock_days) >= YEAR_END - timedelta(
                days=e.cycle_days
            )


def test_missed_pickups_are_followed_up_and_returned_to_stock(daily: World) -> None:
    follow = {(i.patient_id, i.anchor): i.day for i in by_kind(daily, ItemKind.NO_SHOW_FOLLOW_UP)}
    restock = {(i.patient_id, i.anchor): i.day for i in by_kind(daily, ItemKind.RETURN_TO_STOCK)}
    for patient in daily.patients.values():
        for cycle in patient.enrollment.cycles:
            key = (patient.enrollment.patient_id, cycle.anchor)
            ended = patient.enrollment.ended_on
            statuses = {s: d for d, s in cycle.outcomes}
            if PickupStatus.NO_SHOW in statuses:
                no_show = statuses[PickupStatus.NO_SHOW]
                if no_show + timedelta(days=1) <= YEAR_END and (ended is None or no_show < ended):
                    assert follow[key] == no_show + timedelta(days=1)
            fulfilled = statuses.get(PickupStatus.FULFILLED)
            limit = cycle.pickup_day + timedelta(days=SETTINGS.return_to_stock_days)
            if limit <= YEAR_END and (ended is None or limit < ended):
                assert (key in restock) == (fulfilled is None or fulfilled > limit)


def test_unanswered_renewals_are_sent_again_and_escalated_on_schedule(daily: World) -> None:
    resend = {
        (i.patient_id, i.order_id, i.anchor): i.day for i in by_kind(daily, ItemKind.RENEWAL_RESEND)
    }
    checked = 0
    for patient in daily.patients.values():
        ended = patient.enrollment.ended_on
        for track in patient.enrollment.renewals:
            window = business_day_after(track.requested_on, 3, SETTINGS)
            due = business_day_after(window, 1, SETTINGS)
            if due > YEAR_END or (ended is not None and due >= ended):
                continue
            answered = [d for d, _ in track.answers if d <= window]
            key = (patient.enrollment.patient_id, track.order_id, track.needed_by)
            assert (key in resend) == (not answered)
            if not answered:
                assert resend[key] == due
                checked += 1
    assert checked > 0


def test_a_stopped_medicine_is_never_prepared_after_the_stop_is_known(daily: World) -> None:
    pulled = by_kind(daily, ItemKind.PULL_FILL)
    for item in daily.log:
        if item.kind not in (ItemKind.PREPARE, ItemKind.PICKUP):
            continue
        stops = daily.patients[item.patient_id].enrollment.stops
        stopped = {s.order_id for s in stops if s.known_on < item.day}
        assert not stopped & {f.order_id for f in item.fills}
        if item.kind is ItemKind.PICKUP:
            # Learned on the preparation day or up to the pickup: pulled from the bag that day.
            same_day = {s.order_id for s in stops if s.known_on == item.day}
            pulls = {
                i.order_id
                for i in pulled
                if (i.patient_id, i.anchor) == (item.patient_id, item.anchor)
            }
            assert same_day & {f.order_id for f in item.fills} <= pulls


def test_rerunning_any_day_gives_the_same_items(daily: World) -> None:
    logged: dict[date, set[str]] = defaultdict(set)
    for item in daily.log:
        logged[item.day].add(item.id)
    every = {i.id for i in daily.log}
    # A vacation supply agreed on the call re-dates that cycle's preparation (same identifier).
    movable = {i.id for i in daily.log if i.kind is ItemKind.PREPARE}
    for day in days()[::7]:
        again = {
            i.id
            for patient in daily.patients.values()
            for i in derive_day(patient.enrollment, day, SETTINGS)
        }
        assert again <= every
        assert logged[day] - again <= movable
        assert again - logged[day] <= movable


def final_items(world: World) -> set[str]:
    return {
        i.id
        for patient in world.patients.values()
        for i in derive_days(patient.enrollment, YEAR_START, YEAR_END, SETTINGS)
    }


def test_every_item_its_facts_call_for_was_created_once_and_no_other(daily: World) -> None:
    assert {i.id for i in daily.log} == final_items(daily)


def test_a_worker_that_falls_behind_loses_and_duplicates_nothing() -> None:
    world = new_world(PATIENTS, SETTINGS)
    last = YEAR_START - timedelta(days=1)
    for day in days():
        # Down for three days every three weeks, and on the 1st of every month.
        if day.day == 1 or day.toordinal() % 21 in (0, 1, 2):
            continue
        world.run(last + timedelta(days=1), day)
        last = day
    world.run(last + timedelta(days=1), YEAR_END)
    ids = [i.id for i in world.log]
    assert len(ids) == len(set(ids))
    assert set(ids) == final_items(world)
