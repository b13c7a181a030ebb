"""The server with live FHIR: `$enroll`/`$sync` pull from a real EHR (sekmet on 127.0.0.1),
the outbox workers write the plans back to it, and a Subscription notification re-syncs a
patient whose prescription was stopped. The app runs in-process with its background workers,
on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from fhir_sync.api.app import create_app
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.services.live_sync import FhirLivePull
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.store.database import write_transaction
from fhir_sync.store.sync_requests import ENROLLMENT
from fhir_sync.worker.background import serving_workers
from tests.server.databases import database, migrated_engine

from .conftest import SekmetServer
from .server_support import (
    TODAY,
    LoadedEhr,
    active_orders,
    drained,
    enroll_parameters,
    loaded_ehr,
    outbox_states,
    planned_orders,
    stop_order,
    wait_until,
)
from .sync_support import SID_SYNC_PLAN, read_back

TOKEN = "notify-secret"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="module")
def ehr(sekmet_factory: Callable[..., SekmetServer]) -> LoadedEhr:
    return loaded_ehr(sekmet_factory(name="server-live-ehr").base_url, 24, seed=23)


@pytest.fixture(scope="module")
def candidates(ehr: LoadedEhr) -> list[str]:
    """Patients with at least two active orders, chosen before any test stops one."""
    return [p for p in ehr.patients if len(active_orders(ehr.base_url, p)) >= 2]


@dataclass
class Live:
    client: TestClient
    engine: Engine
    ehr: LoadedEhr
    #: Patients of this backend's run: each test takes its own, as the EHR is shared.
    patients: list[str]

    def careplan(self, patient_id: str) -> dict[str, Any]:
        found = self.client.get("/fhir/CarePlan", params={"patient": patient_id}).json()
        [entry] = found["entry"]
        resource: dict[str, Any] = entry["resource"]
        return resource

    def enroll(self, patient_id: str) -> dict[str, Any]:
        response = self.client.post(
            f"/fhir/Patient/{patient_id}/$enroll", json=enroll_parameters(self.ehr.base_url)
        )
        assert response.status_code == 200, response.text
        return self.careplan(patient_id)


@pytest.fixture(params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path: Path, ehr: LoadedEhr, candidates: list[str]
) -> Iterator[Live]:
    mine = candidates[BACKENDS.index(request.param) :: len(BACKENDS)]
    with database(request.param, tmp_path) as url:
        engine = migrated_engine(url)
        settings = ServerSettings(database_url=url, today=TODAY, migrate_on_start=False)
        live_settings = LiveSettings(
            poll_interval=0.05, hold_check_interval=0.2, notification_token=TOKEN
        )
        clients = EndpointClients(live_settings)
        app = create_app(
            settings,
            engine=engine,
            live_pull=FhirLivePull(clients),
            clients=clients,
            workers=serving_workers,
        )
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                yield Live(client, engine, ehr, mine)
        finally:
            engine.dispose()


def _plans_on_ehr(ehr: LoadedEhr, patient_id: str) -> list[dict[str, Any]]:
    return [
        careplan
        for careplan in read_back(ehr.base_url).careplans
        if careplan["identifier"][0] == {"system": SID_SYNC_PLAN, "value": patient_id}
    ]


def _with_orders(live: Live, index: int) -> tuple[str, list[dict[str, Any]]]:
    """A patient with at least two active orders, and those orders."""
    patient = live.patients[index]
    return patient, active_orders(live.ehr.base_url, patient)


def _notification(ehr: str, focus: str, kind: str = "event-notification") -> dict[str, Any]:
    """An R4 Subscriptions Backport rest-hook notification with an id-only payload."""
    parameters: dict[str, Any] = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": f"{ehr}/Subscription/s1"}},
            {"name": "topic", "valueCanonical": "http://example.org/topic/medication-request"},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": "1"},
        ],
    }
    if kind == "event-notification":
        parameters["parameter"].append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": "1"},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "history",
        "timestamp": "2026-03-02T10:00:00Z",
        "entry": [
            {
                "fullUrl": "urn:uuid:1b4a7f4e-0d9c-4a3e-9f0a-5d1f0a6a2c11",
                "resource": parameters,
                "request": {"method": "GET", "url": "x"},
                "response": {"status": "200"},
            }
        ],
    }


def test_sync_pulls_live_and_the_workers_write_back_one_plan(live: Live) -> None:
    patient, orders = _with_orders(live, 0)
    careplan = live.enroll(patient)
    assert planned_orders(careplan) == {f"MedicationRequest/{o['id']}" for o in orders}
    wait_until(lambda: drained(live.engine), 15, "the outbox to drain")
    [written] = _plans_on_ehr(live.ehr, patient)
    assert planned_orders(written) == planned_orders(careplan)

    stop_order(live.ehr.base_url, orders[0])
    response = live.client.post(f"/fhir/Patient/{patient}/$sync")
    assert response.status_code == 200, response.text
    replanned = live.careplan(patient)
    assert f"MedicationRequest/{orders[0]['id']}" not in planned_orders(replanned)
    assert replanned["meta"]["versionId"] == "2"
    wait_until(lambda: drained(live.engine), 15, "the outbox to drain")
    [rewritten] = _plans_on_ehr(live.ehr, patient)
    assert planned_orders(rewritten) == planned_orders(replanned)
    assert outbox_states(live.engine) == {"done": 2}


def test_a_notification_of_a_stopped_order_changes_the_plan_within_seconds(live: Live) -> None:
    patient, orders = _with_orders(live, 1)
    live.enroll(patient)
    stopped = f"MedicationRequest/{orders[1]['id']}"
    stop_order(live.ehr.base_url, orders[1])
    headers = {"Authorization": f"Bearer {TOKEN}"}

    handshake = _notification(live.ehr.base_url, stopped, kind="handshake")
    assert live.client.post("/notifications/subscription", json=handshake).status_code == 401
    response = live.client.post("/notifications/subscription", json=handshake, headers=headers)
    assert response.status_code == 200, response.text

    event = _notification(live.ehr.base_url, stopped)
    response = live.client.post("/notifications/subscription", json=event, headers=headers)
    assert response.status_code == 200, response.text
    assert "1 enrolled patient" in response.text
    took = wait_until(
        lambda: stopped not in planned_orders(live.careplan(patient)), 5, "the re-plan"
    )
    assert took < 5
    wait_until(lambda: drained(live.engine), 15, "the outbox to drain")
    [written] = _plans_on_ehr(live.ehr, patient)
    assert stopped not in planned_orders(written)


def test_notifications_that_name_nobody_enrolled_queue_nothing(live: Live) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    _, orders = _with_orders(live, 2)  # not enrolled
    live.enroll(_with_orders(live, 3)[0])  # someone else is: the EHR is known
    focus = f"MedicationRequest/{orders[0]['id']}"
    event = _notification(live.ehr.base_url, focus)
    response = live.client.post("/notifications/subscription", json=event, headers=headers)
    assert response.status_code == 200 and "0 enrolled patient" in response.text
    unknown = _notification("http://127.0.0.1:9/fhir", "http://127.0.0.1:9/fhir/" + focus)
    response = live.client.post("/notifications/subscription", json=unknown, headers=headers)
    assert response.status_code == 200 and "0 enrolled patient" in response.text
    bad = {"resourceType": "Bundle", "type": "history", "entry": []}
    assert (
        live.client.post("/notifications/subscription", json=bad, headers=headers).status_code
        == 400
    )


def test_an_ended_hold_is_resumed_by_the_background_check(live: Live) -> None:
    patient, _ = _with_orders(live, 4)
    live.enroll(patient)
    until = {
        "resourceType": "Parameters",
        "parameter": [{"name": "until", "valueDate": (TODAY + timedelta(days=10)).isoformat()}],
    }
    assert live.client.post(f"/fhir/Patient/{patient}/$hold", json=until).status_code == 200
    assert live.careplan(patient)["status"] == "on-hold"
    with write_transaction(live.engine) as connection:  # ten days later
        connection.execute(
            update(ENROLLMENT).where(ENROLLMENT.c.patient_id == patient).values(hold_until=TODAY)
        )
    wait_until(lambda: live.careplan(patient)["status"] == "active", 5, "the resume")


def test_a_pull_from_an_unreachable_ehr_is_a_502(live: Live) -> None:
    body = enroll_parameters("http://127.0.0.1:9/fhir")
    response = live.client.post("/fhir/Patient/nobody/$enroll", json=body)
    assert response.status_code in (502, 504), response.text
    assert "nobody" not in response.text
    assert httpx.codes.is_server_error(response.status_code)
