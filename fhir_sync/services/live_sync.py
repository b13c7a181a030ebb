"""Live pulls for the server: a patient's orders and fills from the enrollment's endpoints.

The `LivePull` behind `$enroll`, `$resume`, `$sync` and the change-notification syncs, built on
the sync service's `pull_patient`, so the server maps, checks and rejects exactly as
`fhir-sync sync` does. Unlike a resource given in a request, which the caller can fix, a bad
record on the EHR is left out and the patient planned from the rest (as `fhir-sync sync`
does); only the number left out is logged.
"""

from __future__ import annotations

import logging

from adapters.http import FhirError as HttpError
from adapters.http import FhirTimeoutError
from fhir_sync.services.collect import PatientInputs
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.errors import InputsRejectedError, UpstreamFailedError, UpstreamTimeoutError
from fhir_sync.services.live_pull import Endpoints
from fhir_sync.sync.pull import Endpoint, Sources, pull_patient

log = logging.getLogger("fhir_sync.services.live")


class FhirLivePull:
    """Orders from `ehr` (else `pharmacy`), fills from `pharmacy` (else `ehr`)."""

    def __init__(self, clients: EndpointClients) -> None:
        self.clients = clients

    async def pull(self, patient_id: str, endpoints: Endpoints) -> PatientInputs:
        orders_url = endpoints.ehr or endpoints.pharmacy
        fills_url = endpoints.pharmacy or endpoints.ehr
        if orders_url is None or fills_url is None:
            raise InputsRejectedError(
                "the enrollment names no endpoint to pull from", code="required"
            )
        sources = Sources(
            orders=Endpoint("ehr", await self.clients.client(orders_url)),
            dispenses=Endpoint("pharmacy", await self.clients.client(fills_url)),
        )
        try:
            collected = await pull_patient(sources, patient_id)
        except HttpError as error:
            raise _gateway_error(error) from None
        if collected.rejections:
            log.info("live pull left out %d unusable record(s)", len(collected.rejections))
        inputs = collected.patients.get(patient_id, PatientInputs())
        return PatientInputs(orders=dict(inputs.orders), fills=dict(inputs.fills))


def _gateway_error(error: HttpError) -> UpstreamFailedError:
    """UpstreamTimeoutError when the endpoint did not answer, UpstreamFailedError when it answered
    badly; the HTTP client's message names method, path and status only (no query, so no
    patient id)."""
    failed = UpstreamTimeoutError if isinstance(error, FhirTimeoutError) else UpstreamFailedError
    return failed(f"pulling from the endpoint failed: {error.message}")
