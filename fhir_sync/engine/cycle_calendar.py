"""Open days and business days.

The pharmacy's open days move work off closed days (a preparation due on a closed Sunday
happens on the Saturday before). Business days, Monday to Friday without holidays, are the
prescriber offices' days: renewal follow-up counts them.
"""

from __future__ import annotations

from datetime import date, timedelta

from fhir_sync.engine.cycle_types import CycleSettings

ONE_DAY = timedelta(days=1)
SATURDAY = 5


def is_open(day: date, settings: CycleSettings) -> bool:
    return day.weekday() not in settings.closed_weekdays and day not in settings.holidays


def open_on_or_before(day: date, settings: CycleSettings) -> date:
    """`day`, or the last open day before it: work due ahead of a date is never late."""
    for _ in range(366):
        if is_open(day, settings):
            return day
        day -= ONE_DAY
    raise ValueError("no open day in a year: check closed weekdays and holidays")


def open_after(day: date, settings: CycleSettings) -> date:
    """The first open day after `day` ("the next day" for a retry or a follow-up)."""
    for _ in range(366):
        day += ONE_DAY
        if is_open(day, settings):
            return day
    raise ValueError("no open day in a year: check closed weekdays and holidays")


def open_on_or_after(day: date, settings: CycleSettings) -> date:
    return day if is_open(day, settings) else open_after(day, settings)


def business_day_after(day: date, count: int, settings: CycleSettings) -> date:
    """The `count`-th business day after `day` (Mon + 3 business days = Thu)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    seen = 0
    for _ in range(366 * count):
        day += ONE_DAY
        if day.weekday() < SATURDAY and day not in settings.holidays:
            seen += 1
            if seen == count:
                return day
    raise ValueError("no open day in a year: check closed weekdays and holidays")
