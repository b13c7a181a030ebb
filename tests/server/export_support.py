"""Helpers for the Bulk Data export tests: payer enrollments, callers, and a client that runs
an export from kick-off to manifest the way a Bulk Data client does."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request
from fastapi.testclient import TestClient

from fhir_sync.api.auth import Caller
from fhir_sync.api.errors import FhirError
from tests.integration.server_support import serving as serving_process
from tests.server.api_support import TODAY, enroll_body

ASYNC = {"Prefer": "respond-async"}


def payer_part(payer: str) -> dict[str, Any]:
    return {"name": "payer", "valueReference": {"reference": payer}}


def enroll(client: TestClient, patient_id: str, payer: str | None) -> None:
    extra = [payer_part(payer)] if payer else []
    response = client.post(
        f"/fhir/Patient/{patient_id}/$enroll", json=enroll_body(patient_id, *extra)
    )
    assert response.status_code == 200, response.text


class BearerNames:
    """A stand-in for the SMART token service on the `Authorizer` seam: the bearer token is
    the name of one of the given callers."""

    def __init__(self, callers: Mapping[str, Caller]) -> None:
        self.callers = dict(callers)

    def enforcing(self) -> bool:
        return True

    def authenticate(self, request: Request) -> Caller:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        caller = self.callers.get(token)
        if caller is None:
            raise FhirError(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        return caller


def payer_caller(name: str, payer: str, scopes: str = "system/*.rs") -> Caller:
    return Caller(client_id=name, role="payer", scopes=frozenset(scopes.split()), payer=payer)


def wait_for_manifest(
    client: TestClient | httpx.Client, status_url: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Poll as a client would (no faster than every 20 ms here) until the manifest is ready."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.get(status_url, headers=dict(headers or {}))
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("application/json")
            manifest: dict[str, Any] = response.json()
            return manifest
        assert response.status_code == 202, response.text
        assert response.headers["Retry-After"].isdigit()
        assert response.headers["X-Progress"]
        time.sleep(0.02)
    raise AssertionError(f"the export at {status_url} did not complete in 30 s")


def ndjson(response: httpx.Response) -> list[bytes]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    assert response.content.endswith(b"\n")
    return response.content.splitlines()


@contextmanager
def serving(database_url: str, folder: Path) -> Iterator[str]:
    """`fhir-sync serve` on 127.0.0.1 and a free port, on `database_url`; its FHIR base URL.
    Stopped (SIGTERM, then SIGKILL) when the block ends."""
    env = {
        **os.environ,
        "FHIR_SYNC_DATABASE_URL": database_url,
        "FHIR_SYNC_TODAY": TODAY.isoformat(),
    }
    with serving_process(folder, env) as server:
        yield server.base_url
