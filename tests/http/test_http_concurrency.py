"""The per-endpoint concurrency limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
import respx
from http_fakes import BASE

from adapters.http import EndpointSettings, FhirClient

pytestmark = pytest.mark.anyio


class InFlight:
    def __init__(self) -> None:
        self.current = 0
        self.peak = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.current += 1
        self.peak = max(self.peak, self.current)
        await asyncio.sleep(0.01)
        self.current -= 1
        return httpx.Response(200, json={"resourceType": "Patient", "id": "p"})


@pytest.mark.parametrize("limit", [1, 3])
async def test_no_more_requests_in_flight_than_the_limit(
    limit: int, mock: respx.MockRouter, make_client: Callable[..., FhirClient]
) -> None:
    server = InFlight()
    mock.get(url__startswith=f"{BASE}/Patient/").mock(side_effect=server)
    client = make_client(concurrency=limit)

    await asyncio.gather(*(client.read("Patient", str(i)) for i in range(12)))

    assert server.peak == limit


async def test_backoff_sleep_does_not_hold_a_permit(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    slow_done = asyncio.Event()
    order: list[str] = []

    async def sleep(seconds: float) -> None:
        order.append("sleeping")
        await slow_done.wait()

    flaky = mock.get(f"{BASE}/Patient/flaky").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"resourceType": "Patient"})]
    )

    def other(request: httpx.Request) -> httpx.Response:
        order.append("other")
        slow_done.set()
        return httpx.Response(200, json={"resourceType": "Patient"})

    mock.get(f"{BASE}/Patient/other").mock(side_effect=other)
    client = FhirClient(EndpointSettings(BASE, concurrency=1), http, sleep=sleep)

    first = asyncio.create_task(client.read("Patient", "flaky"))
    await asyncio.sleep(0)
    await asyncio.wait_for(client.read("Patient", "other"), timeout=2)
    await asyncio.wait_for(first, timeout=2)

    assert order == ["sleeping", "other"]
    assert flaky.call_count == 2
