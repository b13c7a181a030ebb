"""Which orders need a new prescription, and by when.

An order must authorize every dispense through one cycle past the anchor: the short fill (if
any), the anchor fill, and the first refill after the anchor. It authorizes a dispense while it
has a refill left, the quantity left covers it (quantity x (1 + repeats) minus what was
dispensed against it) and the fill falls on or before its expiry. Asking for the renewal before
the first dispense that fails, and `lead` days before it is needed, leaves prescribers time,
which they often take (their unanswered requests are the first complaint of sync programs).

A maintenance prescription that has already expired is not dropped: its renewal is asked for
today, needed by the day the supply on hand runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction

from fhir_sync.engine.dispensing import Dispensing, fill_amount
from fhir_sync.engine.rules import Authorization
from fhir_sync.engine.types import Fill, Renewal, Schedule, exact


def fills_left(auth: Authorization, fills_used: int) -> int | None:
    """Dispenses the order still authorizes (the original fill counts), None when unknown."""
    if auth.repeats is None:
        return None
    return max(0, 1 + auth.repeats - fills_used)


def units_left(
    auth: Authorization, fills: Sequence[Fill], dispensing: Dispensing
) -> Fraction | None:
    """Quantity the order still authorizes, in the dispense unit: quantity x (1 + repeats) minus
    every quantity dispensed against it (a fill without a quantity in that unit counts its days
    supply at the daily use). None when the order states no quantity or no repeats."""
    total = auth.total_units
    if total is None:
        return None
    used = Fraction(0)
    for fill in fills:
        amount = fill_amount(fill, dispensing)
        if amount is not None:
            used += amount
        elif fill.days_supply is not None:
            used += exact(fill.days_supply) * dispensing.daily
    left: Fraction = max(Fraction(0), exact(total) - used)
    return left


def renewal_for(
    order_id: str,
    schedule: Schedule,
    auth: Authorization,
    remaining: int | None,
    upcoming: list[tuple[date, str, Fraction]],
    today: date,
    lead_days: int,
    units: Fraction | None = None,
) -> Renewal | None:
    """The renewal needed for the first of the `upcoming` (date, label, quantity) fills the
    order does not authorize; `units` is the quantity it still authorizes."""
    left = units
    for index, (day, label, quantity) in enumerate(upcoming):
        if remaining is not None and index >= remaining:
            if schedule is Schedule.CII:
                why = (
                    f"Schedule II: no refills; the {label} on {day.isoformat()} "
                    "needs a new prescription"
                )
            else:
                why = f"no refills left for the {label} on {day.isoformat()}"
            return _renewal(order_id, day, why, today, lead_days)
        if auth.expires is not None and day > auth.expires:
            why = (
                f"prescription expires on {auth.expires.isoformat()}, "
                f"before the {label} on {day.isoformat()}"
            )
            return _renewal(order_id, day, why, today, lead_days)
        if left is not None:
            if quantity > left:
                why = (
                    "the prescribed quantity (quantity x (1 + refills)) is used up before "
                    f"the {label} on {day.isoformat()}"
                )
                return _renewal(order_id, day, why, today, lead_days)
            left -= quantity
    return None


def expired_renewal(order_id: str, expired: date, supply_ends: date, today: date) -> Renewal:
    """An expired maintenance prescription: ask now, needed when the supply on hand ends."""
    needed_by = max(today, supply_ends)
    if needed_by > today:
        when = f"by {needed_by.isoformat()}, when the supply on hand runs out"
    else:
        when = "now: no supply on hand"
    why = f"prescription expired on {expired.isoformat()}: a new prescription is needed {when}"
    return Renewal(order_id=order_id, needed_by=needed_by, due=today, reason=why)


def _renewal(order_id: str, needed_by: date, why: str, today: date, lead_days: int) -> Renewal:
    due = max(today, needed_by - timedelta(days=lead_days))
    return Renewal(order_id=order_id, needed_by=needed_by, due=due, reason=why)


def show_number(value: float | Fraction) -> str:
    """A quantity for a sentence: 30, 2.5 (never 30.0)."""
    rounded = round(float(value), 3)
    return str(int(rounded)) if float(rounded).is_integer() else f"{rounded:g}"
