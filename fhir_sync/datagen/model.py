"""Plain records the generator reasons with before anything becomes FHIR JSON.

Keeping the simulation on small dataclasses lets `history` decide refills and renewals without
knowing FHIR shapes, and lets `resources` render without re-deciding anything.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from fhir_sync.datagen.catalog import Drug, Regimen


class Adherence(StrEnum):
    """How a patient refills, the behaviours PDC and sync must cope with."""

    ON_TIME = "on-time"
    EARLY = "early"
    LATE = "late"
    STOPPED = "stopped"


class Scenario(StrEnum):
    """What the order set of one therapy looks like today."""

    ESTABLISHED = "established"
    RECENT_START = "recent-start"
    NEW_UNFILLED = "new-unfilled"
    EXPIRING = "expiring"
    LOW_REFILLS = "low-refills"
    STOPPED = "stopped"
    ON_HOLD = "on-hold"
    INPATIENT = "inpatient"
    PROPOSED = "proposed"
    DRAFT = "draft"


class DosageStyle(StrEnum):
    """How much of the daily dose an order states, from fully coded to nothing usable."""

    FULL = "full"
    QUANTITY_ONLY = "quantity-only"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Practitioner:
    """A prescriber, referenced by id and display only."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Person:
    """The demographic facts one Patient resource is rendered from."""

    id: str
    mrn: str
    given: tuple[str, ...]
    family: str
    gender: str
    birth_date: date
    phone: str
    line: str
    city: str
    state: str
    postal_code: str
    utc_offset: str

    @property
    def display(self) -> str:
        """The name as a reference display shows it."""
        return f"{' '.join(self.given)} {self.family}"


@dataclass(frozen=True, slots=True)
class Therapy:
    """One drug a patient is on and the story its orders tell.

    `supply_days` and `fill_quantity` are what one ordinary fill hands over (whole packs for
    unbreakable drugs, the course for acute ones); `second_requester` makes a duplicate order.
    """

    drug: Drug
    regimen: Regimen
    supply_days: int
    fill_quantity: float
    scenario: Scenario
    dosage: DosageStyle
    course: str | None
    requester: Practitioner
    second_requester: Practitioner | None = None


@dataclass(slots=True)
class Rx:
    """One MedicationRequest while its fills are being simulated (hence mutable).

    `fills` counts every fill made on it, `prior_fills` those made before the simulated window
    (used refills whose dispenses are not in the dataset, as in any time-bounded export).
    """

    index: int
    therapy: Therapy
    authored: date
    valid_from: date
    valid_until: date
    repeats: int
    requester: Practitioner
    minute: int = 600
    status: str = "active"
    intent: str = "order"
    category: str = "community"
    status_reason: str | None = None
    fills: int = 0
    prior_fills: int = 0
    records: int = 0


class Fill(NamedTuple):
    """One MedicationDispense: a fill, half of a partial fill, or a fill that never happened.

    `number` is the pharmacy fill number (0 = original); `supply_type` is the v3 ActCode
    (FF, RF, FFP, RFP, FFC, RFC) or None when the pharmacy system sends none. A NamedTuple
    rather than a frozen dataclass because a large dataset creates a million of them.
    """

    rx: Rx
    record: int
    number: int
    day: date
    minute: int
    quantity: float
    days_supply: int
    supply_type: str | None
    status: str = "completed"
    reason: str | None = None
    states_days_supply: bool = True


@dataclass(slots=True)
class Chart:
    """Everything one patient's generation shares: their RNG, prescribers and habits.

    Each patient draws from their own `rng` (seeded by dataset seed and patient number), so a
    patient's records do not change when the dataset grows or shrinks.
    """

    number: int
    rng: random.Random
    today: date
    person: Person
    primary: Practitioner
    specialists: tuple[Practitioner, ...]
    adherence: Adherence
    stop_filling: date | None
    next_rx: int = field(default=1)

    def take_rx_index(self) -> int:
        """The next order number of this patient (ids and Rx numbers derive from it)."""
        index = self.next_rx
        self.next_rx += 1
        return index
