"""FHIR dates and instants as the time ranges searches compare.

A value stands for the whole range its precision covers: `2026` is the year, `2026-11-22` the
day (UTC when no zone is written), a dateTime with seconds the second. Values without a zone
are taken as UTC, as the server stores everything in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final

_DATE: Final = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)
_DATETIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)


def time_range(text: str) -> tuple[datetime, datetime]:
    """`[low, high)` in UTC; ValueError when `text` is not a FHIR date, dateTime or instant,
    or is one at the very edge of the calendar (the last day of 9999, a time in year 1 with a
    positive offset) whose range Python's datetime cannot hold."""
    try:
        return _range(text)
    except OverflowError:
        raise ValueError("outside the supported range of dates") from None


def _range(text: str) -> tuple[datetime, datetime]:
    if found := _DATE.fullmatch(text):
        year, month, day = found.groups()
        if day is not None:
            low_date = date(int(year), int(month), int(day))
            return _midnight(low_date), _midnight(low_date + timedelta(days=1))
        if month is not None:
            first = date(int(year), int(month), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return _midnight(first), _midnight(following)
        return _midnight(date(int(year), 1, 1)), _midnight(date(int(year) + 1, 1, 1))
    if found := _DATETIME.fullmatch(text):
        year, month, day, hour, minute, second, fraction, zone = found.groups()
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or ".0")[1:7].ljust(6, "0")),
            tzinfo=UTC,
        )
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        if fraction:
            step = timedelta(microseconds=1)
        elif second is not None:
            step = timedelta(seconds=1)
        else:
            step = timedelta(minutes=1)
        return moment, moment + step
    raise ValueError("not a FHIR date or dateTime")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def instant_text(moment: datetime) -> str:
    """A FHIR instant in UTC with microseconds: `2026-11-22T09:30:00.123456Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def http_date(moment: datetime) -> str:
    """The `Last-Modified` form (RFC 9110 IMF-fixdate)."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
