"""What a sync run did: one result per patient and the run's totals.

Results stream out through a callback as patients finish (the server records them, the CLI
draws progress); the report keeps totals and only the patients that need attention
(failures), so a run over a whole population holds no per-patient state.

Failure reasons are built from fixed vocabulary and `FhirError.message` (method, URL path,
status, OperationOutcome issue codes): never a query string, a resource body or a name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from adapters.http.media import parse_instant
from fhir_sync.engine import PatientPlan
from fhir_sync.planning.run import PlanReport
from fhir_sync.services.collect import Rejection


class Outcome(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PatientResult:
    """The end of one patient's sync. `plan` is None when the patient failed before planning."""

    patient_id: str
    outcome: Outcome
    reason: str | None = None
    plan: PatientPlan | None = None
    digest: str | None = None
    rejected: int = 0
    #: True when a version conflict (HTTP 412) made the sync re-read and re-plan the patient.
    replanned: bool = False


@dataclass(slots=True)
class SyncReport:
    """Totals of a run; `failures` and `rejections` are the only per-item lists."""

    pulled: int = 0
    planned: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    replanned: int = 0
    plans: PlanReport = field(default_factory=PlanReport)
    failures: list[PatientResult] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    #: endpoint name -> the cursor to pass as `since` next time (incremental runs only).
    cursors: dict[str, str | None] = field(default_factory=dict)
    #: why the run stopped before every patient was seen (listing patients failed), else None.
    aborted: str | None = None
    #: resources that came with a pull but belong to no patient being synced.
    ignored: int = 0

    def add(self, result: PatientResult) -> None:
        if result.plan is not None:
            self.planned += 1
            self.plans.add(result.plan)
        if result.replanned:
            self.replanned += 1
        if result.outcome is Outcome.WRITTEN:
            self.written += 1
        elif result.outcome is Outcome.UNCHANGED:
            self.unchanged += 1
        else:
            self.failed += 1
            self.failures.append(result)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def complete(self) -> bool:
        """Every patient written or unchanged, no input rejected, the run not cut short."""
        return not self.failed and not self.rejections and self.aborted is None

    def next_since(self) -> str | None:
        """One cursor safe for every endpoint: the earliest, so no endpoint skips a change."""
        known = [(moment, c) for c in self.cursors.values() if c and (moment := parse_instant(c))]
        return min(known)[1] if known else None
