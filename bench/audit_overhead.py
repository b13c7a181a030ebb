"""What the audit trail costs: reads and searches per second with the audit writer on and off.

The app runs in-process (httpx's ASGI transport, 8 requests at a time) with tokens enforced,
on SQLite and on PostgreSQL, over the 20 demo patients. Rounds alternate off and on and the
best of three is kept for each, so a busy machine's noise hits both alike. "Off" replaces the
writer's `submit` with a no-op; everything else (token check, middleware) is the same.

Besides requests/s it reports the process's CPU time per request, the writer thread's work
included (the "on" rounds wait for the writer before the clock stops): on a shared machine
throughput swings with the neighbours' load, CPU time per request much less.

    python -m bench.audit_overhead [--requests 3000] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bench.server_processes import fresh_database
from fhir_sync.api.app import create_app
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.store.clients import add_client
from fhir_sync.store.database import open_engine, write_transaction
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.tables import RegisteredClient

DEMO: Final = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
TOKEN_URL: Final = "http://testserver/auth/token"
CONCURRENCY: Final = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    for backend in ("sqlite", "postgresql"):
        with (
            tempfile.TemporaryDirectory() as folder,
            fresh_database(backend, Path(folder), args.postgres) as url,
        ):
            for line in _measure(url, args.requests):
                print(json.dumps({"database": backend, **line}))


def _measure(url: str, requests: int) -> Iterator[dict[str, Any]]:
    engine = open_engine(url)
    upgrade(engine)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _register(engine, key)
    settings = ServerSettings(
        database_url=url, auth_required=True, migrate_on_start=False, today=date(2026, 11, 22)
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        headers = _token(client, key)
        for patient_id, body in demo_enroll_bodies().items():
            answer = client.post(f"/fhir/Patient/{patient_id}/$enroll", json=body, headers=headers)
            answer.raise_for_status()
        plans = client.get("/fhir/CarePlan", headers=headers).json()["entry"]
        scenarios = {
            "read": [f"/fhir/CarePlan/{p['resource']['id']}" for p in plans],
            "search": [
                f"/fhir/CarePlan?patient={p['resource']['subject']['reference']}"
                "&_include=CarePlan:activity-reference"
                for p in plans
            ],
        }
        app: FastAPI = client.app  # type: ignore[assignment]
        writer = app.state.audit
        submit = writer.submit
        for scenario, urls in scenarios.items():
            rounds: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
            for _round in range(3):
                for mode in ("off", "on"):
                    writer.submit = submit if mode == "on" else (lambda _access: None)
                    cpu = time.process_time()
                    rps, p50 = asyncio.run(_load(app, headers, urls, requests))
                    writer.flush()
                    cpu_us = (time.process_time() - cpu) / requests * 1e6
                    rounds[mode].append((rps, p50, cpu_us))
            writer.submit = submit
            off, on = max(rounds["off"]), max(rounds["on"])  # the best throughput
            off_cpu = min(r[2] for r in rounds["off"])
            on_cpu = min(r[2] for r in rounds["on"])
            yield {
                "scenario": scenario,
                "off_rps": round(off[0]),
                "on_rps": round(on[0]),
                "off_p50_ms": round(off[1], 2),
                "on_p50_ms": round(on[1], 2),
                "off_cpu_us": round(off_cpu),
                "on_cpu_us": round(on_cpu),
                "cpu_change": f"{(on_cpu / off_cpu - 1) * 100:+.1f}%",
            }
    engine.dispose()


async def _load(
    app: FastAPI, headers: dict[str, str], urls: list[str], requests: int
) -> tuple[float, float]:
    """(requests per second, median latency in ms)."""
    latencies: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def worker(first: int) -> None:
            for i in range(first, requests, CONCURRENCY):
                started = time.perf_counter()
                response = await client.get(urls[i % len(urls)], headers=headers)
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, statistics.median(latencies) * 1000


def _register(engine: Engine, key: rsa.RSAPrivateKey) -> None:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**public, "kid": "bench", "alg": "RS384"}]})
    with write_transaction(engine) as connection:
        add_client(
            connection,
            RegisteredClient(
                client_id="bench", role="pharmacy", jwks=jwks, created_at=datetime.now(UTC)
            ),
        )


def _token(client: TestClient, key: rsa.RSAPrivateKey) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": "bench", "sub": "bench", "aud": TOKEN_URL, "exp": now + 240}
    assertion = jwt.encode(
        {**claims, "jti": uuid.uuid4().hex}, key, algorithm="RS384", headers={"kid": "bench"}
    )
    form = {
        "grant_type": "client_credentials",
        "scope": "system/*.rs system/Patient.u",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    answer = client.post("/auth/token", data=form)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def demo_enroll_bodies() -> dict[str, dict[str, Any]]:
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in ("Patient", "MedicationRequest", "MedicationDispense"):
        for line in (DEMO / f"{name}.ndjson").read_text().splitlines():
            resource = json.loads(line)
            owner = resource["id"] if name == "Patient" else resource["subject"]["reference"]
            by_patient[owner.removeprefix("Patient/")].append(resource)
    return {
        patient_id: {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "resource",
                    "resource": {
                        "resourceType": "Bundle",
                        "type": "collection",
                        "entry": [{"resource": r} for r in resources],
                    },
                }
            ],
        }
        for patient_id, resources in by_patient.items()
    }


if __name__ == "__main__":
    main()
