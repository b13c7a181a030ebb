"""Choosing the anchor date: the one day a cycle when every synced refill is picked up.

For an anchor S each order is placed as `placement.place` says (a full-cycle refill on a
pickup, an early refill within the window, a short fill, or its own date) and the next
dispenses are gathered into trips (`visits.plan_trips`).

Automatic choice, over the open days of one cycle starting `lead` days ahead: a day the
pharmacy's daily limit of pickups does not already fill, then the fewest orders left on their
own date, the fewest short fills (each is a claim and, where copays are not prorated, a copay),
the fewest trips besides the pickup, the fewest days refilled early (stock the patient
piles up), the fewest short-fill days, the fewest pickups already
planned that day (so a population enrolled at once spreads over the cycle), and the earliest
day. A patient whose supplies already end together therefore keeps that date: every order
refills on it in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from operator import add

from fhir_sync.engine.calendar import day_of_month, next_open_day
from fhir_sync.engine.placement import NO_JOIN, GapTable, Kind, Need, Placement, by_gap, place
from fhir_sync.engine.types import Preferences
from fhir_sync.engine.visits import Trip, plan_trips

Cost = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything an anchor implies for one patient's orders (positions as the needs)."""

    anchor: int
    placements: list[Placement]
    trips: list[Trip]

    @property
    def busy(self) -> bool:
        """Whether anything is dispensed on the anchor (a pickup worth an Appointment)."""
        anchor = self.anchor
        return any(p.join is not None and p.join <= anchor for p in self.placements) or any(
            t.day == anchor for t in self.trips
        )

    def cost(self, needs: Sequence[Need]) -> Cost:
        anchor = self.anchor
        own = shorts = early = short_days = 0
        others = set()
        for need, placement, trip in zip(needs, self.placements, self.trips, strict=True):
            kind = placement.kind
            if kind is Kind.OWN:
                own += 1
            elif kind is Kind.SHORT:
                shorts += 1
                short_days += placement.short
                if placement.join is not None and placement.join < anchor:
                    others.add(placement.join)  # a short fill's pickup before the anchor
            if placement.day < need.due:
                early += need.due - placement.day
            if trip.day != anchor:
                others.add(trip.day)
        return own, shorts, len(others), early, short_days


def lay_out(needs: Sequence[Need], phase: int, today: date, prefs: Preferences) -> Layout:
    """Place every order on the cycle through `phase`, gather the trips, name the pickup."""
    anchor, placements = _placed(needs, phase, prefs)
    trips = plan_trips(
        needs, placements, today.toordinal(), prefs.window_days, prefs.closed_weekdays
    )
    return Layout(anchor, placements, trips)


def _placed(needs: Sequence[Need], phase: int, prefs: Preferences) -> tuple[int, list[Placement]]:
    """The placements on the cycle through `phase`, and the first pickup.

    The first pickup is `phase` when some order refills there; when every order joins later
    (long supplies on hand), it is the first pickup any of them joins, so that no Appointment
    is written for a day with nothing to dispense.
    """
    cycle = prefs.cycle_days
    placements = [place(n, phase, cycle, prefs.window_days, prefs.tolerance_days) for n in needs]
    joins = [p.join for p in placements if p.join is not None]
    anchor = phase
    if joins and min(joins) > phase:
        first = phase + (min(joins) - phase) // cycle * cycle
        if date.fromordinal(first).weekday() not in prefs.closed_weekdays:
            anchor = first
    return anchor, placements


def choose_layout(
    needs: Sequence[Need], today: date, prefs: Preferences, load: Mapping[date, int]
) -> Layout:
    """The layout for these orders under the patient's preferences and the pharmacy's load."""
    earliest = today + timedelta(days=prefs.lead_days)
    if prefs.anchor_date is not None:
        # The established pickup day itself while it is still ahead; once it has passed,
        # its first occurrence that leaves the lead time.
        behind = (earliest - prefs.anchor_date).days
        cycles = max(0, -(-behind // prefs.cycle_days))
        occurrence = prefs.anchor_date + timedelta(days=cycles * prefs.cycle_days)
        fixed = next_open_day(occurrence, prefs.closed_weekdays)
        return lay_out(needs, fixed.toordinal(), today, prefs)
    if prefs.anchor_day is not None:
        fixed = _preferred_day(earliest, prefs)
        return lay_out(needs, fixed.toordinal(), today, prefs)
    return _automatic(needs, today, prefs, load)


def _preferred_day(earliest: date, prefs: Preferences) -> date:
    assert prefs.anchor_day is not None
    year, month = earliest.year, earliest.month
    candidate = day_of_month(year, month, prefs.anchor_day)
    if candidate < earliest:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        candidate = day_of_month(year, month, prefs.anchor_day)
    return next_open_day(candidate, prefs.closed_weekdays)


def anchor_costs(
    needs: Sequence[Need], today: date, prefs: Preferences
) -> list[tuple[Cost, date, Layout]]:
    """Every open day of the automatic window with what anchoring there costs the patient."""
    # What `lay_out` gives for each day, with the placements read from `by_gap` tables.
    found = []
    closed = prefs.closed_weekdays
    cycle, window = prefs.cycle_days, prefs.window_days
    first = (today + timedelta(days=prefs.lead_days)).toordinal()
    tables = _tables(needs, first, prefs)
    for offset in range(cycle):
        # One day of each pickup cycle; a closed day still stands for its cycle when the
        # first pickup with something to dispense falls on a later, open occurrence.
        placements = []
        for need, (table, turn) in zip(needs, tables, strict=True):
            due = need.due
            p = table.placements[turn + offset]
            join = None if p.join is None else due + p.join
            placements.append(Placement(p.kind, due + p.day, join, p.short))
        anchor = _first_pickup(first + offset, placements, cycle, closed)
        if closed and (anchor - 1) % 7 in closed:  # ordinal 1 is a Monday
            continue
        trips = plan_trips(needs, placements, today.toordinal(), window, closed)
        layout = Layout(anchor, placements, trips)
        found.append((layout.cost(needs), date.fromordinal(anchor), layout))
    return found


def _tables(needs: Sequence[Need], first: int, prefs: Preferences) -> list[tuple[GapTable, int]]:
    """Each need's `by_gap` table and where in it the anchor `first` is (the entry for the
    anchor `first + k`, k < cycle, is at that position + k)."""
    cycle, window, tolerance = prefs.cycle_days, prefs.window_days, prefs.tolerance_days
    return [(by_gap(n, cycle, window, tolerance), (first - n.due) % cycle) for n in needs]


def _first_pickup(
    phase: int, placements: Sequence[Placement], cycle: int, closed: frozenset[int]
) -> int:
    """As `_placed`: `phase`, or the first pickup any order joins when every one joins later
    (and that day is open)."""
    joins = [p.join for p in placements if p.join is not None]
    if joins:
        return _pickup_from(phase, min(joins), cycle, closed)
    return phase


def _pickup_from(phase: int, low: int, cycle: int, closed: frozenset[int]) -> int:
    """The first pickup with something to dispense, `low` being the earliest any order joins
    (every join is a pickup of the cycle through `phase`)."""
    if low > phase:
        first = phase + (low - phase) // cycle * cycle
        if not closed or (first - 1) % 7 not in closed:  # ordinal 1 is a Monday
            return first
    return phase


def pick_anchor(
    costs: Sequence[tuple[Cost, date, bool]], limit: int | None, load: Mapping[date, int]
) -> date:
    """The best anchor once the pharmacy's load is known: a day not full, then the patient's
    cost, then the fewest pickups already planned, then the earliest day. When every day is
    full, the emptiest."""
    best: tuple[tuple[int, ...], date] | None = None
    for cost, day, _ in costs:
        planned = load.get(day, 0)
        if limit is not None and planned >= limit:
            key = (1, planned, *cost, 0, day.toordinal())  # every day full: the emptiest
        else:
            key = (0, 0, *cost, planned, day.toordinal())
        if best is None or key < best[0]:
            best = (key, day)
    if best is None:  # unreachable: Preferences keeps at least one weekday open
        raise ValueError("no open day in the anchor window")
    return best[1]


def _automatic(
    needs: Sequence[Need], today: date, prefs: Preferences, load: Mapping[date, int]
) -> Layout:
    """`pick_anchor` over `anchor_costs`, with the trips (the costly part) gathered only for
    the days that can still win: those with the best (day full, orders on their own date,
    short fills), which lead the comparison. Same choice, a fraction of the work."""
    limit = prefs.daily_limit
    cycle, closed = prefs.cycle_days, prefs.closed_weekdays
    first = (today + timedelta(days=prefs.lead_days)).toordinal()
    # Per day of the window (columns): orders on their own date, short fills, first join.
    owns: list[int] = [0] * cycle
    shorts: list[int] = [0] * cycle
    lows: list[int] = [NO_JOIN] * cycle
    for need, (table, turn) in zip(needs, _tables(needs, first, prefs), strict=True):
        end, due = turn + cycle, need.due
        owns = list(map(add, owns, table.own[turn:end]))
        shorts = list(map(add, shorts, table.short[turn:end]))
        lows = list(map(min, lows, [due + j for j in table.join[turn:end]]))
    heads: list[tuple[tuple[int, int, int, int], int]] = []
    for offset in range(cycle):
        phase = first + offset
        low = lows[offset]
        anchor = phase if low >= NO_JOIN else _pickup_from(phase, low, cycle, closed)
        if closed and (anchor - 1) % 7 in closed:  # ordinal 1 is a Monday
            continue
        planned = load.get(date.fromordinal(anchor), 0)
        full = limit is not None and planned >= limit
        own, short = owns[offset], shorts[offset]
        heads.append(((1, planned, own, short) if full else (0, 0, own, short), phase))
    if not heads:  # unreachable: Preferences keeps at least one weekday open
        raise ValueError("no open day in the anchor window")
    best = min(head for head, _ in heads)
    layouts = [lay_out(needs, phase, today, prefs) for head, phase in heads if head == best]
    found = [(lay.cost(needs), date.fromordinal(lay.anchor), lay) for lay in layouts]
    chosen = pick_anchor([(c, d, lay.busy) for c, d, lay in found], limit, load)
    return next(layout for _, day, layout in found if day == chosen)
