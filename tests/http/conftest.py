"""Shared fixtures for the HTTP client unit tests (respx-mocked, no network, no real sleeping)."""

from __future__ import annotations

import random
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from http_fakes import BASE, FakeClock, SleepRecorder

from adapters.http import EndpointSettings, FhirClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    # Built once: a default context costs ~50 ms, which would dominate every test.
    return ssl.create_default_context()


@pytest.fixture
async def http(tls_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls_context) as client:
        yield client


@pytest.fixture
def make_client(
    http: httpx.AsyncClient, sleeps: SleepRecorder, clock: FakeClock
) -> Callable[..., FhirClient]:
    def factory(**changes: Any) -> FhirClient:
        values: dict[str, Any] = {"base_url": BASE, "page_size": None}
        values.update(changes)
        return FhirClient(
            EndpointSettings(**values), http, sleep=sleeps, rng=random.Random(7), clock=clock
        )

    return factory
