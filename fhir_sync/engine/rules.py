"""Legal limits on how long and how often a prescription may be filled.

Federal rules (21 CFR 1306.12, 1306.22): Schedule II prescriptions carry no refills; Schedule
III and IV prescriptions expire six months after the date they are written (`authoredOn`; a
validity period that starts later does not move that clock) and allow at most five refills.
Schedule V and uncontrolled prescriptions have no federal limit; most states let them run one
year from writing, which is the default used when the order states no validity period.

A prescription also authorizes a quantity: dispenseRequest.quantity for each of the original
fill and its refills, quantity x (1 + repeats) in all (the NCPDP view), so a 30-day
prescription filled as 90-day supplies is used up after two fills, not six.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from fhir_sync.engine.calendar import add_months
from fhir_sync.engine.types import Order, Schedule

DEFAULT_VALIDITY_MONTHS = 12
CIII_CIV_VALIDITY_MONTHS = 6
CIII_CIV_MAX_REPEATS = 5


@dataclass(frozen=True, slots=True)
class Authorization:
    """How long an order may be filled (`expires`, inclusive), its refills (`repeats`) and
    the quantity of each fill (`units`, dispenseRequest.quantity).

    None means unknown: the order does not say and no rule fills the gap.
    """

    expires: date | None
    repeats: int | None
    units: Fraction | None = None

    @property
    def total_units(self) -> Fraction | None:
        """What the order authorizes in all: quantity x (1 + repeats), None when unknown."""
        if self.units is None or self.repeats is None:
            return None
        return self.units * (1 + self.repeats)


def authorization(order: Order) -> Authorization:
    """The order's own limits, tightened by the controlled-substance rules."""
    written = order.authored_on or order.validity_start
    expires = order.validity_end
    repeats = order.repeats_allowed
    if order.schedule in (Schedule.CIII, Schedule.CIV):
        if written is not None:
            cap = add_months(written, CIII_CIV_VALIDITY_MONTHS)
            expires = cap if expires is None else min(expires, cap)
        if repeats is not None:
            repeats = min(repeats, CIII_CIV_MAX_REPEATS)
    elif order.schedule is Schedule.CII:
        repeats = 0
    if expires is None and written is not None:
        expires = add_months(written, DEFAULT_VALIDITY_MONTHS)
    return Authorization(expires=expires, repeats=repeats, units=order.supply_quantity or None)
