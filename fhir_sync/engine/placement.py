"""Where one synced order's next dispense falls for a given anchor, and whether the payer pays it.

The pickups of an anchor S with cycle C fall on S + k*C for every k, so an order due on day d
needs s = (S - d) mod C days to reach the next pickup (domain.md section 2). s = 0 means d is a
pickup: the fill there is an ordinary full-cycle refill, not a short fill. Otherwise, in this
order of preference:

- early: the previous pickup is at most the grouping window (or the slack of an unbreakable
  package) before d and the payer already pays a refill then: the full cycle is dispensed at
  that pickup (the few days left over stay with the patient);
- late: the next pickup is at most the pharmacy's tolerance after d: the refill waits for it;
- short: a one-time fill of s days on d, so that the supply ends on the next pickup; when
  the whole steps covering s days bill so many that the payer would refuse the pickup's
  refill as too soon (a pen of 13 days, 10 days before the pickup), the fewest whole steps
  covering s + C days, to the pickup after it, when the payer accepts that one;
- a package lasting a cycle or more is never short filled: it goes out on the pickup at most
  its slack (a quarter of its days) before it runs out when the payer pays it then, else on its
  run-out date;
- own date: no fill of the order can join the pickups without a refill the payer refuses as
  too soon (an unbreakable package that lasts far longer than it should), so it is dispensed
  on its own date and the plan says so.

Refill-too-soon: a payer pays a refill from F + ceil(t * D) on, F the previous fill's date, D
its days supply, t the plan's threshold (0.80 usually, 0.70 for eye drops on some Part D
plans); NCPDP reject 79 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from fhir_sync.engine.supply import cycle_units, days_covered, units_for


class Kind(StrEnum):
    """How an order's next dispense reaches the pickups."""

    NATURAL = "natural"
    EARLY = "early"
    LATE = "late"
    SHORT = "short"
    OWN = "own"


@dataclass(frozen=True, slots=True)
class Need:
    """One synced order as the anchor choice sees it; days are proleptic ordinals.

    `due` is the next fill (the day the supply on hand runs out, or today); `earliest` the first
    day the payer pays that fill (never before today); `slack` the days one indivisible step of
    the order lasts beyond what was needed; `threshold` the payer's refill-too-soon share;
    `lag` the days after `due` the fill can first be handed over when the pharmacy is closed on
    `due` and the payer does not pay it on the open day before (its supply then starts later).
    Build it with `need_for`, which works out `cycle_ok`.
    """

    order_id: str
    due: int
    earliest: int
    slack: int
    daily: Fraction
    step: Fraction
    threshold: Fraction
    cycle_ok: bool  # the refill one cycle after a full-cycle dispense is paid
    pack: bool  # one indivisible step outlasts a cycle: never short filled
    lag: int = 0

    def billed_days(self, days: int) -> int:
        """The true days supply of the smallest dispense covering `days` days."""
        return days_covered(units_for(days, self.daily, self.step), self.daily)

    def joins_after(self, days: int) -> bool:
        """Whether the refill `days` after a dispense covering `days` days is paid."""
        return _joins(days, self.daily, self.step, self.threshold)


def need_for(
    order_id: str,
    due: int,
    earliest: int,
    slack: int,
    daily: Fraction,
    step: Fraction,
    threshold: Fraction,
    cycle: int,
    lag: int = 0,
) -> Need:
    ok, pack = _cycle_facts(daily, step, threshold, cycle)
    return Need(order_id, due, earliest, slack, daily, step, threshold, ok, pack, lag)


@lru_cache(maxsize=1 << 12)
def _cycle_facts(
    daily: Fraction, step: Fraction, threshold: Fraction, cycle: int
) -> tuple[bool, bool]:
    # Cached: a population has few distinct doses, packages and thresholds.
    # The refill after a full-cycle one is paid when the cycle's quantity (see cycle_units)
    # bills few enough days.
    ok = too_soon_days(days_covered(cycle_units(cycle, daily, step), daily), threshold) <= cycle
    pack = step / daily >= cycle
    return ok, pack


def too_soon_days(days_supply: int, threshold: Fraction) -> int:
    """ceil(t * D): how long after a fill of D days the payer pays the next one (exact)."""
    return -(-threshold.numerator * days_supply // threshold.denominator)


@lru_cache(maxsize=1 << 16)
def _joins(days: int, daily: Fraction, step: Fraction, threshold: Fraction) -> bool:
    # Cached: a population has few distinct doses, packages and thresholds, and the anchor
    # search asks the same question for every candidate day.
    billed = days_covered(units_for(days, daily, step), daily)
    return too_soon_days(billed, threshold) <= days


class Placement(NamedTuple):
    """Where the next dispense wants to be (`day`) and the pickup it joins (`join`).

    `join` is None for an order dispensed on its own date; `short` is the days of a short fill.
    A tuple: the anchor search makes one per order for every day of the cycle.
    """

    kind: Kind
    day: int
    join: int | None
    short: int = 0


def place(need: Need, anchor: int, cycle: int, window: int, tolerance: int) -> Placement:
    """The next dispense of `need` under an anchor (any pickup of the cycle)."""
    if not need.cycle_ok and not need.pack:
        return Placement(Kind.OWN, need.due, None)
    due = need.due
    gap = (anchor - due) % cycle
    if gap == 0:
        return Placement(Kind.NATURAL, due, due)
    after = due + gap
    before = after - cycle
    if due - before <= max(window, need.slack) and before >= need.earliest:
        return Placement(Kind.EARLY, before, before)
    if gap <= tolerance:
        return Placement(Kind.LATE, after, after)
    if need.pack:
        # A package lasting a cycle or more is never short filled: it waits for an anchor
        # the payer accepts (above), else it goes out on its run-out date.
        return Placement(Kind.OWN, due, None)
    if need.step <= need.daily:
        # Steps of at most a day each: the short fill bills exactly `gap` days, and
        # ceil(t * gap) <= gap for any t <= 1.
        return Placement(Kind.SHORT, due, after, gap)
    # Handed over `lag` days late (a closed pharmacy), the short fill covers fewer days to the
    # pickup, and the payer counts the days to its refill from the later hand-over.
    reach = gap - need.lag if need.lag < gap else gap
    if need.joins_after(reach):
        return Placement(Kind.SHORT, due, after, gap)
    # The whole steps reaching the next pickup bill so many days that the payer would refuse
    # the pickup's refill as too soon: the fewest whole steps reaching the pickup after it,
    # when the payer accepts that one; else the order goes out on its own date.
    if need.cycle_ok and need.joins_after(reach + cycle):
        return Placement(Kind.SHORT, due, after + cycle, gap + cycle)
    return Placement(Kind.OWN, due, None)


# `GapTable.join` for an order on its own date: later than any day (ordinals end at 3,652,059).
NO_JOIN = 1 << 40


class GapTable(NamedTuple):
    """`place` for every gap g = (anchor - due) mod cycle, days counted from the due date:
    entry g is `place(need, due + g, ...)` with `due` taken off `day` and `join`. Each list
    holds the cycle twice over, so that the entries for the anchors `due + g ... due + g +
    cycle - 1` are one slice `[g : g + cycle]`. `own` and `short` count 1 for that kind;
    `join` holds NO_JOIN where `join` is None."""

    placements: tuple[Placement, ...]
    own: tuple[int, ...]
    short: tuple[int, ...]
    join: tuple[int, ...]


def by_gap(need: Need, cycle: int, window: int, tolerance: int) -> GapTable:
    """The `GapTable` of one need.

    The anchor search asks every day of the cycle, i.e. every gap once per order. Relative to
    the due date the answer depends only on the order's dose, package and payer facts and on
    how long before its due date the payer pays it, which a population shares widely: it is
    worked out once per such combination (with the days a closed pharmacy hands it over late),
    by `place` itself.
    """
    lead = max(need.earliest - need.due, -cycle)  # before `-cycle` every early day is paid
    return _by_gap(
        need.cycle_ok, need.pack, need.slack, need.daily, need.step, need.threshold, lead,
        need.lag, cycle, window, tolerance,
    )  # fmt: skip


@lru_cache(maxsize=1 << 14)
def _by_gap(
    cycle_ok: bool,
    pack: bool,
    slack: int,
    daily: Fraction,
    step: Fraction,
    threshold: Fraction,
    lead: int,
    lag: int,
    cycle: int,
    window: int,
    tolerance: int,
) -> GapTable:
    # Placements do not change when the due date, the earliest date and the anchor all move
    # by the same days: place a need due on day `cycle` (an ordinal like any other).
    need = Need("", cycle, cycle + lead, slack, daily, step, threshold, cycle_ok, pack, lag)
    found = []
    for gap in range(cycle):
        p = place(need, cycle + gap, cycle, window, tolerance)
        join = None if p.join is None else p.join - cycle
        found.append(Placement(p.kind, p.day - cycle, join, p.short))
    placements = tuple(found) * 2
    return GapTable(
        placements,
        tuple(1 if p.kind is Kind.OWN else 0 for p in placements),
        tuple(1 if p.kind is Kind.SHORT else 0 for p in placements),
        tuple(NO_JOIN if p.join is None else p.join for p in placements),
    )
