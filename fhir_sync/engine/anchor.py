"""Choosing the anchor date: the one day a cycle when every synced refill is picked up.

Each synced order has a `due` day (its next fill) and a `slack` (how many days past the anchor
its supply may end because the smallest dispensable step overshoots). For an anchor `S` the
order joins the cycle at the first occurrence `S + k*cycle` (k >= 0) not earlier than
`due - slack`; the days between `due` and that occurrence are its short fill.

Automatic choice: among the `cycle` days starting `lead` days ahead, the open day with the
fewest short fills, then the fewest short-fill days, then the earliest. Both counts only fall
where some order's occurrence lines up (`S = due - slack` modulo the cycle) and rise by a day
in between, so only the first open day at or after each such point, or after the window's
start, can win: `cycle * orders` evaluations shrink to about `orders**2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from fhir_sync.engine.calendar import day_of_month, next_open_day
from fhir_sync.engine.types import Preferences


@dataclass(frozen=True, slots=True)
class Due:
    """An order's next fill day (as a proleptic ordinal) and its slack in days."""

    day: int
    slack: int


def join_day(anchor: int, due: Due, cycle: int) -> int:
    """The anchor occurrence at which this order's supply joins the cycle."""
    behind = due.day - anchor - due.slack
    k = max(0, -(-behind // cycle))
    return anchor + k * cycle


def short_days(anchor: int, due: Due, cycle: int) -> int:
    """Days the one-time short fill covers (0: the order simply refills on the anchor)."""
    return max(0, join_day(anchor, due, cycle) - due.day)


def choose_anchor(dues: Sequence[Due], today: date, prefs: Preferences) -> date:
    """The anchor date for these orders under the patient's preferences."""
    earliest = today + timedelta(days=prefs.lead_days)
    if prefs.anchor_date is not None:
        # The established pickup day itself while it is still ahead; once it has passed,
        # its first occurrence that leaves the lead time.
        behind = (earliest - prefs.anchor_date).days
        cycles = max(0, -(-behind // prefs.cycle_days))
        occurrence = prefs.anchor_date + timedelta(days=cycles * prefs.cycle_days)
        return next_open_day(occurrence, prefs.closed_weekdays)
    if prefs.anchor_day is not None:
        return _preferred_day(earliest, prefs)
    return _automatic(dues, earliest, prefs)


def _preferred_day(earliest: date, prefs: Preferences) -> date:
    assert prefs.anchor_day is not None
    year, month = earliest.year, earliest.month
    candidate = day_of_month(year, month, prefs.anchor_day)
    if candidate < earliest:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        candidate = day_of_month(year, month, prefs.anchor_day)
    return next_open_day(candidate, prefs.closed_weekdays)


def _automatic(dues: Sequence[Due], earliest: date, prefs: Preferences) -> date:
    cycle = prefs.cycle_days
    start = earliest.toordinal()
    last = start + cycle - 1
    points = {start} | {start + (d.day - d.slack - start) % cycle for d in dues}
    best: tuple[int, int, int] | None = None
    for point in points:
        day = next_open_day(date.fromordinal(point), prefs.closed_weekdays).toordinal()
        if day > last:
            continue
        fills = [short_days(day, d, cycle) for d in dues]
        cost = (sum(1 for s in fills if s > 0), sum(fills), day)
        if best is None or cost < best:
            best = cost
    if best is None:  # unreachable: Preferences keeps at least one weekday open
        raise ValueError("no open day in the anchor window")
    return date.fromordinal(best[2])


def automatic_by_brute_force(dues: Sequence[Due], today: date, prefs: Preferences) -> date:
    """Every day of the window evaluated: the specification `_automatic` must match."""
    start = (today + timedelta(days=prefs.lead_days)).toordinal()
    best: tuple[int, int, int] | None = None
    for day in range(start, start + prefs.cycle_days):
        if date.fromordinal(day).weekday() in prefs.closed_weekdays:
            continue
        fills = [short_days(day, d, prefs.cycle_days) for d in dues]
        cost = (sum(1 for s in fills if s > 0), sum(fills), day)
        if best is None or cost < best:
            best = cost
    assert best is not None
    return date.fromordinal(best[2])
