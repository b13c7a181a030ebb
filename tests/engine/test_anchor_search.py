"""The anchor search's shortcuts against the rules they stand for.

`placement.by_gap` works out `place` once per gap for a kind of order; `anchor.anchor_costs`
and `anchor._automatic` read their placements from those tables instead of placing every order
for every day. Here each is held to the plain way: `place` and `lay_out` called for every day
of the cycle.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_sync.engine.anchor import Cost, Layout, anchor_costs, choose_layout, lay_out, pick_anchor
from fhir_sync.engine.placement import Need, by_gap, need_for, place
from fhir_sync.engine.supply import slack_days
from fhir_sync.engine.types import Preferences
from tests.engine.strategies import TODAY

settings.register_profile(
    "anchor-search", max_examples=int(os.environ.get("ENGINE_EXAMPLES", "300")), deadline=None
)
settings.load_profile("anchor-search")

preferences = st.builds(
    Preferences,
    cycle_days=st.sampled_from([28, 30, 90]),
    closed_weekdays=st.sampled_from([frozenset(), frozenset({6}), frozenset({5, 6})]),
    lead_days=st.integers(0, 10),
    window_days=st.integers(0, 7),
    tolerance_days=st.integers(0, 3),
    daily_limit=st.none() | st.integers(1, 3),
)
# Daily uses and steps (a tablet, half a pen, a 28-day blister, a package outlasting a cycle).
DAILY = [Fraction(1), Fraction(2), Fraction(1, 2), Fraction(1, 7), Fraction(3, 2)]
STEP = [Fraction(1), Fraction(1, 2), Fraction(5), Fraction(28), Fraction(60), Fraction(200)]
THRESHOLD = [Fraction(4, 5), Fraction(7, 10), Fraction(3, 4), Fraction(1)]


@st.composite
def needs(draw: st.DrawFn, cycle: int, order_id: str) -> Need:
    today = TODAY.toordinal()
    due = today + draw(st.integers(0, 200))  # some supplies last past the whole window
    earliest = draw(st.integers(today, due))
    daily, step = draw(st.sampled_from(DAILY)), draw(st.sampled_from(STEP))
    return need_for(
        order_id,
        due,
        earliest,
        slack_days(daily, step, cycle),
        daily,
        step,
        draw(st.sampled_from(THRESHOLD)),
        cycle,
    )


@st.composite
def patients(draw: st.DrawFn) -> tuple[list[Need], Preferences]:
    prefs = draw(preferences)
    count = draw(st.integers(1, 5))
    return [draw(needs(prefs.cycle_days, f"o{n}")) for n in range(count)], prefs


@given(patients())
def test_the_gap_table_is_place_for_every_gap(patient: tuple[list[Need], Preferences]) -> None:
    found, prefs = patient
    cycle, window, tolerance = prefs.cycle_days, prefs.window_days, prefs.tolerance_days
    for need in found:
        table = by_gap(need, cycle, window, tolerance)
        assert len(table.placements) == 2 * cycle
        for gap in range(2 * cycle):
            p = place(need, need.due + gap, cycle, window, tolerance)
            q = table.placements[gap]
            assert (q.kind, need.due + q.day, q.short) == (p.kind, p.day, p.short)
            assert (None if q.join is None else need.due + q.join) == p.join
            assert table.own[gap] == (p.kind == "own")
            assert table.short[gap] == (p.kind == "short")
            assert (p.join is None) == (table.join[gap] > 10**9)


def _every_day(needs: list[Need], prefs: Preferences) -> list[tuple[Cost, date, Layout]]:
    """The plain search: `lay_out` on each day of the window, the closed anchors left out."""
    earliest = TODAY + timedelta(days=prefs.lead_days)
    found = []
    for offset in range(prefs.cycle_days):
        layout = lay_out(needs, (earliest + timedelta(days=offset)).toordinal(), TODAY, prefs)
        anchor = date.fromordinal(layout.anchor)
        if anchor.weekday() not in prefs.closed_weekdays:
            found.append((layout.cost(needs), anchor, layout))
    return found


@given(patients())
def test_anchor_costs_are_every_days_layout(patient: tuple[list[Need], Preferences]) -> None:
    found, prefs = patient
    assert anchor_costs(found, TODAY, prefs) == _every_day(found, prefs)


@given(patients(), st.lists(st.integers(0, 4), min_size=100, max_size=100))
def test_the_automatic_anchor_is_the_best_layout_of_every_day(
    patient: tuple[list[Need], Preferences], loads: list[int]
) -> None:
    found, prefs = patient
    start = TODAY + timedelta(days=prefs.lead_days)
    load = {start + timedelta(days=i): n for i, n in enumerate(loads)}
    every = _every_day(found, prefs)
    best = pick_anchor([(c, d, lay.busy) for c, d, lay in every], prefs.daily_limit, load)
    chosen = choose_layout(found, TODAY, prefs, load)
    assert chosen == next(layout for _, day, layout in every if day == best)
