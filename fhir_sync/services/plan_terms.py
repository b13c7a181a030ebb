"""The terms a plan is made on, checked the same way wherever they are given (flags, the
TOML settings, operation parameters): the refill cycles fhir-sync supports and the weekday
names of closed days (`sat,sun`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Declared in the settings package; kept importable from here, with the other plan terms.
from fhir_sync.settings.terms import CYCLES_TEXT as CYCLES_TEXT
from fhir_sync.settings.terms import SUPPORTED_CYCLES as SUPPORTED_CYCLES
from fhir_sync.settings.terms import WEEKDAYS as WEEKDAYS
from fhir_sync.settings.terms import parse_closed_days as parse_closed_days
from fhir_sync.settings.terms import supported_cycle as supported_cycle


@dataclass(slots=True)
class EnrollTerms:
    """What an $enroll or $plan asked for; `given` names the parts present, so that enrolling
    an enrolled patient again changes only what was sent."""

    given: set[str] = field(default_factory=set)
    anchor_day: int | None = None
    cycle_days: int = 30
    lead_days: int = 7
    time_zone: str | None = None
    pickup_hours: str | None = None
    closed_weekdays: frozenset[int] = frozenset()
    controlled: str = "sync"
    pharmacy: str | None = None
    payer: str | None = None
    ehr_endpoint: str | None = None
    pharmacy_endpoint: str | None = None
    target_endpoint: str | None = None
    resources: list[dict[str, Any]] = field(default_factory=list)
    fill: dict[str, Any] = field(default_factory=dict)
