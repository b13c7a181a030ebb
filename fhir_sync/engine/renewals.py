"""Which synced orders need a new prescription, and by when.

An order must authorize every dispense through one cycle past the anchor: the short fill (if
any), the anchor fill, and the first refill after the anchor. Asking for the renewal before
that last one is missing, and `lead` days before it is needed, leaves prescribers time, which
they often take (their unanswered requests are the first complaint of sync programs).
"""

from __future__ import annotations

from datetime import date, timedelta

from fhir_sync.engine.rules import Authorization
from fhir_sync.engine.types import Renewal, Schedule


def fills_left(auth: Authorization, fills_used: int) -> int | None:
    """Dispenses the order still authorizes (the original fill counts), None when unknown."""
    if auth.repeats is None:
        return None
    return max(0, 1 + auth.repeats - fills_used)


def renewal_for(
    order_id: str,
    schedule: Schedule,
    auth: Authorization,
    remaining: int | None,
    upcoming: list[tuple[date, str]],
    today: date,
    lead_days: int,
) -> Renewal | None:
    """The renewal needed for the first of the `upcoming` (date, label) fills not authorized."""
    for index, (day, label) in enumerate(upcoming):
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
    return None


def _renewal(order_id: str, needed_by: date, why: str, today: date, lead_days: int) -> Renewal:
    due = max(today, needed_by - timedelta(days=lead_days))
    return Renewal(order_id=order_id, needed_by=needed_by, due=due, reason=why)
