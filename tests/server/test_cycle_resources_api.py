"""The monthly cycle's own resources through the API (SQLite and PostgreSQL): the
preparation Task (read, searched by patient, status, code and authored-on, its state changed
with `PUT` and `If-Match`), the Communication of `$record-contact` and the
QuestionnaireResponse of `$check-in` (stored once per identifier), and the shipped check-in
Questionnaire; none of them is part of the plan written to EHRs.

The days are worked out from docs/cycle.md's rules (defaults: the call 7 days before the
pickup, the preparation 3 days before), not from the program's output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from fhir_sync.services import cycle_resources
from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.services.indexing import resource_row
from fhir_sync.services.plan_resources import current_plan
from fhir_sync.services.worklist import day_worklist
from fhir_sync.store.database import open_engine, write_transaction
from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.resources import insert_new_resources, save_resources
from fhir_sync.store.search import TOKEN
from mappings.profile import (
    CS_TASK_CODE,
    QUESTIONNAIRE_CHECK_IN,
    SID_CONTACT,
    SID_CYCLE_ITEM,
    SID_RENEWAL_TASK,
)
from tests.server.api_support import TODAY, demo_patients, enroll_body, resources_of
from tests.server.conftest import BACKENDS
from tests.server.databases import database

FHIR = "application/fhir+json"


def _enrolled(client: TestClient, engine: Engine) -> tuple[str, date]:
    """A demo patient enrolled with an anchor (a plan with synced fills): id and anchor."""
    cycle_resources.install()  # as `fhir-sync serve` and the worker do
    for patient in demo_patients()[:6]:
        response = client.post(f"/fhir/Patient/{patient}/$enroll", json=enroll_body(patient))
        assert response.status_code == 200, response.text
        with engine.connect() as connection:
            anchor = connection.execute(
                select(ENROLLMENT.c.anchor_date).where(ENROLLMENT.c.patient_id == patient)
            ).scalar_one()
        if anchor is not None:
            return patient, anchor
    raise AssertionError("no demo patient has an anchor")


def _run_until(engine: Engine, day: date) -> None:
    current = TODAY
    while current <= day:
        run_cycle_day(engine, current)
        current += timedelta(days=1)


def _pickup(anchor: date) -> date:
    while anchor < TODAY + timedelta(days=7):  # a cycle whose call and preparation are ahead
        anchor += timedelta(days=30)
    return anchor


def _total(client: TestClient, kind: str, **params: str) -> int:
    response = client.get(f"/fhir/{kind}", params={**params, "_summary": "count"})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def _put(client: TestClient, task: dict[str, Any], version: str | None) -> Any:
    headers = {"Content-Type": FHIR}
    if version is not None:
        headers["If-Match"] = version
    return client.put(f"/fhir/Task/{task['id']}", json=task, headers=headers)


def test_the_preparation_task_is_served_searched_and_updated_with_if_match(
    client: TestClient, engine: Engine
) -> None:
    patient, anchor = _enrolled(client, engine)
    pickup = _pickup(anchor)
    prep_day = pickup - timedelta(days=3)
    _run_until(engine, prep_day)
    entry = next(e for e in day_worklist(engine, prep_day).entries if e.kind == "prepare")
    assert entry.resource is not None and entry.resource.startswith("Task/")
    read = client.get(f"/fhir/{entry.resource}")
    assert read.status_code == 200, read.text
    assert read.headers["etag"] == 'W/"1"'
    task = read.json()
    assert task["identifier"] == [{"system": SID_CYCLE_ITEM, "value": entry.item_id}]
    assert task["code"]["coding"][0]["code"] == "prepare-fills"
    assert task["status"] == "requested" and task["for"] == {"reference": f"Patient/{patient}"}
    # One input per fill: the order, the quantity in the dispense unit, the days supply.
    assert entry.fills and len(task["input"]) == len(entry.fills)
    orders = {i["valueReference"]["reference"] for i in task["input"]}
    assert orders == {f"MedicationRequest/{f.order_id}" for f in entry.fills}
    first = {e["url"].rsplit("/", 1)[1]: e for e in task["input"][0]["extension"]}
    assert first["fill-quantity"]["valueQuantity"]["unit"] == entry.fills[0].unit
    assert first["fill-days-supply"]["valueQuantity"]["value"] == entry.fills[0].days_supply
    # Searched by patient, status, code (preparations apart from renewals) and day.
    assert _total(client, "Task", patient=patient, code="prepare-fills") == 1
    assert _total(client, "Task", code=f"{CS_TASK_CODE}|prepare-fills", status="requested") == 1
    assert _total(client, "Task", patient=patient, code="renew-prescription") == 0
    assert _total(client, "Task", **{"authored-on": prep_day.isoformat()}) == 1
    assert _total(client, "Task", **{"authored-on": (prep_day - timedelta(1)).isoformat()}) == 0
    # Not part of the plan: the transaction written to EHRs does not carry it.
    with engine.connect() as connection:
        plan = current_plan(connection, patient)
    assert task["id"] not in {r["id"] for r in plan}

    # Started: the same service as the staff app's buttons; the worklist follows.
    started = _put(client, {**task, "status": "in-progress"}, 'W/"1"')
    assert started.status_code == 200, started.text
    assert started.headers["etag"] == 'W/"2"'
    assert started.json()["status"] == "in-progress"
    again = next(e for e in day_worklist(engine, prep_day).entries if e.item_id == entry.item_id)
    assert again.task_status == "in-progress"
    assert _total(client, "Task", patient=patient, status="in-progress") == 1
    # A stale version: 412, and nothing changes.
    stale = _put(client, {**task, "status": "on-hold", "statusReason": {"text": "x"}}, 'W/"1"')
    assert stale.status_code == 412, stale.text
    assert stale.json()["resourceType"] == "OperationOutcome"
    current = client.get(f"/fhir/{entry.resource}").json()
    assert current["status"] == "in-progress" and current["meta"]["versionId"] == "2"
    # On hold needs its reason, which the Task then carries.
    no_reason = _put(client, {**current, "status": "on-hold"}, 'W/"2"')
    assert no_reason.status_code == 422, no_reason.text
    held = _put(
        client, {**current, "status": "on-hold", "statusReason": {"text": "out of stock"}}, 'W/"2"'
    )
    assert held.status_code == 200, held.text
    assert held.json()["statusReason"] == {"text": "out of stock"}
    held_entry = next(
        e for e in day_worklist(engine, prep_day).entries if e.item_id == entry.item_id
    )
    assert held_entry.task_status == "on-hold" and held_entry.hold_reasons == ("out of stock",)
    current = {k: v for k, v in held.json().items() if k != "statusReason"}
    resumed = _put(client, {**current, "status": "in-progress"}, 'W/"3"')
    assert resumed.status_code == 200 and "statusReason" not in resumed.json()
    done = _put(client, {**resumed.json(), "status": "completed"}, 'W/"4"')
    assert done.status_code == 200, done.text
    closed = next(e for e in day_worklist(engine, prep_day).entries if e.item_id == entry.item_id)
    assert closed.state == "done"
    # A completed preparation goes nowhere: a conflict, as in the staff app.
    assert _put(client, {**done.json(), "status": "in-progress"}, 'W/"5"').status_code == 409
    # Audited: each update an AuditEvent (action U, the Task and its patient).
    client.app.state.audit.flush()  # type: ignore[attr-defined]
    found = client.get("/fhir/AuditEvent", params={"action": "U", "patient": patient})
    assert found.status_code == 200, found.text
    updates = resources_of(found.json())
    assert updates and all(e["subtype"][0]["code"] == "update" for e in updates)
    assert {"Task/" + task["id"]} <= {
        str(entity.get("what", {}).get("reference")) for e in updates for entity in e["entity"]
    }


def test_a_task_update_is_validated(client: TestClient, engine: Engine) -> None:
    patient, anchor = _enrolled(client, engine)
    prep_day = _pickup(anchor) - timedelta(days=3)
    _run_until(engine, prep_day)
    entry = next(e for e in day_worklist(engine, prep_day).entries if e.kind == "prepare")
    assert entry.resource is not None
    task = client.get(f"/fhir/{entry.resource}").json()
    assert _put(client, {**task, "status": "in-progress"}, None).status_code == 428
    assert _put(client, {**task, "status": "in-progress"}, "1").status_code == 400
    changed = _put(client, {**task, "status": "in-progress", "description": "x"}, 'W/"1"')
    assert changed.status_code == 422 and "only status" in changed.text
    assert _put(client, {**task, "status": "done"}, 'W/"1"').status_code == 422
    other = client.put(
        f"/fhir/{entry.resource}",
        json={**task, "id": "other", "status": "in-progress"},
        headers={"If-Match": 'W/"1"'},
    )
    assert other.status_code == 400
    missing = client.put(
        "/fhir/Task/nope", json={**task, "id": "nope"}, headers={"If-Match": 'W/"1"'}
    )
    assert missing.status_code == 404
    # The plan's renewal Tasks are not updated here (the EHR answers them).
    renewal = {
        "resourceType": "Task",
        "id": "renewal-1",
        "identifier": [{"system": SID_RENEWAL_TASK, "value": f"{patient}:order-1"}],
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": CS_TASK_CODE, "code": "renew-prescription"}]},
        "for": {"reference": f"Patient/{patient}"},
    }
    with write_transaction(engine) as connection:
        row = resource_row(renewal, version_id=1, last_updated=datetime.now(UTC), payer=None)
        save_resources(connection, [row])
    assert _total(client, "Task", patient=patient, code="renew-prescription") == 1
    refused = _put(client, {**renewal, "status": "cancelled"}, 'W/"1"')
    assert refused.status_code == 405, refused.text
    assert client.get(f"/fhir/{entry.resource}").json()["meta"]["versionId"] == "1"
    assert _total(client, "Task", patient=patient, status="requested", code="prepare-fills") == 1


def _communication(item_id: str, patient: str, day: date) -> dict[str, Any]:
    coding = {"system": "https://fhir-sync.org/CodeSystem/contact-outcome", "code": "reached"}
    return {
        "resourceType": "Communication",
        "extension": [
            {
                "url": "https://fhir-sync.org/StructureDefinition/contact-outcome",
                "valueCoding": coding,
            }
        ],
        "identifier": [{"system": SID_CONTACT, "value": item_id}],
        "basedOn": [{"reference": f"CommunicationRequest?identifier={SID_CYCLE_ITEM}|{item_id}"}],
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "sent": day.isoformat(),
    }


def _check_in(patient: str, day: date) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "answers-1",
        "identifier": {"system": "urn:example:call-centre", "value": f"{patient}-1"},
        "questionnaire": f"{QUESTIONNAIRE_CHECK_IN}|1",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": day.isoformat(),
        "item": [{"linkId": "taking-as-directed", "answer": [{"valueBoolean": True}]}],
    }


def test_calls_and_check_ins_are_stored_once_and_searched(
    client: TestClient, engine: Engine
) -> None:
    patient, anchor = _enrolled(client, engine)
    call_day = max(_pickup(anchor) - timedelta(days=7), TODAY)
    _run_until(engine, call_day)
    call = next(e for e in day_worklist(engine, call_day).entries if e.kind == "outreach")
    body = _communication(call.item_id, patient, call_day)
    recorded = client.post(f"/fhir/Patient/{patient}/$record-contact", json=body)
    assert recorded.status_code == 200, recorded.text
    # Posted again: refused (the outcome is recorded), and stored only once.
    again = client.post(f"/fhir/Patient/{patient}/$record-contact", json=body)
    assert again.status_code == 409, again.text
    assert _total(client, "Communication", patient=patient) == 1
    found = resources_of(client.get("/fhir/Communication", params={"patient": patient}).json())
    communication = found[0]
    assert communication["identifier"] == [{"system": SID_CONTACT, "value": call.item_id}]
    assert communication["status"] == "completed"
    assert client.get(f"/fhir/Communication/{communication['id']}").status_code == 200
    assert _total(client, "Communication", status="completed", sent=call_day.isoformat()) == 1
    assert _total(client, "Communication", status="not-done") == 0

    answers = _check_in(patient, call_day)
    for _ in range(2):  # the same identifier twice: stored once
        response = client.post(f"/fhir/Patient/{patient}/$check-in", json=answers)
        assert response.status_code == 200, response.text
    assert _total(client, "QuestionnaireResponse", patient=patient) == 1
    stored = resources_of(
        client.get("/fhir/QuestionnaireResponse", params={"patient": patient}).json()
    )[0]
    assert stored["identifier"] == answers["identifier"]
    assert stored["item"] == answers["item"]
    by_identifier = {"identifier": f"urn:example:call-centre|{patient}-1"}
    assert _total(client, "QuestionnaireResponse", **by_identifier) == 1
    assert _total(client, "QuestionnaireResponse", authored=call_day.isoformat()) == 1
    assert _total(client, "QuestionnaireResponse", status="completed") == 1


def test_the_check_in_questionnaire_is_served(client: TestClient) -> None:
    read = client.get("/fhir/Questionnaire/med-sync-check-in")
    assert read.status_code == 200, read.text
    questionnaire = read.json()
    assert questionnaire["url"] == QUESTIONNAIRE_CHECK_IN and questionnaire["version"] == "1"
    links = {i["linkId"] for i in questionnaire["item"]}
    assert {"hospital-visit", "pickup", "stop-program"} <= links
    found = client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_CHECK_IN}).json()
    assert [r["id"] for r in resources_of(found)] == ["med-sync-check-in"]
    assert _total(client, "Questionnaire", url="https://example.org/other") == 0


def _worklist_ids(answer: dict[str, Any]) -> list[str]:
    return [
        next(p["valueString"] for p in item["part"] if p["name"] == "id")
        for group in answer["parameter"]
        if group["name"] == "group"
        for item in group["part"]
        if item["name"] == "item"
    ]


def _named(answer: dict[str, Any], name: str) -> Any:
    found = [p for p in answer["parameter"] if p["name"] == name]
    return next(v for k, v in found[0].items() if k.startswith("value")) if found else None


def test_the_worklist_is_paged_with_count_and_a_next_link(
    client: TestClient, engine: Engine
) -> None:
    for patient in demo_patients()[:6]:
        response = client.post(f"/fhir/Patient/{patient}/$enroll", json=enroll_body(patient))
        assert response.status_code == 200, response.text
    run_cycle_day(engine, TODAY)
    run_cycle_day(engine, TODAY + timedelta(days=40))  # catches up the days between
    days = [TODAY + timedelta(days=n) for n in range(41)]
    busiest = max(days, key=lambda d: len(day_worklist(engine, d).entries))
    whole = client.get("/fhir/$worklist", params={"date": busiest.isoformat()})
    assert whole.status_code == 200, whole.text
    every = _worklist_ids(whole.json())
    assert len(every) >= 3 and _named(whole.json(), "total") is None  # unpaged: as before
    pages: list[str] = []
    url: str | None = f"/fhir/$worklist?date={busiest.isoformat()}&_count=2"
    while url is not None:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert _named(body, "total") == len(every)
        ids = _worklist_ids(body)
        assert 1 <= len(ids) <= 2
        # Every group is present on every page, in the worklist's order.
        names = [g["part"][0]["valueCode"] for g in body["parameter"] if g["name"] == "group"]
        assert names == ["calls", "preparations", "pickups", "renewals", "reviews"]
        pages += ids
        following = _named(body, "next")
        url = None if following is None else following.removeprefix("http://testserver")
    assert pages == every  # each item once, in order
    assert client.get("/fhir/$worklist", params={"_count": "1001"}).status_code == 400
    assert client.get("/fhir/$worklist", params={"_count": "2", "_page": "0"}).status_code == 400
    assert client.get("/fhir/$worklist", params={"_count": "x"}).status_code == 400


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0012_indexes_the_codes_of_the_tasks_stored_before_it(
    backend: str, tmp_path: Path
) -> None:
    renewal = {
        "resourceType": "Task",
        "id": "renewal-1",
        "identifier": [{"system": SID_RENEWAL_TASK, "value": "p1:order-1"}],
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": CS_TASK_CODE, "code": "renew-prescription"}]},
        "for": {"reference": "Patient/p1"},
    }
    row = resource_row(renewal, version_id=1, last_updated=datetime.now(UTC), payer=None)
    with database(backend, tmp_path) as url:
        engine = open_engine(url)
        try:
            upgrade(engine, "0011")
            with write_transaction(engine) as connection:
                insert_new_resources(connection, [row])
                # as stored before 0012: without the code entries
                connection.execute(delete(TOKEN).where(TOKEN.c.param == "code"))
            upgrade(engine)
            with engine.connect() as connection:
                found = connection.execute(
                    select(TOKEN.c.resource_id, TOKEN.c.system, TOKEN.c.code).where(
                        TOKEN.c.param == "code"
                    )
                ).all()
            assert [tuple(r) for r in found] == [("renewal-1", CS_TASK_CODE, "renew-prescription")]
        finally:
            engine.dispose()
