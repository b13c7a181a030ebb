"""The process `fhir-sync serve` runs: the FHIR API with the background workers in it.

It is the one place that puts the two rooms together (the API never imports the workers, nor
the workers the API). uvicorn imports `fhir_sync.asgi:app`, which builds it."""

from __future__ import annotations

from fastapi import FastAPI

from fhir_sync.api.app import create_app
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.services.live_sync import FhirLivePull
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.worker.background import serving_workers


def create_serving_app(
    settings: ServerSettings | None = None, live: LiveSettings | None = None
) -> FastAPI:
    """Plans pulled from the enrollments' live endpoints, and the write-back workers,
    requested syncs, Bulk exports, hold checks and the daily cycle running in the background."""
    clients = EndpointClients(live or LiveSettings.from_env())
    return create_app(
        settings,
        live_pull=FhirLivePull(clients),
        clients=clients,
        workers=serving_workers,
        freeze_gc=True,
    )
