"""Date arithmetic the rules need and `datetime` lacks (months, day-of-month clamping)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def add_months(day: date, months: int) -> date:
    """Same day of month `months` later, clamped to the month's end (Aug 31 + 6 -> Feb 28/29)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def day_of_month(year: int, month: int, wanted: int) -> date:
    """The `wanted` day of a month, or its last day when the month is shorter (31 -> Apr 30)."""
    return date(year, month, min(wanted, calendar.monthrange(year, month)[1]))


def next_open_day(day: date, closed_weekdays: frozenset[int]) -> date:
    """`day` or the first later day the pharmacy is open."""
    while day.weekday() in closed_weekdays:
        day += timedelta(days=1)
    return day
