"""The seam to the live-FHIR sync service (`fhir_sync.sync`): pulling one patient's orders and
fills from the endpoints an enrollment names.

The server calls `LivePull.pull` for `$enroll`, `$resume` and `$sync` when the enrollment has
endpoints and no resources were given in the request. `app.state.live_pull` holds the
implementation (live_sync.py); a server run without one answers those calls with a 501 that
says so, while everything planned from given resources works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fhir_sync.services.collect import PatientInputs


@dataclass(frozen=True, slots=True)
class Endpoints:
    """FHIR base URLs: orders come from `ehr`, fills from `pharmacy` (else `ehr`), plans go
    to `target` (else `ehr`)."""

    ehr: str | None
    pharmacy: str | None
    target: str | None

    @property
    def any(self) -> bool:
        return self.ehr is not None or self.pharmacy is not None

    @property
    def write_to(self) -> str | None:
        return self.target or self.ehr


class LivePull(Protocol):
    async def pull(self, patient_id: str, endpoints: Endpoints) -> PatientInputs:
        """The patient's current orders and fills; raises FhirError (502/504) when an
        endpoint fails, with no patient data in the message."""
        ...
