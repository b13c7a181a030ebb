"""Invariants of the cycle derivation, over generated enrollments with calls, no-shows, late
dispenses, renewal answers and stops."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_sync.engine.cycle import candidates, derive_day, derive_days
from fhir_sync.engine.cycle_types import (
    ChangeSet,
    Contact,
    ContactOutcome,
    Cycle,
    CycleFill,
    CycleSettings,
    Enrollment,
    ItemKind,
    PickupStatus,
    RenewalAnswer,
    RenewalTrack,
    Stop,
)
from fhir_sync.engine.plan_changes import ChangeKind

START = date(2026, 11, 2)
ORDERS = ("mr-a", "mr-b", "mr-c", "mr-d")
ONE = timedelta(days=1)


@st.composite
def cycle_settings(draw: st.DrawFn, closed: bool = False) -> CycleSettings:
    lead = draw(st.integers(2, 10))
    return CycleSettings(
        lead_days=lead,
        prep_days=draw(st.integers(0, lead - 1)),
        call_retries=draw(st.integers(0, 3)),
        renewal_follow_up_business_days=draw(st.integers(1, 5)),
        renewal_escalation_business_days=draw(st.integers(1, 5)),
        return_to_stock_days=draw(st.integers(1, 14)),
        unconfirmed_pickup_days=draw(st.integers(1, 5)),
        closed_weekdays=draw(st.sampled_from([frozenset({6}), frozenset({5, 6})]))
        if closed
        else frozenset(),
    )


def day_near(draw: st.DrawFn, around: date, before: int, after: int) -> date:
    return around + timedelta(days=draw(st.integers(-before, after)))


@st.composite
def enrollments(draw: st.DrawFn) -> Enrollment:
    cycle_days = draw(st.sampled_from([28, 30, 90]))
    first = START + timedelta(days=draw(st.integers(0, 40)))
    count = draw(st.integers(1, 4))
    cycles, contacts = [], []
    for k in range(count):
        anchor = first + timedelta(days=k * cycle_days)
        fills = tuple(
            CycleFill(o, f"drug {o}", 30.0, "tablet", 30)
            for o in draw(st.lists(st.sampled_from(ORDERS), min_size=1, max_size=4, unique=True))
        )
        outcomes: list[tuple[date, PickupStatus]] = []
        if draw(st.booleans()):
            outcomes.append((anchor, PickupStatus.NO_SHOW))
        if draw(st.integers(0, 3)) > 0:
            outcomes.append((day_near(draw, anchor, 0, 15), PickupStatus.FULFILLED))
        dispensed = (
            day_near(draw, outcomes[-1][0], 0, 6)
            if outcomes and draw(st.integers(0, 3)) > 0
            else None
        )
        cycles.append(
            Cycle(
                anchor=anchor,
                fills=fills,
                planned_on=day_near(draw, anchor, 40, 0),
                outcomes=tuple(outcomes),
                dispensed_on=dispensed,
            )
        )
        for _ in range(draw(st.integers(0, 4))):
            contacts.append(
                Contact(
                    anchor, day_near(draw, anchor, 10, 2), draw(st.sampled_from(ContactOutcome))
                )
            )
    renewals = []
    for order in draw(st.lists(st.sampled_from(ORDERS), max_size=2, unique=True)):
        requested = day_near(draw, first, 30, 60)
        answers = tuple(
            (
                requested + timedelta(days=draw(st.integers(0, 20))),
                draw(st.sampled_from(RenewalAnswer)),
            )
            for _ in range(draw(st.integers(0, 2)))
        )
        renewals.append(
            RenewalTrack(
                order, requested + timedelta(days=draw(st.integers(5, 40))), requested, answers
            )
        )
    stops = tuple(
        Stop(order, day_near(draw, first, 20, 100))
        for order in draw(st.lists(st.sampled_from(ORDERS), max_size=2, unique=True))
    )
    change_sets = tuple(
        ChangeSet(c.anchor, day_near(draw, c.anchor, 10, 0), ())
        for c in cycles
        if draw(st.booleans())
    )
    ended = day_near(draw, first, -30, 300) if draw(st.integers(0, 4)) == 0 else None
    return Enrollment(
        patient_id="p1",
        cycle_days=cycle_days,
        cycles=tuple(cycles),
        contacts=tuple(contacts),
        renewals=tuple(renewals),
        stops=stops,
        change_sets=change_sets,
        ended_on=ended,
    )


def whole_span(e: Enrollment) -> tuple[date, date]:
    return START - timedelta(days=80), START + timedelta(days=500)


def known_by(e: Enrollment, day: date) -> Enrollment:
    """The enrollment as it stood at the end of `day`: every later fact removed."""
    cycles = tuple(
        replace(
            c,
            outcomes=tuple(o for o in c.outcomes if o[0] <= day),
            dispensed_on=c.dispensed_on if c.dispensed_on and c.dispensed_on <= day else None,
        )
        for c in e.cycles
        if c.planned_on <= day
    )
    return replace(
        e,
        cycles=cycles,
        contacts=tuple(c for c in e.contacts if c.day <= day),
        renewals=tuple(
            replace(r, answers=tuple(a for a in r.answers if a[0] <= day))
            for r in e.renewals
            if r.requested_on <= day
        ),
        stops=tuple(s for s in e.stops if s.known_on <= day),
        change_sets=tuple(c for c in e.change_sets if c.known_on <= day),
        ended_on=e.ended_on if e.ended_on and e.ended_on <= day else None,
    )


@settings(max_examples=100, deadline=None)
@given(enrollments(), cycle_settings())
def test_exactly_one_outreach_per_cycle_lead_days_before(e: Enrollment, s: CycleSettings) -> None:
    items = derive_days(e, *whole_span(e), s)
    outreach = [i for i in items if i.kind is ItemKind.OUTREACH]
    assert Counter(i.anchor for i in outreach).most_common(1)[0][1] <= 1 if outreach else True
    for cycle in e.cycles:
        expected = max(cycle.anchor - timedelta(days=s.lead_days), cycle.planned_on)
        if expected > cycle.pickup_day or (e.ended_on is not None and expected >= e.ended_on):
            assert cycle.anchor not in {i.anchor for i in outreach}
        else:
            (found,) = [i for i in outreach if i.anchor == cycle.anchor]
            assert found.day == expected


@settings(max_examples=100, deadline=None)
@given(enrollments(), cycle_settings())
def test_every_pickup_has_a_preparation_prep_days_before(e: Enrollment, s: CycleSettings) -> None:
    items = derive_days(e, *whole_span(e), s)
    pickups = {i.anchor: i for i in items if i.kind is ItemKind.PICKUP}
    preps = {i.anchor: i for i in items if i.kind is ItemKind.PREPARE}
    for anchor, pickup in pickups.items():
        (cycle,) = [c for c in e.cycles if c.anchor == anchor]
        expected = max(pickup.day - timedelta(days=s.prep_days), cycle.planned_on)
        assert preps[anchor].day == expected <= pickup.day


@settings(max_examples=100, deadline=None)
@given(enrollments(), cycle_settings(closed=True))
def test_closed_days_move_work_earlier_never_later(e: Enrollment, s: CycleSettings) -> None:
    for item in derive_days(e, *whole_span(e), s):
        (cycle,) = [c for c in e.cycles if c.anchor == item.anchor] or [None]
        if cycle is None or item.kind not in (ItemKind.OUTREACH, ItemKind.PREPARE):
            continue
        assert item.day.weekday() not in s.closed_weekdays or item.day == cycle.planned_on
        days_ahead = s.lead_days if item.kind is ItemKind.OUTREACH else s.prep_days
        usual = cycle.anchor - timedelta(days=days_ahead)
        assert item.day == cycle.planned_on or usual - timedelta(days=2) <= item.day <= usual


@settings(max_examples=100, deadline=None)
@given(enrollments(), cycle_settings(), st.integers(0, 400))
def test_deriving_a_day_twice_or_late_gives_the_same_items(
    e: Enrollment, s: CycleSettings, offset: int
) -> None:
    day = whole_span(e)[0] + timedelta(days=offset)
    on_time = derive_day(known_by(e, day), day, s)
    assert derive_day(e, day, s) == on_time  # derived later, with more facts known
    assert derive_day(e, day, s) == derive_day(e, day, s)


@settings(max_examples=60, deadline=None)
@given(enrollments(), cycle_settings())
def test_catching_up_a_span_is_deriving_each_day(e: Enrollment, s: CycleSettings) -> None:
    first, last = whole_span(e)
    daily = []
    day = first
    while day <= last:
        daily.extend(derive_day(e, day, s))
        day += ONE
    caught_up = derive_days(e, first, last, s)
    assert caught_up == tuple(daily)
    assert len({i.id for i in caught_up}) == len(caught_up)


@settings(max_examples=100, deadline=None)
@given(enrollments(), cycle_settings())
def test_a_stopped_medicine_is_never_prepared_after_the_stop_is_known(
    e: Enrollment, s: CycleSettings
) -> None:
    items = derive_days(e, *whole_span(e), s)
    pulls = {(i.anchor, i.order_id, i.day) for i in items if i.kind is ItemKind.PULL_FILL}
    for item in items:
        if item.kind not in (ItemKind.PREPARE, ItemKind.PICKUP, ItemKind.OUTREACH):
            continue
        listed = {f.order_id for f in item.fills}
        assert not listed & {x.order_id for x in e.stops if x.known_on < item.day}
        if item.kind is ItemKind.PREPARE:
            # Learned on the preparation day or later, up to the pickup: pulled that day.
            (cycle,) = [c for c in e.cycles if c.anchor == item.anchor]
            fulfilled = min(
                (d for d, st_ in cycle.outcomes if st_ is PickupStatus.FULFILLED), default=None
            )
            for stop in e.stops:
                ended = e.ended_on is not None and stop.known_on >= e.ended_on
                in_time = item.day <= stop.known_on <= cycle.pickup_day and (
                    fulfilled is None or stop.known_on <= fulfilled
                )
                first_stop = min(x.known_on for x in e.stops if x.order_id == stop.order_id)
                if (
                    stop.order_id in listed
                    and in_time
                    and not ended
                    and stop.known_on == first_stop
                ):
                    assert (item.anchor, stop.order_id, stop.known_on) in pulls


@settings(max_examples=100, deadline=None)
@given(enrollments(), cycle_settings(closed=True), st.integers(0, 400), st.integers(0, 40))
def test_skipping_cycles_outside_the_window_loses_no_item(
    e: Enrollment, s: CycleSettings, offset: int, width: int
) -> None:
    first = whole_span(e)[0] + timedelta(days=offset)
    last = first + timedelta(days=width)
    every = {i.id: i for i in candidates(e, s) if first <= i.day <= last}
    windowed = {i.id: i for i in candidates(e, s, (first, last)) if first <= i.day <= last}
    assert windowed == every


def test_change_kinds_fit_in_an_identifier() -> None:
    assert all(":" not in k.value for k in ChangeKind)
    assert all(":" not in k.value for k in ItemKind)
