"""`GET /fhir/Group/<id>/$export` (Bulk Data) on both databases: kick-off, status, manifest,
files, `_type`/`_since`, cancelling, payer isolation, files split by size, and a job taken
over from a process that died."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.api.app import create_app
from fhir_sync.api.auth import ANONYMOUS_PHARMACY
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.exports import ExportLimits, ExportRunner
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.exports import QUEUED, RUNNING, create_job, get_job
from fhir_sync.store.tables import ExportJob
from fhir_sync.worker.background import serving_workers
from tests.server.api_support import TODAY, demo_patients
from tests.server.export_support import (
    ASYNC,
    BearerNames,
    enroll,
    ndjson,
    payer_caller,
    wait_for_manifest,
)

PATIENTS = demo_patients()[:6]
ACME = "Organization/acme"
OTHER = "Organization/other"
ACME_MEMBERS = PATIENTS[:4]
EXPORTED = ("Patient", "CarePlan", "Appointment")


@pytest.fixture
def enrolled(client: TestClient) -> TestClient:
    """Four members of acme (one of them unenrolled since), one of another payer, one with
    none."""
    for patient_id in ACME_MEMBERS:
        enroll(client, patient_id, ACME)
    enroll(client, PATIENTS[4], OTHER)
    enroll(client, PATIENTS[5], None)
    assert client.post(f"/fhir/Patient/{ACME_MEMBERS[3]}/$unenroll").status_code == 200
    return client


@pytest.fixture
def one_member(client: TestClient) -> TestClient:
    enroll(client, PATIENTS[0], ACME)
    return client


def _kick_off(client: TestClient, group: str = "payer-acme", **params: str) -> str:
    response = client.get(f"/fhir/Group/{group}/$export", params=params, headers=ASYNC)
    assert response.status_code == 202, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    status_url = response.headers["Content-Location"]
    assert status_url.startswith("http://testserver/fhir/bulk-status/")
    return status_url


def _exported(client: TestClient, manifest: dict) -> dict[str, list[bytes]]:
    """type -> the lines of its files, in manifest order."""
    lines: dict[str, list[bytes]] = {}
    for item in manifest["output"]:
        got = ndjson(client.get(item["url"]))
        assert len(got) == item["count"]
        lines.setdefault(item["type"], []).extend(got)
    return lines


def _stored(client: TestClient, kind: str, patients: list[str]) -> dict[str, bytes]:
    """id -> the bytes a read serves, for the patients' resources of `kind`."""
    found: dict[str, bytes] = {}
    for patient_id in patients:
        if kind == "Patient":
            ids = [patient_id]
        else:
            bundle = client.get(f"/fhir/{kind}", params={"patient": patient_id}).json()
            ids = [entry["resource"]["id"] for entry in bundle.get("entry", [])]
        for rid in ids:
            found[rid] = client.get(f"/fhir/{kind}/{rid}").content
    return found


def test_exports_the_payer_members_resources_byte_for_byte(enrolled: TestClient) -> None:
    started = datetime.now(UTC)
    status_url = _kick_off(enrolled)
    manifest = wait_for_manifest(enrolled, status_url)
    assert manifest["request"] == "http://testserver/fhir/Group/payer-acme/$export"
    assert manifest["requiresAccessToken"] is False  # no client registered: tokens not enforced
    assert manifest["error"] == []
    transaction_time = datetime.fromisoformat(manifest["transactionTime"].replace("Z", "+00:00"))
    assert started <= transaction_time <= datetime.now(UTC)
    lines = _exported(enrolled, manifest)
    assert list(lines) == list(EXPORTED)
    for kind in EXPORTED:
        stored = _stored(enrolled, kind, ACME_MEMBERS)  # the unenrolled member included
        by_id = {orjson.loads(line)["id"]: line for line in lines[kind]}
        assert len(by_id) == len(lines[kind])
        assert by_id == stored, kind
    # the same job, polled again, gives the same manifest; the caller may then delete it
    assert enrolled.get(status_url).json() == manifest
    deleted = enrolled.delete(status_url)
    assert deleted.status_code == 202
    assert enrolled.get(status_url).status_code == 404
    assert enrolled.get(manifest["output"][0]["url"]).status_code == 404


def test_type_and_since_narrow_the_export(enrolled: TestClient) -> None:
    manifest = wait_for_manifest(enrolled, _kick_off(enrolled, _type="CarePlan"))
    assert {item["type"] for item in manifest["output"]} == {"CarePlan"}
    assert sum(item["count"] for item in manifest["output"]) == len(ACME_MEMBERS)
    later = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    empty = wait_for_manifest(enrolled, _kick_off(enrolled, _since=later))
    assert empty["output"] == []
    # a change after that instant is exported again, alone
    assert enrolled.post(f"/fhir/Patient/{ACME_MEMBERS[0]}/$unenroll").status_code == 200
    changed = wait_for_manifest(enrolled, _kick_off(enrolled, _since=later, _type="CarePlan"))
    [careplan] = _exported(enrolled, changed)["CarePlan"]
    assert orjson.loads(careplan)["status"] == "revoked"


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({}, {}, 400),  # no Prefer: respond-async
        ({"_type": "Task"}, ASYNC, 400),
        ({"_type": "CarePlan,Observation"}, ASYNC, 400),
        ({"_typeFilter": "CarePlan?status=active"}, ASYNC, 400),
        ({"_since": "yesterday"}, ASYNC, 400),
        ({"_outputFormat": "application/xml"}, ASYNC, 400),
        ({"bogus": "1"}, {"Prefer": "respond-async, handling=strict"}, 400),
        ({"bogus": "1", "_outputFormat": "ndjson"}, ASYNC, 202),  # lenient: ignored
    ],
)
def test_kick_off_refuses_what_it_cannot_honour(
    one_member: TestClient, params: dict[str, str], headers: dict[str, str], status: int
) -> None:
    response = one_member.get("/fhir/Group/payer-acme/$export", params=params, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_unknown_group_job_and_file_are_404(one_member: TestClient) -> None:
    enrolled = one_member
    for url in (
        "/fhir/Group/payer-nobody/$export",
        "/fhir/Group/bad$id/$export",
    ):
        assert enrolled.get(url, headers=ASYNC).status_code == 404
    assert enrolled.get("/fhir/bulk-status/0123abcd").status_code == 404
    assert enrolled.delete("/fhir/bulk-status/0123abcd").status_code == 404
    status_url = _kick_off(enrolled)
    manifest = wait_for_manifest(enrolled, status_url)
    job = status_url.rsplit("/", 1)[1]
    for name in ("99.ndjson", "1.json", "x.ndjson"):
        response = enrolled.get(f"/fhir/bulk-files/{job}/{name}")
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"
    assert manifest["output"]


@pytest.fixture
def authorized(engine: Engine) -> Iterator[TestClient]:
    """The app with authorization on and the test callers behind bearer tokens."""
    settings = ServerSettings(
        database_url="unused", today=TODAY, migrate_on_start=False, auth_required=True
    )
    app = create_app(settings, engine=engine)
    app.state.authorizer = BearerNames(
        {
            "pharmacy": ANONYMOUS_PHARMACY,
            "acme": payer_caller("acme-client", ACME),
            "acme-2": payer_caller("acme-other-client", ACME),
            "other": payer_caller("other-client", OTHER),
            "acme-careplans": payer_caller("acme-cp", ACME, "system/CarePlan.rs system/Group.rs"),
            "acme-no-search": payer_caller("acme-r", ACME, "system/*.r"),
        }
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["Authorization"] = "Bearer pharmacy"
        for patient_id in ACME_MEMBERS[:2]:
            enroll(test_client, patient_id, ACME)
        enroll(test_client, PATIENTS[4], OTHER)
        yield test_client


def _as(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}", **ASYNC}


def test_a_payer_exports_only_its_own_members(authorized: TestClient) -> None:
    client = authorized
    url = "/fhir/Group/payer-acme/$export"
    assert client.get(url, headers=_as("other")).status_code == 404  # existence not leaked
    assert client.get(url, headers={"Authorization": "Bearer forged", **ASYNC}).status_code == 401
    assert client.get(url, headers=_as("acme-no-search")).status_code == 403
    kicked = client.get(url, headers=_as("acme"))
    assert kicked.status_code == 202
    status_url = kicked.headers["Content-Location"]
    manifest = wait_for_manifest(client, status_url, _as("acme"))
    assert manifest["requiresAccessToken"] is True  # the files need the caller's token
    patients = {
        orjson.loads(line)["id"]
        for item in manifest["output"]
        if item["type"] == "Patient"
        for line in ndjson(client.get(item["url"], headers=_as("acme")))
    }
    assert patients == set(ACME_MEMBERS[:2])
    # another client, even of the same payer, cannot see, download or cancel the job
    for name in ("acme-2", "other", "pharmacy"):
        assert client.get(status_url, headers=_as(name)).status_code == 404
        assert client.get(manifest["output"][0]["url"], headers=_as(name)).status_code == 404
        assert client.delete(status_url, headers=_as(name)).status_code == 404
    assert client.get(status_url, headers=_as("acme")).status_code == 200
    # without _type, only the types the token may search are exported
    limited = client.get(url, headers=_as("acme-careplans"))
    manifest = wait_for_manifest(client, limited.headers["Content-Location"], _as("acme-careplans"))
    assert {item["type"] for item in manifest["output"]} == {"CarePlan"}
    denied = client.get(url, params={"_type": "Patient"}, headers=_as("acme-careplans"))
    assert denied.status_code == 403


def test_large_exports_are_split_into_files_read_page_by_page(
    enrolled: TestClient, engine: Engine
) -> None:
    """Pages of two rows and files closed at the first line: every resource in its own file,
    in id order, none lost or repeated at page and file boundaries."""
    small = ExportRunner(engine, ExportLimits(page=2, file_bytes=1))
    enrolled.app.state.exports = small  # type: ignore[attr-defined]
    try:
        manifest = wait_for_manifest(enrolled, _kick_off(enrolled, _type="Patient,CarePlan"))
    finally:
        small.close()
    assert [item["count"] for item in manifest["output"]] == [1] * 2 * len(ACME_MEMBERS)
    assert [item["type"] for item in manifest["output"]] == ["Patient"] * 4 + ["CarePlan"] * 4
    lines = _exported(enrolled, manifest)
    assert sorted(orjson.loads(line)["id"] for line in lines["Patient"]) == sorted(ACME_MEMBERS)
    ids = [orjson.loads(line)["id"] for line in lines["CarePlan"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ACME_MEMBERS)


def _job(job_id: str, *, status: str, claimed_until: datetime | None) -> ExportJob:
    now = datetime.now(UTC)
    return ExportJob(
        id=job_id,
        group_id="payer-acme",
        payer=ACME,
        types="CarePlan",
        request_url="http://testserver/fhir/Group/payer-acme/$export",
        status=status,
        claimed_by="another-host:1:dead" if claimed_until else None,
        claimed_until=claimed_until,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(hours=1),
    )


def test_a_job_whose_process_died_is_taken_over_by_a_status_poll(
    enrolled: TestClient, engine: Engine
) -> None:
    """Jobs live in the database: a poll reaching another process finishes the job of a
    process that died; a job another live process holds is left to it."""
    past = datetime.now(UTC) - timedelta(seconds=5)
    future = datetime.now(UTC) + timedelta(minutes=5)
    with write_transaction(engine) as connection:
        create_job(connection, _job("deadbeef", status=RUNNING, claimed_until=past))
        create_job(connection, _job("alive0001", status=RUNNING, claimed_until=future))
    manifest = wait_for_manifest(enrolled, "/fhir/bulk-status/deadbeef")
    assert sum(item["count"] for item in manifest["output"]) == len(ACME_MEMBERS)
    held = enrolled.get("/fhir/bulk-status/alive0001")
    assert held.status_code == 202
    assert held.headers["X-Progress"] == "0 of 0 resources"
    with read_transaction(engine) as connection:
        job = get_job(connection, "alive0001")
    assert job is not None and job.claimed_by == "another-host:1:dead"


def test_a_failed_job_answers_500_without_internals(client: TestClient, engine: Engine) -> None:
    with write_transaction(engine) as connection:
        job = _job("failed01", status="failed", claimed_until=None)
        job.error = "the export failed (reference abc); start a new one"
        create_job(connection, job)
    response = client.get("/fhir/bulk-status/failed01")
    assert response.status_code == 500
    issue = response.json()["issue"][0]
    assert issue["code"] == "exception" and issue["diagnostics"] == job.error


def test_expired_jobs_are_removed(one_member: TestClient, engine: Engine) -> None:
    with write_transaction(engine) as connection:
        job = _job("expired1", status="completed", claimed_until=None)
        job.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        create_job(connection, job)
    _kick_off(one_member)
    assert one_member.get("/fhir/bulk-status/expired1").status_code == 404


def test_metadata_announces_the_group_export(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    assert (
        "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
        in (statement["instantiates"])
    )
    [group] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Group"]
    assert [op["name"] for op in group["operation"]] == ["export"]


def test_the_worker_loop_claims_queued_jobs_and_those_whose_process_died(
    enrolled: TestClient, engine: Engine
) -> None:
    """As a lease queue of the worker's loop: a claim takes the queued job and the one whose
    lease ran out, not the one a live process holds; handled, both complete. The API's
    `submit` leaves the jobs to the loop."""
    past = datetime.now(UTC) - timedelta(seconds=5)
    future = datetime.now(UTC) + timedelta(minutes=5)
    with write_transaction(engine) as connection:
        create_job(connection, _job("queued0001", status=QUEUED, claimed_until=None))
        create_job(connection, _job("deadbeef", status=RUNNING, claimed_until=past))
        create_job(connection, _job("alive0001", status=RUNNING, claimed_until=future))
    runner = ExportRunner(engine, looped=True)
    runner.submit("queued0001")
    claimed = runner.claim()
    assert sorted(job.id for job in claimed) == ["deadbeef", "queued0001"]
    assert {job.status for job in claimed} == {RUNNING}
    assert runner.claim() == []

    async def handle_all() -> None:
        await asyncio.gather(*(runner.handle(job) for job in claimed))

    asyncio.run(handle_all())
    for job_id in ("queued0001", "deadbeef"):
        manifest = wait_for_manifest(enrolled, f"/fhir/bulk-status/{job_id}")
        assert sum(item["count"] for item in manifest["output"]) == len(ACME_MEMBERS)
    with read_transaction(engine) as connection:
        alive = get_job(connection, "alive0001")
    assert alive is not None and alive.claimed_by == "another-host:1:dead"


def test_a_served_app_runs_its_exports_on_the_worker_loop_without_outbox_workers(
    enrolled: TestClient, engine: Engine
) -> None:
    """`fhir-sync serve` with FHIR_SYNC_OUTBOX_WORKERS=0 (the outbox left to `fhir-sync
    worker`) still completes the exports its API starts: the loop's export queue runs them."""
    settings = ServerSettings(database_url="unused", today=TODAY, migrate_on_start=False)
    clients = EndpointClients(LiveSettings(outbox_workers=0, poll_interval=0.05))
    app = create_app(settings, engine=engine, clients=clients, workers=serving_workers)
    assert app.state.exports.looped
    with TestClient(app, raise_server_exceptions=False) as served:
        manifest = wait_for_manifest(served, _kick_off(served, _type="Patient"))
    assert sum(item["count"] for item in manifest["output"]) == len(ACME_MEMBERS)
