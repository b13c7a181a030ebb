"""Months of the monthly cycle through the real API: `fhir-sync serve` on 127.0.0.1 (SQLite
and PostgreSQL), demo patients enrolled with $enroll, the day's derivation run day by day
(what the worker runs), the worklist read with `$worklist`, calls recorded with
`$record-contact`, a check-in with `$check-in`, pickups with `$pickup`, all over HTTP.

The expected days are worked out from the rules (docs/cycle.md; APhA ABM: a call 3-7 days
before the pickup, the fills prepared a few days ahead; defaults lead 7, prep 3, retries 2,
return to stock 10 days; the pharmacy here closes no day), never from the program's output:
with anchor A and cycle C, cycle k's pickup is A + kC, its call A + kC - 7 (or the day the
patient enrolled, when later), its preparation A + kC - 3.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fhir_sync.services import cycle_resources
from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.store.database import open_engine
from fhir_sync.store.enrollments import ENROLLMENT
from mappings.profile import QUESTIONNAIRE_CHECK_IN, SID_CONTACT, SID_CYCLE_ITEM
from tests.integration.server_support import serving
from tests.server.api_support import TODAY, demo_patients, enroll_body
from tests.server.conftest import BACKENDS
from tests.server.databases import database

PATIENTS = demo_patients()[:6]
ROLES: dict[str, str] = {}  # no-answer, hospital, no-show -> patient
DAYS = 100  # a little over three cycles


def _parts(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in node.get("parameter", node.get("part", [])) if p["name"] == name]


def _value(node: dict[str, Any], name: str) -> Any:
    found = _parts(node, name)
    if not found:
        return None
    part = found[0]
    return next(v for k, v in part.items() if k.startswith("value"))


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    folder: Path = tmp_path_factory.mktemp("cycle")
    with database(request.param, folder) as url:
        env = {
            **os.environ,
            "FHIR_SYNC_DATABASE_URL": url,
            "FHIR_SYNC_TODAY": TODAY.isoformat(),
            "FHIR_SYNC_CYCLE_INTERVAL": "3600",
        }
        with serving(folder, env) as process:
            yield process.base_url, url


def _communication(item: dict[str, Any], patient: str, day: date, outcome: str) -> dict[str, Any]:
    reached = outcome == "reached"
    coding = {"system": "https://fhir-sync.org/CodeSystem/contact-outcome", "code": outcome}
    body: dict[str, Any] = {
        "resourceType": "Communication",
        "extension": [
            {
                "url": "https://fhir-sync.org/StructureDefinition/contact-outcome",
                "valueCoding": coding,
            }
        ],
        "identifier": [{"system": SID_CONTACT, "value": item["id"]}],
        "basedOn": [
            {"reference": f"CommunicationRequest?identifier={SID_CYCLE_ITEM}|{item['id']}"}
        ],
        "status": "completed" if reached else "not-done",
        "subject": {"reference": f"Patient/{patient}"},
        "sent": day.isoformat(),
    }
    if not reached:
        body["statusReason"] = {"coding": [coding]}
    return body


def _hospital_check_in(patient: str) -> dict[str, Any]:
    def boolean(link: str, value: bool) -> dict[str, Any]:
        return {"linkId": link, "answer": [{"valueBoolean": value}]}

    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE_CHECK_IN}|1",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": "2026-01-01",
        "item": [boolean("hospital-visit", True), boolean("taking-as-directed", True)],
    }


def test_three_months_of_the_cycle_through_the_api(served: tuple[str, str]) -> None:
    base, url = served
    http = httpx.Client(base_url=base, timeout=30)
    for patient in PATIENTS:
        response = http.post(f"/Patient/{patient}/$enroll", json=enroll_body(patient))
        assert response.status_code == 200, response.text
    engine = open_engine(url)
    cycle_resources.install()  # as `fhir-sync worker` does: the calls become resources
    with engine.connect() as connection:
        rows = connection.execute(
            select(ENROLLMENT.c.patient_id, ENROLLMENT.c.anchor_date, ENROLLMENT.c.cycle_days)
        ).all()
    anchor = {r[0]: r[1] for r in rows}
    cycle = {r[0]: r[2] for r in rows}
    # A plan with nothing synced has no anchor and no cycle.
    synced = [p for p in PATIENTS if anchor[p] is not None]
    assert len(synced) >= 3
    no_answer, hospital, no_show = synced[:3]
    ROLES.update({"no-answer": no_answer, "hospital": hospital, "no-show": no_show})
    seen: dict[tuple[str, str], list[date]] = defaultdict(list)
    first_call_missed: set[str] = set()
    missed_pickup: set[str] = set()
    ids: set[str] = set()
    try:
        for offset in range(DAYS):
            day = TODAY + timedelta(days=offset)
            run_cycle_day(engine, day)
            again = run_cycle_day(engine, day)  # running a day twice creates nothing twice
            assert again.items_created == 0
            # Twice: what staff do (a check-in) can put an item on today's list.
            for _ in range(2):
                answer = http.get("/$worklist", params={"date": day.isoformat()})
                assert answer.status_code == 200, answer.text
                for group in _parts(answer.json(), "group"):
                    for item in _parts(group, "item"):
                        if _value(item, "id") in ids:
                            continue
                        ids.add(_value(item, "id"))
                        kind = _value(item, "kind")
                        patient = _value(item, "patient")["reference"].removeprefix("Patient/")
                        seen[(patient, kind)].append(day)
                        _act(http, item, kind, patient, day, first_call_missed, missed_pickup)
        for patient in PATIENTS:
            if anchor[patient] is None:
                assert not any(p == patient for p, _ in seen), "no anchor, no cycle items"
                continue
            _check(patient, anchor[patient], cycle[patient], seen, no_show)
        # Not answered on the first call: called again the next day (retry 1 of 2).
        first = _expected_calls(anchor[no_answer], cycle[no_answer])[0]
        assert seen[(no_answer, "call-retry")][0] == first + timedelta(days=1)
        # Hospital stay on the check-in: a review item the day of the call.
        assert (
            seen[(hospital, "review")][0] == _expected_calls(anchor[hospital], cycle[hospital])[0]
        )
        # No-show: a follow-up call the next day, return to stock 10 days after the pickup.
        missed = (
            anchor[no_show]
            if anchor[no_show] >= TODAY
            else anchor[no_show] + timedelta(days=cycle[no_show])
        )
        assert seen[(no_show, "no-show-follow-up")][0] == missed + timedelta(days=1)
        assert seen[(no_show, "return-to-stock")][0] == missed + timedelta(days=10)
    finally:
        http.close()
        engine.dispose()


def _act(
    http: httpx.Client,
    item: dict[str, Any],
    kind: str,
    patient: str,
    day: date,
    first_call_missed: set[str],
    missed_pickup: set[str],
) -> None:
    no_answer, hospital, no_show = ROLES["no-answer"], ROLES["hospital"], ROLES["no-show"]
    if kind in ("outreach", "call-retry", "no-show-follow-up") and _value(item, "state") == "open":
        outcome = "reached"
        if patient == no_answer and patient not in first_call_missed:
            first_call_missed.add(patient)
            outcome = "no-answer"
        resource = _value(item, "resource")["reference"]
        assert resource.startswith("CommunicationRequest/")
        served = http.get(f"/{resource}")
        assert served.status_code == 200, served.text
        assert served.json()["occurrenceDateTime"] == day.isoformat()
        found = http.get(
            "/CommunicationRequest",
            params={"patient": patient, "occurrence": day.isoformat(), "_summary": "count"},
        )
        assert found.status_code == 200 and found.json()["total"] >= 1, found.text
        response = http.post(
            f"/Patient/{patient}/$record-contact",
            json=_communication({"id": _value(item, "id")}, patient, day, outcome),
        )
        assert response.status_code == 200, response.text
        recorded = http.get(
            "/Communication",
            params={"patient": patient, "sent": day.isoformat(), "_summary": "count"},
        )
        assert recorded.status_code == 200 and recorded.json()["total"] >= 1, recorded.text
        if kind == "outreach" and patient == hospital and outcome == "reached":
            qr = _hospital_check_in(patient)
            qr["authored"] = day.isoformat()
            qr["id"] = f"checkin-{patient}-{day.isoformat()}"
            response = http.post(f"/Patient/{patient}/$check-in", json=qr)
            assert response.status_code == 200, response.text
            assert _value(response.json(), "replan") is True
    if kind == "prepare":
        fills = _parts(item, "fill")
        assert fills, "a preparation lists the fills of its pickup"
        _prepare(http, item, patient, len(fills))
    if kind == "pickup" and _value(item, "state") == "open":
        anchor = item_anchor(item)
        status = "fulfilled"
        if patient == no_show and patient not in missed_pickup:
            missed_pickup.add(patient)
            status = "noshow"
        response = http.post(
            f"/Patient/{patient}/$pickup",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "status", "valueCode": status},
                    {"name": "anchor", "valueDate": anchor.isoformat()},
                    {"name": "date", "valueDate": day.isoformat()},
                ],
            },
        )
        assert response.status_code == 200, response.text


def _prepare(http: httpx.Client, item: dict[str, Any], patient: str, fills: int) -> None:
    """The preparation's Task, read as stored, then started and done with If-Match."""
    resource = _value(item, "resource")["reference"]
    assert resource.startswith("Task/")
    read = http.get(f"/{resource}")
    assert read.status_code == 200, read.text
    task = read.json()
    assert task["code"]["coding"][0]["code"] == "prepare-fills"
    assert len(task["input"]) == fills
    if task["status"] != "requested":
        return  # on hold: waiting for a renewal, for the pharmacist to decide
    found = http.get(
        "/Task", params={"patient": patient, "code": "prepare-fills", "_summary": "count"}
    )
    assert found.status_code == 200 and found.json()["total"] >= 1, found.text
    for version, status in ((1, "in-progress"), (2, "completed")):
        task = {**task, "status": status}
        response = http.put(f"/{resource}", json=task, headers={"If-Match": f'W/"{version}"'})
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'W/"{version + 1}"'
        task = response.json()
    stale = http.put(f"/{resource}", json=task, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412, stale.text


def item_anchor(item: dict[str, Any]) -> date:
    return date.fromisoformat(str(_value(item, "id")).split(":")[2])


def _expected_calls(anchor: date, cycle_days: int) -> list[date]:
    """Each cycle's call: 7 days before its pickup, or the enrollment day when later."""
    pickups = _pickups(anchor, cycle_days, ahead=7)
    return [max(p - timedelta(days=7), TODAY) for p in pickups]


def _pickups(anchor: date, cycle_days: int, ahead: int = 0) -> list[date]:
    """The pickups from the enrollment day to `ahead` days after the simulation's last day
    (a pickup just after it has its call and preparation inside it)."""
    first = anchor
    while first < TODAY:
        first += timedelta(days=cycle_days)
    last = TODAY + timedelta(days=DAYS - 1 + ahead)
    found = []
    while first <= last:
        found.append(first)
        first += timedelta(days=cycle_days)
    return found


def _check(
    patient: str,
    anchor: date,
    cycle_days: int,
    seen: dict[tuple[str, str], list[date]],
    no_show: str,
) -> None:
    last = TODAY + timedelta(days=DAYS - 1)
    pickups = _pickups(anchor, cycle_days)
    if patient == no_show:
        # The missed cycle rolls forward when its fills go back to stock, 10 days later,
        # on the same anchor rhythm: the later pickups are unchanged.
        pass
    calls = [c for c in _expected_calls(anchor, cycle_days) if c <= last]
    assert seen[(patient, "outreach")] == calls, patient
    preps = [max(p - timedelta(days=3), TODAY) for p in _pickups(anchor, cycle_days, ahead=3)]
    assert seen[(patient, "prepare")] == [p for p in preps if p <= last], patient
    assert seen[(patient, "pickup")] == pickups, patient
