"""Bulk Data export from a real `fhir-sync serve` process, by the project's own FHIR client
(`FhirClient.bulk_export`: kick-off, polling with Retry-After, streamed NDJSON, DELETE)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from adapters.http import EndpointSettings, FhirClient, FhirError
from adapters.http.client import new_http_client
from tests.server.api_support import demo_patients, enroll_body
from tests.server.conftest import BACKENDS
from tests.server.databases import database
from tests.server.export_support import payer_part, serving

pytestmark = pytest.mark.anyio
MEMBERS = demo_patients()[:3]
OUTSIDER = demo_patients()[3]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("export-serve")
    with database(request.param, folder) as url, serving(url, folder) as base:
        for patient_id, payer in [(p, "Organization/acme") for p in MEMBERS] + [
            (OUTSIDER, "Organization/other")
        ]:
            body = enroll_body(patient_id, payer_part(payer))
            response = httpx.post(f"{base}/Patient/{patient_id}/$enroll", json=body, timeout=30)
            assert response.status_code == 200, response.text
        yield base


async def test_fhir_client_bulk_exports_a_payer_group(server: str) -> None:
    settings = EndpointSettings(server, bulk_poll_interval=0.2, bulk_max_wait=30)
    progress: list[str] = []
    async with new_http_client(settings) as http:
        client = FhirClient(settings, http)
        async with client.bulk_export(
            group_id="payer-acme", types=["Patient", "CarePlan"], on_progress=progress.append
        ) as export:
            lines = [(kind, line) async for kind, line in export.lines()]
            status_url = export.status_url
            assert {file.type for file in export.manifest.output} == {"Patient", "CarePlan"}
    patients = sorted(orjson.loads(line)["id"] for kind, line in lines if kind == "Patient")
    assert patients == sorted(MEMBERS)
    plans = [orjson.loads(line) for kind, line in lines if kind == "CarePlan"]
    assert sorted(plan["subject"]["reference"] for plan in plans) == [
        f"Patient/{p}" for p in sorted(MEMBERS)
    ]
    for plan in plans:  # the exported bytes are the bytes a read serves
        read = httpx.get(f"{server}/CarePlan/{plan['id']}")
        assert orjson.loads(read.content) == plan
    # the client deleted the job on leaving the block
    assert httpx.get(status_url).status_code == 404


async def test_fhir_client_sees_an_unknown_group_refused(server: str) -> None:
    settings = EndpointSettings(server, max_attempts=1)
    async with new_http_client(settings) as http:
        client = FhirClient(settings, http)
        with pytest.raises(FhirError) as raised:
            async with client.bulk_export(group_id="payer-nobody"):
                pass
    assert raised.value.status == 404
    assert raised.value.issue_codes == ["not-found"]
