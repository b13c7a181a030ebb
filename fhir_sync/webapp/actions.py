"""What the web app asks of the enrollment service, as a protocol: the server's app factory
hands in the implementation, so this package never imports the API's modules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from fhir_sync.engine.checkin import CheckInAnswers
from fhir_sync.services.worklist import CheckInRecorded


class ActionRefusedError(Exception):
    """The action could not be done; the message is shown to the user as it is."""


@dataclass(frozen=True, slots=True)
class EnrollChoice:
    anchor_day: int | None  # None: automatic
    cycle_days: int
    closed_weekdays: frozenset[int]
    lead_days: int


class EnrollmentActions(Protocol):
    """Each returns the enrollment's status afterwards (active, on-hold, revoked) and raises
    ActionRefusedError or a services domain error when the change is not possible."""

    async def enroll(self, patient_id: str, choice: EnrollChoice) -> str: ...

    async def change_anchor(self, patient_id: str, anchor_day: int | None) -> str: ...

    async def hold(self, patient_id: str, until: date) -> str: ...

    async def resume(self, patient_id: str) -> str: ...

    async def unenroll(self, patient_id: str) -> str: ...

    async def sync_now(self, patient_id: str) -> str: ...

    async def check_in(self, patient_id: str, answers: CheckInAnswers) -> CheckInRecorded:
        """The answers acted on as `$check-in` acts on them, with the server's own enrollment
        service (its pickup hours and write-back) for "stop the program" and a new date."""
        ...
