"""When the supply on hand runs out, and how much covers a number of days (exact arithmetic).

Everything is in the order's dispense unit (see dispensing.py) and exact: `ceil` and `floor`
on Fractions, so 6 tablets a week for 28 days is 24, never 25.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction
from functools import lru_cache

from fhir_sync.engine.dispensing import Dispensing, fill_amount
from fhir_sync.engine.types import Fill

# Supply on hand is counted at most this far past the latest dispense that supplies it. A real
# dispense lasts days to months; more than ten years (a quantity at a tiny daily dose) is bad
# data, and counting it would run dates past the end of the calendar.
MAX_ON_HAND_DAYS = 3660
# Mapped quantities stay floats (see Fill): 3 * 0.1 must not count as more than 0.3.
EPSILON = 1e-9


def fill_days(fill: Fill, dispensing: Dispensing) -> int | None:
    """Whole days a dispense lasts: its days supply, else its quantity at the daily use.

    A quantity is read only in the order's dispense unit (a dispense of "1 inhaler" is never
    divided by puffs a day); None when neither tells.
    """
    if fill.days_supply is not None and fill.days_supply > 0:
        return min(MAX_ON_HAND_DAYS, math.floor(fill.days_supply))
    amount = fill_amount(fill, dispensing)
    if amount is not None:
        return min(MAX_ON_HAND_DAYS, math.floor(amount / dispensing.daily))
    return None


def on_hand_days(fill: Fill, dispensing: Dispensing) -> int | None:
    """Whole days a dispense keeps the patient supplied: what its quantity lasts at the daily
    use when that is longer than the days supply billed, else the days supply.

    The claim's days supply is the payer's figure (it dates the refill-too-soon limit:
    `fill_days`); the tablets in the patient's hand are what cover the days. 30 tablets at 1 a
    day billed as 28 days last 30: a fill due on day 28 with the pickup on day 30 needs no
    2-day short fill and no extra trip (issue 10, grouping window; docs/fill-dates.md s.1).
    """
    billed = fill_days(fill, dispensing)
    if fill.days_supply is None or fill.days_supply <= 0:
        return billed
    amount = fill_amount(fill, dispensing)
    if amount is None or billed is None:
        return billed
    return max(billed, min(MAX_ON_HAND_DAYS, math.floor(amount / dispensing.daily)))


def run_out(fills: Sequence[Fill], dispensing: Dispensing) -> date | None:
    """The day the supply from `fills` (sorted by date) is used up (`on_hand_days` each).

    An early refill does not waste what is left: its supply starts when the previous one ends.
    A late refill starts on the day it was handed over (the gap is lost adherence, not supply).
    The end is at most MAX_ON_HAND_DAYS after the fill's hand-over. None when there is no
    usable dispense.
    """
    end: date | None = None
    partial: tuple[Fill, int] | None = None  # the partial fill just counted, and its days
    for fill in fills:
        days = on_hand_days(fill, dispensing)
        if fill.completes_partial and partial is not None:
            together = pair_days(partial[0], fill, dispensing)
            if together is not None:
                days = max(0, together - partial[1])
        partial = (fill, days) if fill.partial and days is not None else None
        if days is None:
            continue
        start = fill.handed_over if end is None or fill.handed_over >= end else end
        ahead = (start - fill.handed_over).days
        end = start + timedelta(days=min(days, MAX_ON_HAND_DAYS - ahead))
    return end


def last_fill_days(fills: Sequence[Fill], dispensing: Dispensing) -> tuple[date, int] | None:
    """The latest usable dispense (by hand-over date) and the whole days it lasts, at most
    MAX_ON_HAND_DAYS (as `run_out` counts it: a tiny daily dose must not run past the calendar
    when the payer's earliest date is added to the hand-over).

    The completion of a partial fill is one fill with it: the payer dates the next refill from
    the partial fill, for the days both quantities give together (NCPDP partial fills carry the
    quantity and days supply intended for the whole fill).
    """
    for index in range(len(fills) - 1, -1, -1):
        fill = fills[index]
        days = fill_days(fill, dispensing)
        if days is None:
            continue
        if fill.completes_partial and index > 0 and fills[index - 1].partial:
            together = pair_days(fills[index - 1], fill, dispensing)
            if together is not None:
                return fills[index - 1].handed_over, together
        return fill.handed_over, min(days, MAX_ON_HAND_DAYS)
    return None


def pair_days(partial: Fill, completion: Fill, dispensing: Dispensing) -> int | None:
    """Whole days a partial fill and its completion give together, from their quantities
    (whatever days supply each claim states: a partial fill recorded with the days of the
    whole fill must not count them twice). None when a quantity is not in the dispense unit."""
    first = fill_amount(partial, dispensing)
    rest = fill_amount(completion, dispensing)
    if first is None or rest is None:
        return None
    return min(MAX_ON_HAND_DAYS, math.floor((first + rest) / dispensing.daily))


def units_for(days: int, daily: Fraction, step: Fraction) -> Fraction:
    """The fewest whole steps (units, doses or packages) covering `days` days."""
    if days <= 0:
        return Fraction(0)
    return math.ceil(days * daily / step) * step


def cycle_units(cycle: int, daily: Fraction, step: Fraction) -> Fraction:
    """What a full-cycle refill dispenses: the fewest whole steps covering the cycle.

    Never fewer: whole steps that do not fill the cycle (2 pens lasting 27 days of 30, one
    28-tablet blister) would leave the patient without supply before the next pickup. When
    the steps that cover it bill so many days that the payer refuses the next cycle's refill
    as too soon (placement.need_for), the order goes out on its own date instead.
    """
    return units_for(cycle, daily, step)


def fitting_units(cycle: int, daily: Fraction, step: Fraction) -> Fraction:
    """What an order dispensed on its own date gets: the whole steps that fit in a cycle (at
    least one) when steps of two days or more do not fill it exactly (one 28-tablet blister,
    2 pens of 13 days), refilled when they run out; otherwise the cycle's quantity."""
    per_cycle = cycle * daily / step
    if per_cycle.denominator == 1 or step / daily < 2:
        return units_for(cycle, daily, step)
    return max(1, math.floor(per_cycle)) * step


def days_covered(quantity: Fraction, daily: Fraction) -> int:
    """The true days supply of a quantity (what must be billed): floor, never more."""
    return min(MAX_ON_HAND_DAYS, math.floor(quantity / daily))


@lru_cache(maxsize=1 << 12)  # a population has few distinct doses and packages
def slack_days(daily: Fraction, step: Fraction, cycle: int) -> int:
    """Days past the anchor a supply may end and still count as synchronized.

    One indivisible step lasts `step/daily` days, so covering a gap overshoots by less than
    that; a smaller dispense does not exist. A step that outlasts a cycle is never short
    filled: it may be handed over on an anchor up to a quarter of its days before it runs out
    (the payer accepts a refill once about 75% is used, domain.md section 2), never more than
    a cycle less a day.
    """
    lasts = step / daily
    if lasts >= cycle:
        return early_days(math.floor(lasts), cycle)
    return max(0, math.ceil(lasts) - 1)


def early_days(lasts: int, cycle: int) -> int:
    """How many days before it runs out a package outlasting a cycle may be handed over."""
    return min(cycle - 1, lasts // 4)
