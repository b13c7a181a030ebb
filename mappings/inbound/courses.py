"""How long each dosage group lasts: timing.repeat.bounds[x] and count, in days.

The engine decides what a bounded course means (an acute course, a titration step); this
module only reads the bounds, checking each element it reads.
"""

from __future__ import annotations

from typing import Any

from fhir_sync.engine.types import Bounds, Dosage
from mappings.errors import MappingError
from mappings.fhir_values import duration_days, get_date, get_int, get_object


def map_bounds(items: list[Any], dosages: tuple[Dosage, ...]) -> tuple[Bounds, ...]:
    """One Bounds per sequence group with a bounded instruction (the longest one wins)."""
    found: dict[int, Bounds] = {}
    for index, dosage in enumerate(dosages):
        item = items[index]
        where = f".dosageInstruction[{index}].timing"
        bound = _bound(item, dosage, where)
        if bound is None:
            continue
        previous = found.get(dosage.sequence)
        if previous is None or _length(bound) > _length(previous):
            found[dosage.sequence] = bound
    return tuple(found[s] for s in sorted(found))


def _bound(item: Any, dosage: Dosage, where: str) -> Bounds | None:
    timing = get_object(item, "timing", where[: -len(".timing")])
    if timing is None:
        return None
    repeat = get_object(timing, "repeat", where)
    if repeat is None:
        return None
    where = f"{where}.repeat"
    days = end = None
    duration = get_object(repeat, "boundsDuration", where)
    if duration is not None:
        days = duration_days(duration, f"{where}.boundsDuration")
    period = get_object(repeat, "boundsPeriod", where)
    if period is not None:
        start = get_date(period, "start", f"{where}.boundsPeriod")
        end = get_date(period, "end", f"{where}.boundsPeriod")
        if start is not None and end is not None and start > end:
            raise MappingError("start is after end", f"{where}.boundsPeriod", "invariant")
    count = get_int(repeat, "count", where, minimum=1)
    if (
        count is not None
        and days is None
        and end is None
        and dosage.period_days
        and dosage.frequency > 0
    ):
        days = float(count * dosage.period_days / dosage.frequency)
    if days is None and end is None:
        return None
    return Bounds(dosage.sequence, days, end)


def _length(bound: Bounds) -> float:
    return bound.days if bound.days is not None else float("inf")
