"""Gathering the next dispenses of a patient's orders into as few trips as the rules allow.

A dispense that lands on a pickup of the cycle (a full-cycle refill) stays on it: moving it
would take it off the cycle. A short fill, or a fill on the order's own date, is free to move
earlier to a trip already planned within the grouping window before it is due, when the payer
pays it that early: the supply still on hand carries over, so no day goes uncovered and the
fill keeps its days supply. Trips are placed greedily on the latest day each fill still
allows (the classic fewest-points cover of intervals), which keeps the trips the fewest.

No trip falls on a day the pharmacy is closed: it moves to the previous open day when the payer
pays every fill of it then, else to the next open day, which leaves a gap in supply that the
pharmacy's tolerance must cover (a gap beyond it is reported, never hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from fhir_sync.engine.placement import Kind, Need, Placement


class Trip(NamedTuple):
    """The day an order's next dispense is handed over, and the days the patient goes without."""

    day: int
    gap: int


def is_open(day: int, closed: frozenset[int]) -> bool:
    # date(1, 1, 1) (ordinal 1) is a Monday, weekday 0.
    return not closed or (day - 1) % 7 not in closed


def previous_open(day: int, closed: frozenset[int]) -> int:
    while not is_open(day, closed):
        day -= 1
    return day


def next_open(day: int, closed: frozenset[int]) -> int:
    while not is_open(day, closed):
        day += 1
    return day


def plan_trips(
    needs: Sequence[Need],
    placements: Sequence[Placement],
    today: int,
    window: int,
    closed: frozenset[int],
) -> list[Trip]:
    """The trip of each order's next dispense (same positions as `needs`)."""
    trips: list[Trip] = []
    days: list[int] = []
    movable: list[int] = []
    for index, need in enumerate(needs):
        where = placements[index]
        if where.kind is Kind.SHORT or where.kind is Kind.OWN:
            movable.append(index)
            trips.append(Trip(0, 0))  # placed below
            continue
        day = where.day
        if closed and not is_open(day, closed):
            day = _open_day_for(day, max(need.earliest, today), closed)
        trips.append(Trip(day, day - need.due if day > need.due else 0))
        days.append(day)
    # The pickup a short fill leads to is a trip too: a fill due just after it may join it.
    days.extend(p.join for p in placements if p.kind is Kind.SHORT and p.join is not None)
    if len(movable) > 1:
        movable.sort(key=lambda i: (needs[i].due, needs[i].order_id))
    for index in movable:
        need = needs[index]
        due = need.due
        low = max(need.earliest, today, due - window)
        best = None
        for day in days:
            if low <= day <= due and (best is None or day > best):
                best = day
        if best is None:
            best = _open_day_for(due, max(need.earliest, today), closed) if closed else due
            days.append(best)
        trips[index] = Trip(best, best - due if best > due else 0)
    return trips


def _open_day_for(day: int, earliest: int, closed: frozenset[int]) -> int:
    """`day`, else the previous open day the payer pays, else the next open day."""
    if is_open(day, closed):
        return day
    before = previous_open(day, closed)
    return before if before >= earliest else next_open(day, closed)
