"""Schemathesis against the server's own OpenAPI document, on both databases: generated valid
and invalid requests for every route must get no 5xx and no response the document does not
describe (status, content type, headers, body schema).

Bounded and derandomized, so that CI runs the same cases every time in a few seconds per
route; a failure names the curl command that reproduces it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from fhir_sync.api.app import create_app
from fhir_sync.services.server_settings import ServerSettings
from tests.server.api_support import TODAY, demo_patients
from tests.server.databases import empty_tables
from tests.server.export_support import enroll

CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# A deeper local run: FHIR_SYNC_SCHEMATHESIS_EXAMPLES=500 pytest <this file>
MAX_EXAMPLES = int(os.environ.get("FHIR_SYNC_SCHEMATHESIS_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzzed_app(backend_engine: Engine) -> Iterator[FastAPI]:
    """The app on a database holding a few enrolled patients (one under a payer), so that
    generated reads and searches also meet real resources."""
    empty_tables(backend_engine)
    settings_ = ServerSettings(database_url="unused", today=TODAY, migrate_on_start=False)
    app = create_app(settings_, engine=backend_engine)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        patients = demo_patients()[:3]
        enroll(client, patients[0], "Organization/acme")
        for patient_id in patients[1:]:
            enroll(client, patient_id, None)
        yield app


# The document, read once from an app that never touches its database; the generated requests
# go to `fuzzed_app`, on the test's database. (Schemathesis' lazy `from_fixture` loading does
# not work with pytest 9.)
_DOCUMENT_APP = create_app(ServerSettings(database_url="sqlite://", migrate_on_start=False))
schema = schemathesis.openapi.from_dict(_DOCUMENT_APP.openapi())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_route_keeps_to_the_openapi_document(
    case: schemathesis.Case, fuzzed_app: FastAPI
) -> None:
    case.call_and_validate(checks=CHECKS, app=fuzzed_app)
