"""Weekday names as settings and operation parameters give them (`sat,sun`)."""

from __future__ import annotations

from typing import Final

WEEKDAYS: Final = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def parse_closed_days(text: str) -> frozenset[int]:
    """`sat,sun` -> {5, 6}; full names and any case accepted."""
    days: set[int] = set()
    for part in text.split(","):
        word = part.strip().lower()[:3]
        if not word:
            continue
        if word not in WEEKDAYS:
            raise ValueError(f"--closed: unknown weekday {part.strip()!r} (use mon,tue,...,sun)")
        days.add(WEEKDAYS[word])
    if len(days) == 7:
        raise ValueError("--closed: the pharmacy must be open at least one day a week")
    return frozenset(days)
