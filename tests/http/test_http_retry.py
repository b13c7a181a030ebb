"""Resilience: which failures are retried, how long we wait, and what finally surfaces."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
import respx
from http_fakes import BASE, SleepRecorder, outcome

from adapters.http import FhirClient, FhirError, PreconditionFailedError
from adapters.http.retry import RetryPolicy, backoff_delay, parse_retry_after

pytestmark = pytest.mark.anyio

PATIENT = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "1"}}


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_retries_and_honours_retry_after_seconds(
    status: int,
    mock: respx.MockRouter,
    make_client: Callable[..., FhirClient],
    sleeps: SleepRecorder,
) -> None:
    route = mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[
            httpx.Response(status, headers={"Retry-After": "7"}),
            httpx.Response(status, headers={"Retry-After": "3"}),
            httpx.Response(200, json=PATIENT),
        ]
    )

    result = await make_client().read("Patient", "p1")

    assert result.resource == PATIENT
    assert route.call_count == 3
    assert sleeps.calls == [7.0, 3.0]


async def test_retry_after_http_date_and_cap(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], sleeps: SleepRecorder
) -> None:
    mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}),
            httpx.Response(200, json=PATIENT),
        ]
    )

    await make_client(max_retry_after=42.0).read("Patient", "p1")

    assert sleeps.calls == [42.0]


def test_parse_retry_after_forms() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


def test_full_jitter_stays_within_exponential_ceiling() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_base=0.5, backoff_max=4.0, max_retry_after=60)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)]:
        delays = [backoff_delay(policy, attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter uses the whole window
    assert backoff_delay(policy, 1, rng, retry_after=100.0) == 60.0


async def test_connect_error_is_retried_then_succeeds(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], sleeps: SleepRecorder
) -> None:
    route = mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=PATIENT)]
    )

    result = await make_client(backoff_base=1.0).read("Patient", "p1")

    assert result.version_id == "1"
    assert route.call_count == 2
    assert len(sleeps.calls) == 1 and 0 <= sleeps.calls[0] <= 1.0


async def test_read_timeout_and_dropped_connection_retried_for_get(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("peer closed connection"),
            httpx.Response(200, json=PATIENT),
        ]
    )

    await make_client().read("Patient", "p1")

    assert route.call_count == 3


async def test_bounded_attempts_then_error_with_operation_outcome(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient], sleeps: SleepRecorder
) -> None:
    route = mock.get(f"{BASE}/Patient/p1").respond(503, json=outcome("transient"))

    with pytest.raises(FhirError) as caught:
        await make_client(max_attempts=3).read("Patient", "p1")

    error = caught.value
    assert route.call_count == 3
    assert len(sleeps.calls) == 2
    assert error.status == 503
    assert error.attempts == 3
    assert error.outcome == outcome("transient")
    assert error.issue_codes == ["transient"]
    assert "secret-123" not in str(error)  # diagnostics may hold PHI: never in the message


async def test_transport_failure_exhausted_has_no_status(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.get(f"{BASE}/Patient/p1").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(FhirError, match="ConnectError after 2 attempts") as caught:
        await make_client(max_attempts=2).read("Patient", "p1")

    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 410, 422, 501])
async def test_no_retry_on_client_errors(
    status: int,
    mock: respx.MockRouter,
    make_client: Callable[..., FhirClient],
    sleeps: SleepRecorder,
) -> None:
    route = mock.get(f"{BASE}/Patient/p1").respond(status, json=outcome("invalid"))

    with pytest.raises(FhirError) as caught:
        await make_client().read("Patient", "p1")

    assert route.call_count == 1
    assert sleeps.calls == []
    assert caught.value.status == status
    assert caught.value.outcome is not None


async def test_408_is_retried(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.Response(408), httpx.Response(200, json=PATIENT)]
    )

    await make_client().read("Patient", "p1")

    assert route.call_count == 2


async def test_plain_create_not_retried_after_ambiguous_failures(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.post(f"{BASE}/Patient").mock(side_effect=[httpx.Response(503)])
    with pytest.raises(FhirError):
        await make_client().create({"resourceType": "Patient"})
    assert route.call_count == 1

    route.side_effect = [httpx.ReadTimeout("slow")]
    route.reset()
    with pytest.raises(FhirError, match="ReadTimeout"):
        await make_client().create({"resourceType": "Patient"})
    assert route.call_count == 1


async def test_plain_create_retried_when_it_cannot_have_been_processed(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.post(f"{BASE}/Patient").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(429),
            httpx.Response(201, json={"resourceType": "Patient", "id": "n"}),
        ]
    )

    result = await make_client().create({"resourceType": "Patient"})

    assert result.created and result.resource_id == "n"
    assert route.call_count == 3


async def test_conditional_create_is_retried_on_server_errors(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.post(f"{BASE}/Patient").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.Response(502),
            httpx.Response(200, json={"resourceType": "Patient", "id": "existing"}),
        ]
    )

    result = await make_client().conditional_create(
        {"resourceType": "Patient"}, {"identifier": "urn:mrn|42"}
    )

    assert not result.created and result.resource_id == "existing"
    assert route.call_count == 3
    assert route.calls.last.request.headers["If-None-Exist"] == "identifier=urn%3Amrn%7C42"


async def test_412_raises_the_precondition_subclass(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    route = mock.put(f"{BASE}/Patient/p1").respond(412, json=outcome("conflict"))

    with pytest.raises(PreconditionFailedError) as caught:
        await make_client().update(dict(PATIENT), if_match="1")

    assert caught.value.status == 412
    assert route.call_count == 1
    assert route.calls.last.request.headers["If-Match"] == 'W/"1"'


async def test_logs_carry_path_but_no_query_values(
    mock: respx.MockRouter,
    make_client: Callable[..., FhirClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock.get(f"{BASE}/MedicationRequest").mock(
        side_effect=[
            httpx.Response(503, json=outcome()),
            httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"}),
        ]
    )
    caplog.set_level(logging.DEBUG)

    [_ async for _ in make_client().search("MedicationRequest", {"patient": "secret-123"})]

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/fhir/MedicationRequest" in text
    assert "503" in text
    assert "secret-123" not in text


async def test_error_message_has_no_query_values(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.get(f"{BASE}/MedicationRequest").respond(400, json=outcome("invalid"))

    with pytest.raises(FhirError) as caught:
        [_ async for _ in make_client().search("MedicationRequest", {"patient": "secret-123"})]

    assert str(caught.value) == "GET /fhir/MedicationRequest failed with HTTP 400 (invalid)"
    assert "secret-123" not in repr(caught.value)


async def test_non_json_error_body_still_maps_to_fhir_error(
    mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    mock.get(f"{BASE}/Patient/p1").respond(404, text="<html>not found</html>")

    with pytest.raises(FhirError) as caught:
        await make_client().read("Patient", "p1")

    assert caught.value.status == 404 and caught.value.outcome is None
