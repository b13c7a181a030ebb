"""Order chains and fill histories: when each order was written, filled, renewed or dropped.

A therapy is simulated forward from about a year before `today`: each fill uses a refill, an
order that runs out of refills or validity is renewed by a new order, and the gap to the next
fill follows the patient's habit (on time, early, late with gaps, or stopping altogether).

Orders written inside the window carry all their dispenses, so counting them gives the refills
used. The order already in force when the window opens was partly used before it; those earlier
dispenses are missing, as they are from any time-bounded export, and that order is always
replaced (and `completed`) before `today`. Nothing is dispensed on or after `today`.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from fhir_sync.datagen.catalog import Kind
from fhir_sync.datagen.elements import add_months
from fhir_sync.datagen.model import Adherence, Chart, Fill, Practitioner, Rx, Scenario, Therapy

UNFILLED = frozenset({Scenario.NEW_UNFILLED, Scenario.INPATIENT, Scenario.PROPOSED, Scenario.DRAFT})
RETURNED_TO_STOCK = "Not picked up; returned to stock"
ONE_DAY = timedelta(days=1)
PARTIAL_SHARE = 0.025
RETURNED_SHARE = 0.012
ERROR_SHARE = 0.006
TYPED_SHARE = 0.85  # pharmacy systems that send MedicationDispense.type at all
DAYS_SUPPLY_SHARE = 0.92  # the rest send only quantity
IN_PROGRESS_SHARE = 0.35  # a refill being prepared when it is due around `today`


def _between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint` without its argument checking, which dominated the profile."""
    return low + int(rng.random() * (high - low + 1))


def _limits(chart: Chart, therapy: Therapy, valid_from: date, full_year: bool) -> tuple[date, int]:
    """Validity end and refills as a prescriber would write them, within the federal limits."""
    rng = chart.rng
    drug = therapy.drug
    if drug.schedule == "CII":
        return valid_from + timedelta(days=30), 0
    if drug.kind is Kind.ACUTE:
        return valid_from + timedelta(days=30), 0
    if drug.schedule in ("CIII", "CIV"):
        return add_months(valid_from, 6), 5 if full_year else rng.choice((5, 5, 5, 2))
    if drug.kind is Kind.PRN:
        return add_months(valid_from, 12), rng.choice((1, 2, 3, 5))
    yearly = max(1, 365 // therapy.supply_days - 1)
    if not full_year and rng.random() < 0.25:
        yearly = max(1, yearly // 2)
    return add_months(valid_from, 12), yearly


def _new_rx(
    chart: Chart,
    therapy: Therapy,
    authored: date,
    *,
    requester: Practitioner | None = None,
    valid_from: date | None = None,
    full_year: bool = False,
) -> Rx:
    start = valid_from or authored
    valid_until, repeats = _limits(chart, therapy, start, full_year)
    return Rx(
        index=chart.take_rx_index(),
        therapy=therapy,
        authored=authored,
        valid_from=start,
        valid_until=valid_until,
        repeats=repeats,
        requester=requester or therapy.requester,
        minute=_between(chart.rng, 7 * 60 + 30, 17 * 60 + 30),
    )


def _record(
    rx: Rx,
    day: date,
    minute: int,
    quantity: float,
    days: int,
    *,
    supply_type: str | None,
    status: str = "completed",
    reason: str | None = None,
    states_days_supply: bool = True,
) -> Fill:
    rx.records += 1
    return Fill(
        rx, rx.records, rx.fills, day, minute, quantity, days, supply_type, status, reason,
        states_days_supply,
    )  # fmt: skip


def _dispense(chart: Chart, rx: Rx, day: date, fills: list[Fill]) -> tuple[date, int] | None:
    """Fill `rx` on `day` (or later, if the first attempt went back to stock).

    Returns the day the patient picked it up and how many days it covers, or None when the
    fill would fall on or after `today`.
    """
    rng = chart.rng
    today = chart.today
    therapy = rx.therapy
    drug = therapy.drug
    quantity, supply = therapy.fill_quantity, therapy.supply_days
    minute = _between(rng, 9 * 60, 20 * 60)
    if (
        drug.kind is Kind.MAINTENANCE
        and rng.random() < RETURNED_SHARE
        and day + timedelta(days=20) <= rx.valid_until
    ):
        fills.append(
            _record(rx, day, minute, quantity, supply, supply_type=None, status="cancelled",
                    reason=RETURNED_TO_STOCK)
        )  # fmt: skip
        day += timedelta(days=_between(rng, 5, 20))
        if day >= today:
            return None
    first = rx.fills == 0
    partial = (
        drug.kind is Kind.MAINTENANCE
        and drug.package is None
        and quantity >= 4
        and rng.random() < PARTIAL_SHARE
    )
    covered = supply
    if partial:
        part = max(1, round(quantity * rng.uniform(0.2, 0.6)))
        part_days = max(1, supply * part // int(quantity))
        fills.append(
            _record(rx, day, minute, part, part_days, supply_type="FFP" if first else "RFP")
        )
        rest_day = day + timedelta(days=_between(rng, 1, 5))
        if rest_day < today:
            fills.append(
                _record(rx, rest_day, _between(rng, 9 * 60, 20 * 60), quantity - part,
                        supply - part_days, supply_type="FFC" if first else "RFC")
            )  # fmt: skip
        else:
            covered = part_days
    else:
        typed = rng.random() < TYPED_SHARE
        fills.append(
            _record(rx, day, minute, quantity, supply,
                    supply_type=("FF" if first else "RF") if typed else None,
                    states_days_supply=rng.random() < DAYS_SUPPLY_SHARE)
        )  # fmt: skip
        if rng.random() < ERROR_SHARE:
            fills.append(
                _record(rx, day, minute + 3, quantity, supply, supply_type=None,
                        status="entered-in-error")
            )  # fmt: skip
    rx.fills += 1
    return day, covered


def _gap(chart: Chart, covered: int, prn: bool) -> int:
    """Days from one pickup to the next, by the patient's habit with some noise."""
    rng = chart.rng
    if prn:
        return _between(rng, 20, 120)
    roll = rng.random()
    if chart.adherence is Adherence.EARLY or roll < 0.04:
        return covered - _between(rng, max(1, covered // 10), max(2, covered // 4))
    if chart.adherence is Adherence.LATE or roll > 0.94:
        late = _between(rng, 4, 20) if rng.random() < 0.75 else _between(rng, 25, 75)
        return covered + late
    return covered + _between(rng, -2, 3)


def _unfilled(chart: Chart, therapy: Therapy) -> Rx:
    """An order no pharmacy has filled: new, inpatient, proposed or still a draft."""
    rng = chart.rng
    today = chart.today
    scenario = therapy.scenario
    if scenario is Scenario.INPATIENT:
        rx = _new_rx(chart, therapy, today - timedelta(days=_between(rng, 1, 200)))
        rx.category = "inpatient"
        rx.status = rng.choice(("active", "completed"))
    elif scenario is Scenario.PROPOSED:
        rx = _new_rx(chart, therapy, today - timedelta(days=_between(rng, 0, 30)))
        rx.intent = rng.choice(("plan", "proposal"))
    elif scenario is Scenario.DRAFT:
        rx = _new_rx(chart, therapy, today - timedelta(days=_between(rng, 0, 7)))
        rx.status = "draft"
    else:
        rx = _new_rx(chart, therapy, today - timedelta(days=_between(rng, 0, 10)), full_year=True)
    return rx


def _refills(chart: Chart, therapy: Therapy) -> tuple[list[Rx], list[Fill]]:
    """Maintenance and PRN drugs: repeated fills, renewals when an order is used up."""
    rng = chart.rng
    today = chart.today
    scenario = therapy.scenario
    prn = therapy.drug.kind is Kind.PRN
    prior = 0
    if scenario is Scenario.RECENT_START:
        start = today - timedelta(days=_between(rng, 35, 180))
        authored = start - timedelta(days=_between(rng, 0, 4))
    elif scenario is Scenario.EXPIRING:
        start = today - timedelta(days=_between(rng, 300, 330))
        authored = start - timedelta(days=_between(rng, 0, 4))
    else:
        # A long-standing therapy: the order in force a year ago was written at a random
        # earlier date, so renewals (and expiry dates) fall anywhere in the year.
        start = today - timedelta(days=365 + _between(rng, 0, 30))
        short_validity = therapy.drug.schedule in ("CIII", "CIV")
        authored = start - timedelta(days=_between(rng, 1, 150 if short_validity else 330))
        prior = (start - authored).days // therapy.supply_days
        if prn:
            prior = _between(rng, 0, 2)
    stop: date | None = None
    if scenario in (Scenario.STOPPED, Scenario.ON_HOLD):
        stop = today - timedelta(days=_between(rng, 25, 150))
    if chart.stop_filling is not None and not prn:
        stop = chart.stop_filling if stop is None else min(stop, chart.stop_filling)
    renew = scenario is not Scenario.EXPIRING
    rx = _new_rx(
        chart,
        therapy,
        authored,
        full_year=scenario in (Scenario.EXPIRING, Scenario.LOW_REFILLS),
    )
    rx.fills = rx.prior_fills = min(prior, rx.repeats + 1)
    orders = [rx]
    fills: list[Fill] = []
    day = start
    while day < today and (stop is None or day < stop):
        if rx.fills > rx.repeats or day > rx.valid_until:
            if not renew:
                break
            rx.status = "completed"
            authored = max(rx.authored + ONE_DAY, day - timedelta(days=_between(rng, 0, 6)))
            requester = rx.requester if rng.random() < 0.9 else chart.primary
            rx = _new_rx(chart, therapy, authored, requester=requester)
            orders.append(rx)
        done = _dispense(chart, rx, day, fills)
        if done is None:
            break
        picked_up, covered = done
        day = picked_up + timedelta(days=_gap(chart, covered, prn))
    if (
        stop is None
        and not prn
        and today - timedelta(days=3) <= day < today + timedelta(days=3)
        and rx.fills <= rx.repeats
        and rng.random() < IN_PROGRESS_SHARE
    ):
        prepared = today - ONE_DAY
        fills.append(
            _record(rx, prepared, _between(rng, 9 * 60, 18 * 60), therapy.fill_quantity,
                    therapy.supply_days, supply_type=None, status="in-progress")
        )  # fmt: skip
    if scenario is Scenario.LOW_REFILLS and rx.fills and not rx.prior_fills:
        cap = 5 if therapy.drug.schedule in ("CIII", "CIV") else rx.repeats
        rx.repeats = min(cap, max(0, rx.fills - 1 + _between(rng, 0, 1)))
    elif scenario is Scenario.STOPPED:
        rx.status, rx.status_reason = "stopped", "Discontinued by prescriber"
    elif scenario is Scenario.ON_HOLD:
        rx.status, rx.status_reason = "on-hold", "Held by prescriber pending lab results"
    if therapy.second_requester is not None:
        twin = _new_rx(
            chart,
            therapy,
            today - timedelta(days=_between(rng, 5, 120)),
            requester=therapy.second_requester,
        )
        orders.append(twin)
        fill_day = twin.authored + timedelta(days=_between(rng, 0, 3))
        if fill_day < today and rng.random() < 0.5:
            _dispense(chart, twin, fill_day, fills)
    return orders, fills


def _acute(chart: Chart, therapy: Therapy) -> tuple[list[Rx], list[Fill]]:
    """One course, filled once (or never), finished unless written in the last days."""
    rng = chart.rng
    today = chart.today
    rx = _new_rx(chart, therapy, today - timedelta(days=_between(rng, 1, 365)))
    fills: list[Fill] = []
    fill_day = rx.authored + timedelta(days=_between(rng, 0, 2))
    if fill_day < today and rng.random() < 0.9:
        _dispense(chart, rx, fill_day, fills)
    if rx.authored + timedelta(days=therapy.supply_days + 2) < today:
        rx.status = "completed"
    return [rx], fills


def _seasonal(chart: Chart, therapy: Therapy) -> tuple[list[Rx], list[Fill]]:
    """An allergy season: monthly fills from spring into summer, then nothing."""
    rng = chart.rng
    today = chart.today
    year = today.year if date(today.year, 4, 1) < today else today.year - 1
    start = date(year, 3, 1) + timedelta(days=_between(rng, 0, 45))
    end = min(start + timedelta(days=_between(rng, 60, 120)), today)
    rx = _new_rx(chart, therapy, start - timedelta(days=_between(rng, 0, 7)))
    fills: list[Fill] = []
    day = start
    while day < end and rx.fills <= rx.repeats:
        done = _dispense(chart, rx, day, fills)
        if done is None:
            break
        day = done[0] + timedelta(days=done[1] + _between(rng, -2, 6))
    if end < today - timedelta(days=7):
        rx.status = "completed"
    return [rx], fills


def _series(chart: Chart, therapy: Therapy) -> tuple[list[Rx], list[Fill]]:
    """Schedule II maintenance: three no-refill prescriptions per visit, every ~90 days.

    Their validity starts (earliest-fill dates) are 0, 30 and 60 days after the visit, as
    21 CFR 1306.12(b) allows. One not filled in time stays `active` past its validity end, as
    EHRs leave them, and the engine must notice.
    """
    rng = chart.rng
    today = chart.today
    if therapy.scenario is Scenario.RECENT_START:
        visit = today - timedelta(days=_between(rng, 30, 120))
    else:
        visit = today - timedelta(days=_between(rng, 300, 380))
    orders: list[Rx] = []
    fills: list[Fill] = []
    due = visit
    while visit < today:
        for step in range(3):
            rx = _new_rx(chart, therapy, visit, valid_from=visit + timedelta(days=30 * step))
            orders.append(rx)
            fill_day = max(rx.valid_from, due)
            if fill_day >= today or fill_day > rx.valid_until:
                continue
            if chart.stop_filling is not None and fill_day >= chart.stop_filling:
                continue
            done = _dispense(chart, rx, fill_day, fills)
            if done is not None:
                rx.status = "completed"
                due = done[0] + timedelta(days=_gap(chart, done[1], prn=False))
        visit += timedelta(days=_between(rng, 84, 95))
    return orders, fills


def orders_and_fills(chart: Chart, therapy: Therapy) -> tuple[list[Rx], list[Fill]]:
    """The orders written for one therapy and every dispense made against them."""
    if therapy.scenario in UNFILLED:
        return [_unfilled(chart, therapy)], []
    drug = therapy.drug
    if drug.kind is Kind.ACUTE:
        return _acute(chart, therapy)
    if drug.kind is Kind.SEASONAL:
        return _seasonal(chart, therapy)
    if drug.schedule == "CII":
        return _series(chart, therapy)
    return _refills(chart, therapy)
