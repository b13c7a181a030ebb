"""`fhir-sync serve` as a real uvicorn process on 127.0.0.1, used by third-party FHIR clients
(fhirpy, async; fhirclient, sync): operations, reads, searches with paging, errors."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from fhirclient.models.careplan import CarePlan as ClientCarePlan
from fhirclient.models.task import Task as ClientTask
from fhirclient.server import FHIRServer
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from tests.integration.server_support import serving
from tests.server.api_support import TODAY, demo_patients, enroll_body
from tests.server.conftest import BACKENDS
from tests.server.databases import database

PATIENTS = demo_patients()[:5]


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The FHIR base URL of a server on a fresh database, migrated on start; stopped after."""
    folder = tmp_path_factory.mktemp("serve")
    with database(request.param, folder) as url:
        env = {**os.environ, "FHIR_SYNC_DATABASE_URL": url, "FHIR_SYNC_TODAY": TODAY.isoformat()}
        with serving(folder, env) as process:
            base = process.base_url
            for patient_id in PATIENTS:
                response = httpx.post(
                    f"{base}/Patient/{patient_id}/$enroll", json=enroll_body(patient_id), timeout=30
                )
                assert response.status_code == 200, response.text
            yield base


@pytest.mark.anyio
async def test_fhirpy_searches_pages_and_reads(server: str) -> None:
    client = AsyncFHIRClient(server)
    plans = await client.resources("CarePlan").limit(2).fetch_all()
    assert len(plans) == len(PATIENTS)
    assert len({plan.id for plan in plans}) == len(PATIENTS)
    assert await client.resources("CarePlan").search(status="active").count() == len(PATIENTS)
    first = plans[0]
    read = await client.reference("CarePlan", first.id).to_resource()
    assert read.serialize() == first.serialize()
    found = await (
        client.resources("CarePlan")
        .search(patient=PATIENTS[1])
        .include("CarePlan", "activity-reference")
        .fetch_raw()
    )
    kinds = {entry.resource.resourceType for entry in found.entry}
    assert kinds == {"CarePlan", "Appointment"}
    with pytest.raises(ResourceNotFound):
        await client.reference("CarePlan", "missing").to_resource()


@pytest.mark.anyio
async def test_fhirpy_runs_operations(server: str) -> None:
    client = AsyncFHIRClient(server)
    patient = PATIENTS[2]
    held = await client.execute(
        f"Patient/{patient}/$hold",
        method="post",
        data={
            "resourceType": "Parameters",
            "parameter": [{"name": "until", "valueDate": "2026-12-31"}],
        },
    )
    assert held["entry"][0]["resource"]["status"] == "on-hold"
    plans = await client.resources("CarePlan").search(patient=patient).fetch()
    assert plans[0].status == "on-hold"
    await client.execute(
        f"Patient/{patient}/$resume", method="post", data={"resourceType": "Parameters"}
    )
    preview = await client.execute(
        f"Patient/{PATIENTS[0]}/$plan", method="post", data=enroll_body(PATIENTS[0])
    )
    assert preview["type"] == "transaction"
    with pytest.raises(OperationOutcome) as raised:
        await client.execute(
            f"Patient/{patient}/$enroll",
            method="post",
            data={
                "resourceType": "Parameters",
                "parameter": [{"name": "cycleDays", "valueInteger": 45}],
            },
        )
    assert "cycleDays" in str(raised.value)


def test_fhirclient_reads_and_pages(server: str) -> None:
    smart = FHIRServer(None, base_uri=server + "/")
    search = ClientCarePlan.where(struct={"_count": "2"})
    plans = list(search.perform_resources_iter(smart))
    assert len(plans) == len(PATIENTS)
    plan = ClientCarePlan.read(plans[1].id, smart)
    assert plan.subject.reference.startswith("Patient/")
    assert plan.category[0].coding[0].code == "med-sync"
    tasks = ClientTask.where(struct={"based-on": f"CarePlan/{plan.id}"}).perform_resources(smart)
    assert all(task.status in ("requested", "cancelled") for task in tasks)
    strict = httpx.get(
        f"{server}/CarePlan", params={"bogus": "1"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    assert strict.json()["resourceType"] == "OperationOutcome"
