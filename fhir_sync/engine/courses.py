"""Courses that end: a bounded dosage is a course, not a maintenance medication.

`timing.repeat.boundsDuration`, `boundsPeriod` or `count` say the instructions stop (a 12-day
prednisone taper, a 10-day amoxicillin course). When the order does not state a course of
therapy and every dosage group is bounded, it is an acute course: filled once, never
synchronized. When bounded steps lead to an unbounded one (a titration: 25 mg for 14 days, then
50 mg), the order is planned on that maintenance step once the bounded steps are over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from fhir_sync.engine.types import Bounds, Fill, Order


@dataclass(frozen=True, slots=True)
class Course:
    """What the bounds make of an order: `kind` is "maintenance" (plan `order`, which is the
    order narrowed to its maintenance step after a titration), "acute" (a course ending on
    `until`, `days` long) or "titrating" (bounded steps that run to `until`, None when that
    cannot be known)."""

    kind: str
    order: Order
    until: date | None = None
    days: float | None = None


def course_of(order: Order, fills: Sequence[Fill], today: date) -> Course:
    """The course an order describes; the bounded steps start on its first fill, else on the
    first day it may be filled, else on the day it was written."""
    bounded = {b.sequence: b for b in order.bounds if b.days is not None or b.end is not None}
    if not bounded or order.course is not None or not order.dosages:
        return Course("maintenance", order)
    groups = sorted({d.sequence for d in order.dosages})
    start = fills[0].handed_over if fills else (order.validity_start or order.authored_on)
    steps = [g for g in groups if g in bounded]
    until = _end_of([bounded[g] for g in steps], start)
    days = sum(bounded[g].days or 0.0 for g in steps) or None
    open_groups = [g for g in groups if g not in bounded]
    if not open_groups:
        return Course("acute", order, until, days)
    maintenance = open_groups[0]
    if until is None or until > today or any(g > maintenance for g in steps):
        return Course("titrating", order, until, days)
    narrowed = replace(
        order,
        dosages=tuple(d for d in order.dosages if d.sequence == maintenance),
        bounds=(),
    )
    return Course("maintenance", narrowed)


def _end_of(steps: list[Bounds], start: date | None) -> date | None:
    """The day the bounded steps, taken one after another, are over."""
    day = start
    for bound in steps:
        if bound.end is not None:
            day = bound.end
        elif bound.days is not None and day is not None:
            day = day + timedelta(days=round(bound.days))
        else:
            return None
    return day
