"""When patients pick their medications up on the anchor date: the pharmacy's pickup hours in
its own time zone. The Appointment spans them and carries local time with its UTC offset (the
offset of that date: daylight saving time is taken into account), so that an EHR shows
"9:00-17:00" in the pharmacy's zone, not "04:00" from a UTC default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIME_ZONE: Final = "UTC"
DEFAULT_PICKUP_HOURS: Final = "09:00-17:00"
_HOURS: Final = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


@dataclass(frozen=True, slots=True)
class PickupHours:
    """`opens`-`closes` (naive local times, `opens` < `closes`) in `time_zone` (IANA name)."""

    time_zone: str = DEFAULT_TIME_ZONE
    opens: time = time(9, 0)
    closes: time = time(17, 0)

    @property
    def start(self) -> time:
        """The opening time with the zone attached (an instant needs one)."""
        return self.opens.replace(tzinfo=ZoneInfo(self.time_zone))

    @property
    def minutes(self) -> int:
        day = date(2000, 1, 1)
        span = datetime.combine(day, self.closes) - datetime.combine(day, self.opens)
        return int(span.total_seconds() // 60)

    @property
    def text(self) -> str:
        return f"{self.opens.strftime('%H:%M')}-{self.closes.strftime('%H:%M')}"


def pickup_hours(hours: str | None = None, time_zone: str | None = None) -> PickupHours:
    """Checked settings; ValueError with a message naming the setting otherwise."""
    zone = (time_zone or DEFAULT_TIME_ZONE).strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {zone!r} is not an IANA time zone (e.g. America/New_York, Europe/Berlin)"
        ) from None
    found = _HOURS.fullmatch(hours or DEFAULT_PICKUP_HOURS)
    if found is None:
        raise ValueError(f"pickup hours {hours!r} must be HH:MM-HH:MM, e.g. 09:00-17:00")
    try:
        opens = time(int(found[1]), int(found[2]))
        closes = time(int(found[3]), int(found[4]))
    except ValueError:
        raise ValueError(f"pickup hours {hours!r}: not times of day") from None
    if closes <= opens:
        raise ValueError(f"pickup hours {hours!r}: the end must be after the start")
    return PickupHours(zone, opens, closes)
