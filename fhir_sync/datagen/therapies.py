"""Which drugs a patient is on and which story each one's orders tell.

The weights aim at what a community pharmacy sees: mostly chronic oral maintenance drugs, a
few inhalers, pens and drops, some PRN and acute orders, a handful of controlled substances,
and a steady trickle of awkward cases (orders about to expire or run out of refills, drafts,
proposals, inpatient orders, duplicates from two prescribers) that a sync engine must handle.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from typing import Generic, TypeVar

from fhir_sync.datagen import catalog
from fhir_sync.datagen.catalog import Drug, Kind
from fhir_sync.datagen.model import Chart, DosageStyle, Practitioner, Scenario, Therapy
from fhir_sync.datagen.people import age_on

T = TypeVar("T")

# Therapies per patient: 1..11, mean about 5.
THERAPY_COUNTS = tuple(range(1, 12))
THERAPY_COUNT_WEIGHTS = (5, 9, 13, 15, 15, 13, 10, 8, 6, 4, 2)

SLOTS: tuple[tuple[tuple[Drug, ...], int], ...] = (
    (catalog.MAINTENANCE, 64),
    (catalog.UNBREAKABLE, 8),
    (catalog.BY_STRENGTH, 6),
    (catalog.PRN, 8),
    (catalog.ACUTE, 8),
    (catalog.SEASONAL, 3),
    (catalog.CONTROLLED, 9),
)

MAINTENANCE_SCENARIOS: tuple[tuple[Scenario, int], ...] = (
    (Scenario.ESTABLISHED, 114),
    (Scenario.RECENT_START, 16),
    (Scenario.NEW_UNFILLED, 10),
    (Scenario.EXPIRING, 8),
    (Scenario.LOW_REFILLS, 14),
    (Scenario.STOPPED, 6),
    (Scenario.ON_HOLD, 3),
    (Scenario.INPATIENT, 5),
    (Scenario.PROPOSED, 5),
    (Scenario.DRAFT, 3),
)
# Controlled maintenance drugs keep to the common cases; their legal limits are the point.
CONTROLLED_SCENARIOS: tuple[tuple[Scenario, int], ...] = (
    (Scenario.ESTABLISHED, 10),
    (Scenario.RECENT_START, 2),
    (Scenario.LOW_REFILLS, 2),
    (Scenario.NEW_UNFILLED, 1),
)
DUPLICATE_SHARE = 0.04
NINETY_DAY_SHARE = 0.35


@dataclass(frozen=True, slots=True)
class _Table(Generic[T]):
    """Weighted choices with cumulative weights computed once (this runs per therapy)."""

    items: tuple[T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[T, float]]) -> _Table[T]:
        items, weights = zip(*pairs, strict=True)
        return cls(tuple(items), tuple(accumulate(weights)))

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


_DRUGS = _Table.of(
    (_Table.of((drug, drug.weight) for drug in drugs), weight) for drugs, weight in SLOTS
)
_MAINTENANCE_SCENARIOS = _Table.of(MAINTENANCE_SCENARIOS)
_CONTROLLED_SCENARIOS = _Table.of(CONTROLLED_SCENARIOS)
_THERAPY_COUNTS = _Table.of(zip(THERAPY_COUNTS, THERAPY_COUNT_WEIGHTS, strict=True))


def _pick_drug(chart: Chart, taken: set[str]) -> Drug:
    rng = chart.rng
    age = age_on(chart.person, chart.today)
    for _ in range(20):
        drug = _DRUGS.pick(rng).pick(rng)
        if drug.code not in taken and (drug.max_age is None or age <= drug.max_age):
            return drug
    return next(drug for drug in catalog.MAINTENANCE if drug.code not in taken)


def _supply(rng: random.Random, drug: Drug, per_day: float) -> tuple[int, float]:
    """Days supply and quantity of one ordinary fill."""
    if drug.kind is Kind.ACUTE:
        course = rng.choice(drug.course_days)
        return course, math.ceil(per_day * course)
    if drug.kind is Kind.PRN and drug.fill_quantity is not None:
        return max(1, math.floor(drug.fill_quantity / per_day)), drug.fill_quantity
    target = 90 if drug.schedule is None and rng.random() < NINETY_DAY_SHARE else 30
    if drug.kind is Kind.SEASONAL:
        target = 30
    if drug.package is not None:
        packs = max(1, round(per_day * target / drug.package))
        amount = packs * drug.package
        return math.floor(amount / per_day), amount
    amount = math.ceil(per_day * target - 1e-9)
    # A dose further apart than the target (a 12-week kit) still goes out whole.
    return max(target, math.floor(amount / per_day + 1e-9)), amount


def _course(rng: random.Random, drug: Drug) -> str | None:
    """courseOfTherapyType, left out now and then because many EHRs never send it."""
    if drug.kind is Kind.MAINTENANCE:
        return "continuous" if rng.random() < 0.85 else None
    if drug.kind is Kind.ACUTE:
        return "acute" if rng.random() < 0.93 else None
    if drug.kind is Kind.SEASONAL:
        return "seasonal" if rng.random() < 0.9 else None
    return "continuous" if drug.package is not None and rng.random() < 0.5 else None


def _dosage(rng: random.Random, drug: Drug) -> DosageStyle:
    """Mostly coded sigs; some free text with a dispense quantity, a few with nothing usable."""
    roll = rng.random()
    if drug.kind is Kind.MAINTENANCE and drug.schedule is None:
        if roll < 0.02:
            return DosageStyle.NONE
        return DosageStyle.QUANTITY_ONLY if roll < 0.10 else DosageStyle.FULL
    return DosageStyle.QUANTITY_ONLY if roll < 0.05 else DosageStyle.FULL


def _scenario(rng: random.Random, drug: Drug) -> Scenario:
    if drug.kind is not Kind.MAINTENANCE:
        return Scenario.ESTABLISHED
    if drug.schedule is not None:
        return _CONTROLLED_SCENARIOS.pick(rng)
    return _MAINTENANCE_SCENARIOS.pick(rng)


def _requester(chart: Chart) -> Practitioner:
    if chart.rng.random() < 0.7:
        return chart.primary
    return chart.rng.choice(chart.specialists)


def therapies(chart: Chart) -> list[Therapy]:
    """The patient's drugs, each with the scenario its orders and fills will follow."""
    rng = chart.rng
    count = _THERAPY_COUNTS.pick(rng)
    taken: set[str] = set()
    result = []
    for _ in range(count):
        drug = _pick_drug(chart, taken)
        taken.add(drug.code)
        regimen = rng.choice(drug.regimens)
        supply_days, fill_quantity = _supply(rng, drug, regimen.per_day)
        scenario = _scenario(rng, drug)
        requester = _requester(chart)
        second = None
        if (
            scenario in (Scenario.ESTABLISHED, Scenario.RECENT_START)
            and drug.kind is Kind.MAINTENANCE
            and drug.schedule is None
            and rng.random() < DUPLICATE_SHARE
        ):
            others = [p for p in (chart.primary, *chart.specialists) if p != requester]
            second = rng.choice(others)
        result.append(
            Therapy(
                drug=drug,
                regimen=regimen,
                supply_days=supply_days,
                fill_quantity=fill_quantity,
                scenario=scenario,
                dosage=_dosage(rng, drug),
                course=_course(rng, drug),
                requester=requester,
                second_requester=second,
            )
        )
    return result
