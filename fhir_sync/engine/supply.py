"""How much a patient takes a day and when the supply on hand runs out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from fhir_sync.engine.types import Fill, Order

# Floating-point products such as 3 * 0.1 must not round up to an extra tablet.
EPSILON = 1e-9
# Supply on hand is counted at most this far past the latest dispense that supplies it. A real
# dispense lasts days to months; more than ten years (a quantity at a tiny daily dose) is bad
# data, and counting it would run dates past the end of the calendar.
MAX_ON_HAND_DAYS = 3660


def daily_dose(order: Order, fills: Sequence[Fill]) -> float | None:
    """Units per day, from the most specific source available.

    1. the dosage instructions of the first sequence group (concurrent instructions add up);
    2. dispenseRequest quantity / expected supply duration;
    3. the last dispense's quantity / days supply.
    None when none of them gives a positive number.
    """
    from_dosage = _dose_from_instructions(order)
    if from_dosage is not None:
        return from_dosage
    if order.supply_quantity and order.supply_days and order.supply_days > 0:
        return _positive(order.supply_quantity / order.supply_days)
    for fill in reversed(fills):
        if fill.quantity and fill.days_supply and fill.days_supply > 0:
            return _positive(fill.quantity / fill.days_supply)
    return None


def _dose_from_instructions(order: Order) -> float | None:
    if not order.dosages:
        return None
    first = min(d.sequence for d in order.dosages)
    total = 0.0
    for dosage in order.dosages:
        if dosage.sequence != first:
            continue
        if dosage.dose is None or not dosage.period_days or dosage.period_days <= 0:
            return None
        total += dosage.dose * dosage.frequency / dosage.period_days
    return _positive(total)


def _positive(value: float) -> float | None:
    rounded = round(value, 6)
    return rounded if rounded > 0 and math.isfinite(rounded) else None


def fill_days(fill: Fill, daily: float) -> int | None:
    """Whole days a dispense lasts: its days supply, else its quantity at the daily dose."""
    if fill.days_supply is not None and fill.days_supply > 0:
        return math.floor(fill.days_supply + EPSILON)
    if fill.quantity is not None and fill.quantity > 0:
        return math.floor(fill.quantity / daily + EPSILON)
    return None


def run_out(fills: Sequence[Fill], daily: float) -> date | None:
    """The day the supply from `fills` (sorted by date) is used up.

    An early refill does not waste what is left: its supply starts when the previous one ends.
    A late refill starts on the day it was handed over (the gap is lost adherence, not supply).
    The end is at most MAX_ON_HAND_DAYS after the fill's hand-over. None when there is no
    usable dispense.
    """
    end: date | None = None
    for fill in fills:
        days = fill_days(fill, daily)
        if days is None:
            continue
        start = fill.handed_over if end is None or fill.handed_over >= end else end
        ahead = (start - fill.handed_over).days
        end = start + timedelta(days=min(days, MAX_ON_HAND_DAYS - ahead))
    return end


def last_fill_days(fills: Sequence[Fill], daily: float) -> tuple[date, int] | None:
    """The latest usable dispense (by hand-over date) and the whole days it lasts, at most
    MAX_ON_HAND_DAYS (as `run_out` counts it: a tiny daily dose must not run past the calendar
    when the payer's earliest date is added to the hand-over)."""
    for fill in reversed(fills):
        days = fill_days(fill, daily)
        if days is not None:
            return fill.handed_over, min(days, MAX_ON_HAND_DAYS)
    return None


def units_for(days: int, daily: float, package: float | None) -> float:
    """Units covering `days` days, rounded up to whole units or whole unbreakable packages."""
    step = package if package and package > 0 else 1.0
    return math.ceil(days * daily / step - EPSILON) * step


def days_covered(quantity: float, daily: float) -> int:
    """The true days supply of a quantity (what must be billed)."""
    return math.floor(quantity / daily + EPSILON)


def slack_days(daily: float, package: float | None) -> int:
    """Days one indivisible step (a package, else one unit) lasts.

    A supply that ends this close after the anchor is as synchronized as it can get: a smaller
    dispense does not exist.
    """
    step = package if package and package > 0 else 1.0
    # units_for() overshoots by less than one step, so the supply ends < step/daily days late.
    return max(0, math.ceil(step / daily - EPSILON) - 1)
