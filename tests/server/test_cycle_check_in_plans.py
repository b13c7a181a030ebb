"""A check-in acts on the plan through the enrollment's own use cases (through the API, on
SQLite and PostgreSQL): "stop the program" revokes the CarePlan and cancels the Appointment as
`$unenroll` does, and the EHR is sent the revoked plan once; a new pickup date re-plans the
patient on that anchor as `$enroll` does, so the Appointment and the fills to prepare fall on
the new date.

Expected results from the rules (docs/cycle.md "The check-in"; ../shared/domain.md section 1:
the anchor is the one pickup day the refills are aligned to; a patient who leaves the program
has no plan going on), never from the program's output.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.services.worklist import day_worklist
from fhir_sync.store.database import read_transaction
from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.outbox import OUTBOX
from mappings.profile import CS_PICKUP_CHOICE, QUESTIONNAIRE_CHECK_IN
from tests.server.api_support import TODAY, demo_patients, enroll_body, resources_of

PATIENT = demo_patients()[0]
TARGET = {"name": "targetEndpoint", "valueUrl": "http://ehr.test/fhir"}


def _check_in(client: TestClient, *items: dict[str, Any], day: date = TODAY) -> dict[str, Any]:
    response = client.post(
        f"/fhir/Patient/{PATIENT}/$check-in",
        json={
            "resourceType": "QuestionnaireResponse",
            "id": f"checkin-{len(items)}-{day.isoformat()}",
            "questionnaire": f"{QUESTIONNAIRE_CHECK_IN}|1",
            "status": "completed",
            "subject": {"reference": f"Patient/{PATIENT}"},
            "authored": day.isoformat(),
            "item": list(items),
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _plan(client: TestClient) -> list[dict[str, Any]]:
    found = client.get("/fhir/CarePlan", params={"patient": PATIENT}).json()
    [careplan] = resources_of(found, "CarePlan")
    appointments = resources_of(
        client.get("/fhir/Appointment", params={"patient": PATIENT}).json(), "Appointment"
    )
    return [careplan, *appointments]


def _outbox(engine: Engine) -> list[str]:
    with read_transaction(engine) as connection:
        return list(connection.execute(select(OUTBOX.c.state).order_by(OUTBOX.c.id)).scalars())


def _enrolled(client: TestClient, engine: Engine) -> date:
    response = client.post(f"/fhir/Patient/{PATIENT}/$enroll", json=enroll_body(PATIENT, TARGET))
    assert response.status_code == 200, response.text
    with engine.connect() as connection:
        anchor = connection.execute(
            select(ENROLLMENT.c.anchor_date).where(ENROLLMENT.c.patient_id == PATIENT)
        ).scalar_one()
    assert anchor is not None
    run_cycle_day(engine, TODAY)
    return anchor


def _anchor_of(careplan: dict[str, Any]) -> str:
    return next(e["valueDate"] for e in careplan["extension"] if e["url"].endswith("anchor-date"))


def test_stop_the_program_revokes_the_plan_as_unenroll_does(
    client: TestClient, engine: Engine
) -> None:
    _enrolled(client, engine)
    assert _outbox(engine) == ["pending"]
    done = _check_in(client, {"linkId": "stop-program", "answer": [{"valueBoolean": True}]})
    assert any(p["name"] == "unenroll" and p["valueBoolean"] for p in done["parameter"])
    careplan, *appointments = _plan(client)
    # As $unenroll: the CarePlan revoked, its Appointments cancelled.
    assert careplan["status"] == "revoked"
    assert appointments and {a["status"] for a in appointments} == {"cancelled"}
    # The EHR is sent the revoked plan (the unsent active one is superseded by it).
    assert _outbox(engine) == ["superseded", "pending"]
    version = careplan["meta"]["versionId"]
    # A second "stop" changes nothing and sends nothing: the plan is already revoked.
    _check_in(client, {"linkId": "stop-program", "answer": [{"valueBoolean": True}]})
    assert _plan(client)[0]["meta"]["versionId"] == version
    assert _outbox(engine) == ["superseded", "pending"]
    # $unenroll after it has nothing left to do either.
    assert client.post(f"/fhir/Patient/{PATIENT}/$unenroll").status_code == 200
    assert _outbox(engine) == ["superseded", "pending"]


def test_a_new_pickup_date_re_plans_on_the_new_anchor(client: TestClient, engine: Engine) -> None:
    old_anchor = _enrolled(client, engine)
    old_careplan = _plan(client)[0]
    # Ten days after the anchor it had (the pharmacy closes no day here): later than the
    # check-in day, so the enrollment is re-anchored on it.
    new_anchor = old_anchor + timedelta(days=10)
    done = _check_in(
        client,
        {
            "linkId": "pickup",
            "answer": [{"valueCoding": {"system": CS_PICKUP_CHOICE, "code": "new-date"}}],
        },
        {"linkId": "new-date", "answer": [{"valueDate": new_anchor.isoformat()}]},
    )
    assert {"name": "newAnchor", "valueDate": new_anchor.isoformat()} in done["parameter"]
    careplan, *appointments = _plan(client)
    # The plan is made again on the new anchor: the CarePlan's anchor and the pickup
    # Appointment are on the new date, and the EHR is sent the new plan.
    assert _anchor_of(careplan) == new_anchor.isoformat()
    assert int(careplan["meta"]["versionId"]) > int(old_careplan["meta"]["versionId"])
    starts = sorted(a["start"][:10] for a in appointments if a["status"] != "cancelled")
    assert starts and starts[0] == new_anchor.isoformat()
    assert _outbox(engine) == ["superseded", "pending"]
    with engine.connect() as connection:
        stored = connection.execute(
            select(ENROLLMENT.c.anchor_date).where(ENROLLMENT.c.patient_id == PATIENT)
        ).scalar_one()
    assert stored == new_anchor
    # The cycle follows: preparation 3 days before the new pickup, the pickup on it, and
    # the fills to prepare are the re-planned CarePlan's fills for the new anchor, each
    # planned for that pickup (a fill's earliest day is not after it).
    for offset in range(1, (new_anchor - TODAY).days + 1):
        run_cycle_day(engine, TODAY + timedelta(days=offset))
    prep_day = new_anchor - timedelta(days=3)
    preps = day_worklist(engine, prep_day, groups=["preparations"]).entries
    assert [(e.kind, e.anchor) for e in preps] == [("prepare", new_anchor)]
    pickups = day_worklist(engine, new_anchor, groups=["pickups"]).entries
    assert [(e.kind, e.anchor) for e in pickups] == [("pickup", new_anchor)]
    planned = _planned_orders(careplan)
    assert {f.order_id for f in preps[0].fills} == planned
    assert all(f.earliest is None or f.earliest <= new_anchor for f in preps[0].fills)
    # Nothing of the old anchor is prepared any more.
    old_preps = day_worklist(engine, old_anchor - timedelta(days=3), groups=["preparations"])
    assert all(e.anchor != old_anchor for e in old_preps.entries)


def _planned_orders(careplan: dict[str, Any]) -> set[str]:
    """The orders the CarePlan schedules (an activity detail linked to a MedicationRequest)."""
    found = set()
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        if detail.get("status") != "scheduled":
            continue
        for ext in detail.get("extension") or ():
            reference = (ext.get("valueReference") or {}).get("reference", "")
            if reference.startswith("MedicationRequest/"):
                found.add(reference.removeprefix("MedicationRequest/"))
    return found
