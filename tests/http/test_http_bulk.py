"""Bulk Data export: kick-off, polling with Retry-After, NDJSON streaming, job deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx
from http_fakes import BASE, SleepRecorder, outcome

from adapters.http import FhirClient, FhirError, StaticBearer
from adapters.http.bulk import ndjson_lines

pytestmark = pytest.mark.anyio

STATUS = f"{BASE}/bulk-status/job1"
FILES = "https://files.example.test/job1"


def manifest(requires_token: bool = False) -> dict[str, object]:
    return {
        "transactionTime": "2024-05-01T10:00:00.000Z",
        "request": f"{BASE}/$export?_type=MedicationRequest,Patient",
        "requiresAccessToken": requires_token,
        "output": [
            {"type": "MedicationRequest", "url": f"{FILES}/MedicationRequest.ndjson", "count": 3},
            {"type": "Patient", "url": f"{FILES}/Patient.ndjson", "count": 1},
        ],
        "error": [{"type": "OperationOutcome", "url": f"{FILES}/errors.ndjson"}],
    }


def mock_export(mock: respx.MockRouter, *, requires_token: bool = False) -> dict[str, respx.Route]:
    return {
        "kickoff": mock.get(f"{BASE}/$export").respond(202, headers={"Content-Location": STATUS}),
        "status": mock.get(STATUS).mock(
            side_effect=[
                httpx.Response(202, headers={"X-Progress": "10%", "Retry-After": "5"}),
                httpx.Response(202, headers={"X-Progress": "80%"}),
                httpx.Response(200, json=manifest(requires_token)),
            ]
        ),
        "delete": mock.delete(STATUS).respond(202),
        "meds": mock.get(f"{FILES}/MedicationRequest.ndjson").respond(
            content=b'{"resourceType":"MedicationRequest","id":"1"}\n'
            b'{"resourceType":"MedicationRequest","id":"2"}\r\n\n'
            b'{"resourceType":"MedicationRequest","id":"3"}',
            headers={"Content-Type": "application/fhir+ndjson"},
        ),
        "patients": mock.get(f"{FILES}/Patient.ndjson").respond(
            content=b'{"resourceType":"Patient","id":"p"}\n'
        ),
        "errors": mock.get(f"{FILES}/errors.ndjson").respond(
            content=b'{"resourceType":"OperationOutcome"}\n'
        ),
    }


async def test_export_kickoff_poll_download_delete(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], sleeps: SleepRecorder
) -> None:
    routes = mock_export(mock)
    client = make_client(bulk_poll_interval=1.5)
    progress: list[str] = []

    async with client.bulk_export(
        types=["MedicationRequest", "Patient"],
        since="2024-01-01T00:00:00Z",
        on_progress=progress.append,
    ) as export:
        lines = [item async for item in export.lines()]
        assert routes["delete"].call_count == 0

    assert export.manifest.transaction_time == "2024-05-01T10:00:00.000Z"
    assert lines == [
        ("MedicationRequest", b'{"resourceType":"MedicationRequest","id":"1"}'),
        ("MedicationRequest", b'{"resourceType":"MedicationRequest","id":"2"}'),
        ("MedicationRequest", b'{"resourceType":"MedicationRequest","id":"3"}'),
        ("Patient", b'{"resourceType":"Patient","id":"p"}'),
    ]
    kickoff = routes["kickoff"].calls.last.request
    assert kickoff.headers["Prefer"] == "respond-async"
    assert kickoff.headers["Accept"] == "application/fhir+json"
    assert dict(kickoff.url.params) == {
        "_type": "MedicationRequest,Patient",
        "_since": "2024-01-01T00:00:00Z",
    }
    assert sleeps.calls == [5.0, 1.5]  # server's Retry-After, then our poll interval
    assert progress == ["10%", "80%"]
    assert routes["status"].call_count == 3
    assert routes["delete"].call_count == 1
    assert routes["errors"].call_count == 0


async def test_error_files_on_request_and_token_only_when_required(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    routes = mock_export(mock, requires_token=True)
    client = make_client(auth=StaticBearer("tok"))

    async with client.bulk_export(patient_level=False) as export:
        kinds = [kind async for kind, _ in export.lines(include_errors=True)]

    assert kinds[-1] == "OperationOutcome"
    assert routes["meds"].calls.last.request.headers["Authorization"] == "Bearer tok"


async def test_file_host_gets_no_token_when_not_required(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    routes = mock_export(mock, requires_token=False)

    async with make_client(auth=StaticBearer("tok")).bulk_export() as export:
        [_ async for _ in export.lines()]

    assert "Authorization" not in routes["meds"].calls.last.request.headers
    assert routes["kickoff"].calls.last.request.headers["Authorization"] == "Bearer tok"


async def test_failed_export_surfaces_outcome_and_still_deletes(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.get(f"{BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    mock.get(STATUS).respond(500, json=outcome("exception"))
    delete = mock.delete(STATUS).respond(202)

    with pytest.raises(FhirError) as caught:
        async with make_client(max_attempts=2).bulk_export(patient_level=True):
            pass

    assert caught.value.status == 500 and caught.value.issue_codes == ["exception"]
    assert delete.call_count == 1


async def test_wait_is_bounded(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], sleeps: SleepRecorder
) -> None:
    mock.get(f"{BASE}/Group/g1/$export").respond(202, headers={"Content-Location": STATUS})
    mock.get(STATUS).respond(202, headers={"Retry-After": "10"})
    mock.delete(STATUS).respond(202)

    with pytest.raises(FhirError, match="not complete"):
        async with make_client(bulk_max_wait=35).bulk_export(group_id="g1"):
            pass

    assert sleeps.calls == [10.0, 10.0, 10.0]


async def test_kickoff_without_content_location_is_an_error(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.get(f"{BASE}/$export").respond(200, json={})

    with pytest.raises(FhirError, match="Content-Location"):
        await make_client().bulk.kick_off()


async def test_delete_failure_is_best_effort(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.delete(STATUS).respond(404)

    await make_client().bulk.delete(STATUS)  # no exception


async def test_ndjson_lines_split_across_chunks() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in [b'{"a":', b"1}\n{", b'"b":2}\r', b"\n\n", b'{"c":3}']:
            yield part

    assert [line async for line in ndjson_lines(chunks())] == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
