"""A re-plan feeds the monthly cycle (through the API, on SQLite and PostgreSQL): a new
prescription for a therapy whose renewal was waiting answers it, so the renewal Task is
completed, and a stopped or replaced order is a change the pharmacist reviews before anything
is prepared, the stopped one kept out of the bag.

Expected results from the rules (docs/cycle.md "Review a change": new order, stopped, order
replaced... each reviewed before preparation, so nothing discontinued is filled by habit;
../shared/domain.md section 1: a renewal is the prescriber's new prescription for the same
therapy), never from the program's output.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.services.worklist import day_worklist
from fhir_sync.store.enrollments import ENROLLMENT
from tests.server.api_support import (
    TODAY,
    data_bundle,
    parameters,
    renewed_bundle,
    resources_of,
)

PATIENT = "pt-000003"  # the demo patient whose donepezil order needs a renewal
RENEWED = "mr-000003-06"
TARGET = {"name": "targetEndpoint", "valueUrl": "http://ehr.test/fhir"}


def _orders(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["resource"]["id"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    }


def _sync(client: TestClient, bundle: dict[str, Any]) -> None:
    response = client.post(
        f"/fhir/Patient/{PATIENT}/$sync", json=parameters({"name": "resource", "resource": bundle})
    )
    assert response.status_code == 200, response.text


def _tasks(client: TestClient) -> dict[str, str]:
    found = client.get("/fhir/Task", params={"patient": PATIENT}).json()
    return {t["focus"]["reference"]: t["status"] for t in resources_of(found, "Task")}


def _reviews(engine: Engine) -> list[str]:
    entries = day_worklist(engine, TODAY, groups=["reviews"]).entries
    return sorted(e.order_id or "" for e in entries)


def test_a_new_prescription_answers_the_renewal_and_changes_are_reviewed(
    client: TestClient, engine: Engine
) -> None:
    bundle = data_bundle(PATIENT)
    enrolled = client.post(
        f"/fhir/Patient/{PATIENT}/$enroll",
        json=parameters(TARGET, {"name": "resource", "resource": bundle}),
    )
    assert enrolled.status_code == 200, enrolled.text
    assert _tasks(client) == {f"MedicationRequest/{RENEWED}": "requested"}
    run_cycle_day(engine, TODAY)
    assert _reviews(engine) == []
    # The prescriber writes a new prescription for the same drug (the renewal), and the old
    # one is completed; another order is stopped.
    renewed = renewed_bundle(bundle, RENEWED, TODAY)
    orders = _orders(renewed)
    stopped = next(o for o in sorted(orders) if o != RENEWED and _scheduled(client, o))
    orders[stopped]["status"] = "stopped"
    _sync(client, renewed)
    # The renewal Task is answered: completed, not cancelled (the EHR hears it was answered).
    assert _tasks(client)[f"MedicationRequest/{RENEWED}"] == "completed"
    # Today's reviews: the replacing prescription and the stopped order, before preparing.
    assert _reviews(engine) == sorted([f"{RENEWED}-r", stopped])
    # Re-planning again from the same orders changes nothing more.
    _sync(client, renewed)
    assert _reviews(engine) == sorted([f"{RENEWED}-r", stopped])
    # The stopped order is not in the next bag.
    with engine.connect() as connection:
        anchor = connection.execute(
            select(ENROLLMENT.c.anchor_date).where(ENROLLMENT.c.patient_id == PATIENT)
        ).scalar_one()
    for offset in range(1, (anchor - TODAY).days + 1):
        run_cycle_day(engine, TODAY + timedelta(days=offset))
    preps = [
        e
        for day in range((anchor - TODAY).days + 1)
        for e in day_worklist(engine, TODAY + timedelta(days=day), groups=["preparations"]).entries
        if e.kind == "prepare"
    ]
    assert preps and all(stopped not in {f.order_id for f in p.fills} for p in preps)


def _scheduled(client: TestClient, order_id: str) -> bool:
    """The order is in the synchronized refills of the stored plan."""
    found = client.get("/fhir/CarePlan", params={"patient": PATIENT}).json()
    [careplan] = resources_of(found, "CarePlan")
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        refs = [
            (e.get("valueReference") or {}).get("reference") for e in detail.get("extension") or ()
        ]
        if f"MedicationRequest/{order_id}" in refs:
            return bool(detail.get("status") == "scheduled")
    return False
