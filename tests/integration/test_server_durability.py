"""Durable write-back with real processes: `fhir-sync serve` killed (SIGKILL) in the middle of
draining its outbox to a sekmet peer and started again, and two `fhir-sync worker` processes
draining one PostgreSQL outbox. The peer sits behind a counting proxy that holds the answers to
writes it has applied, so the kill lands between "the EHR has it" and "the outbox knows it"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from fhir_sync.api.app import create_app
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.services.live_sync import FhirLivePull
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.store.database import open_engine, read_transaction
from fhir_sync.store.outbox import OUTBOX
from tests.server.databases import database, migrated_engine, postgres_database

from .conftest import SekmetServer
from .counting_proxy import CountingProxy, RunningProxy
from .server_support import (
    TODAY,
    LoadedEhr,
    drained,
    enroll_parameters,
    fhir_sync_env,
    loaded_ehr,
    outbox_rows,
    outbox_states,
    start_process,
    start_server,
    stopping,
    wait_until,
)
from .sync_support import SID_RENEWAL_TASK, SID_SYNC_APPOINTMENT, SID_SYNC_PLAN, read_back

BACKENDS = ("sqlite", "postgresql")
SYSTEMS = {"CarePlan": SID_SYNC_PLAN, "Appointment": SID_SYNC_APPOINTMENT, "Task": SID_RENEWAL_TASK}


@pytest.fixture
def proxied_peer(
    request: pytest.FixtureRequest, sekmet_factory: Callable[..., SekmetServer]
) -> Iterator[tuple[LoadedEhr, RunningProxy]]:
    """A fresh peer (each test counts everything on it) and a proxy answering writes late."""
    name, patients, delay = request.param
    peer = loaded_ehr(sekmet_factory(name=name).base_url, patients, seed=31)
    proxy = RunningProxy(CountingProxy(peer.base_url, delay=delay))
    try:
        yield peer, proxy
    finally:
        proxy.stop()


def _identifiers_sent(url: str) -> dict[str, set[str]]:
    """Per type, the identifier values of the last bundle sent for each patient: what the peer
    must hold, each exactly once."""
    engine = open_engine(url)
    try:
        with read_transaction(engine) as connection:
            rows = connection.execute(
                select(OUTBOX.c.patient_id, OUTBOX.c.bundle)
                .where(OUTBOX.c.state == "done")
                .order_by(OUTBOX.c.id)
            ).all()
    finally:
        engine.dispose()
    latest = {str(patient): bytes(bundle) for patient, bundle in rows}
    wanted: dict[str, set[str]] = {kind: set() for kind in SYSTEMS}
    for bundle in latest.values():
        for entry in orjson.loads(bundle)["entry"]:
            resource = entry["resource"]
            wanted[resource["resourceType"]].add(resource["identifier"][0]["value"])
    return wanted


def _all_claimed(engine: Engine) -> bool:
    return all(row["claimed_by"] is not None for row in outbox_rows(engine))


def _identifiers_on_peer(base_url: str) -> dict[str, Counter[str]]:
    written = read_back(base_url)  # fhirpy, searching by identifier system
    found: dict[str, Counter[str]] = {}
    for kind, resources in (
        ("CarePlan", written.careplans),
        ("Appointment", written.appointments),
        ("Task", written.tasks),
    ):
        found[kind] = Counter(
            i["value"] for r in resources for i in r["identifier"] if i["system"] == SYSTEMS[kind]
        )
    return found


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("proxied_peer", [("crash-peer", 20, 0.1)], indirect=True)
def test_sigkill_while_draining_loses_nothing_and_duplicates_nothing(
    backend: str, tmp_path: Path, proxied_peer: tuple[LoadedEhr, RunningProxy]
) -> None:
    peer, proxy = proxied_peer
    with database(backend, tmp_path) as url:
        env = fhir_sync_env(url, FHIR_SYNC_OUTBOX_LEASE="4", FHIR_SYNC_OUTBOX_WORKERS="2")
        watch = open_engine(url)
        first = start_server(tmp_path, "first", env)
        with stopping(first):
            body = enroll_parameters(peer.base_url, target=proxy.base_url)
            proxy.proxy.hold(after=5)

            def enroll(patient: str) -> None:
                response = httpx.post(
                    f"{first.base_url}/Patient/{patient}/$enroll", json=body, timeout=30
                )
                assert response.status_code == 200, response.text

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(enroll, peer.patients))
            wait_until(lambda: proxy.proxy.held >= 1, 20, "writes in flight")
            first.kill()  # with writes applied by the peer and not yet answered
        proxy.proxy.release()
        at_kill = outbox_states(watch)
        assert at_kill["done"] <= 5 and at_kill["pending"] >= 15, at_kill

        second = start_server(tmp_path, "second", env)
        with stopping(second):
            wait_until(lambda: drained(watch), 40, "the restarted server to drain the outbox")
        rows = outbox_rows(watch)
        watch.dispose()
        assert Counter(r["state"] for r in rows) == {"done": len(peer.patients)}, rows
        wanted = _identifiers_sent(url)

    # Writes in flight at the kill had reached the peer and were sent again after the restart.
    assert set(proxy.proxy.transactions) == set(peer.patients)
    assert max(proxy.proxy.transactions.values()) >= 2
    # ... and still the peer holds exactly one of each resource, and exactly the planned ones.
    on_peer = _identifiers_on_peer(peer.base_url)
    assert set(wanted["CarePlan"]) == set(peer.patients)
    for kind in SYSTEMS:
        assert on_peer[kind] == Counter(wanted[kind]), kind
    assert on_peer["Task"], "the patients' plans have renewal Tasks to check"


@pytest.mark.parametrize("proxied_peer", [("two-workers-peer", 16, 0.1)], indirect=True)
def test_two_worker_processes_share_one_outbox_and_send_each_write_once(
    tmp_path: Path, proxied_peer: tuple[LoadedEhr, RunningProxy]
) -> None:
    peer, proxy = proxied_peer
    with postgres_database() as url:
        engine = migrated_engine(url)
        settings = ServerSettings(database_url=url, today=TODAY, migrate_on_start=False)
        clients = EndpointClients(LiveSettings())
        app = create_app(settings, engine=engine, live_pull=FhirLivePull(clients), clients=clients)
        with TestClient(app) as client:  # enroll only: no background workers in this app
            body = enroll_parameters(peer.base_url, target=proxy.base_url)
            for patient in peer.patients:
                response = client.post(f"/fhir/Patient/{patient}/$enroll", json=body)
                assert response.status_code == 200, response.text
        assert outbox_states(engine) == {"pending": len(peer.patients)}

        env = fhir_sync_env(url, FHIR_SYNC_MIGRATE_ON_START="0")
        # No answers until every write is claimed: one process claims at most 8 (2 loops of
        # 4), so both must take part, each with writes in flight at the same time.
        proxy.proxy.hold(after=0)
        workers = [
            start_process(tmp_path, name, ["worker", "--outbox-workers", "2"], env)
            for name in ("worker-a", "worker-b")
        ]
        with stopping(*workers):
            wait_until(lambda: _all_claimed(engine), 30, "the workers to claim every write")
            proxy.proxy.release()
            wait_until(lambda: drained(engine), 30, "two workers to drain the outbox")
        rows = outbox_rows(engine)
        engine.dispose()

    assert [(r["state"], r["attempts"]) for r in rows] == [("done", 1)] * len(peer.patients)
    processes = Counter(str(r["claimed_by"]).rsplit(":", 1)[0] for r in rows)
    assert len(processes) == 2, processes  # both workers took part
    assert proxy.proxy.transactions == Counter(dict.fromkeys(peer.patients, 1))
    on_peer = _identifiers_on_peer(peer.base_url)
    assert on_peer["CarePlan"] == Counter(dict.fromkeys(peer.patients, 1))
    assert all(count == 1 for kind in SYSTEMS for count in on_peer[kind].values())
