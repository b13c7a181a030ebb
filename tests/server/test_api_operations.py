"""Patient operations: enrollment state shows as the CarePlan status, every change is stored
once, queued for the EHR once, and bad requests are 400/404/409/412/422 OperationOutcomes."""

from __future__ import annotations

import copy

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from fhir_sync.store.database import read_transaction
from fhir_sync.store.outbox import OUTBOX
from tests.server.api_support import (
    data_bundle,
    demo_patients,
    enroll_body,
    parameters,
    resources_of,
)

PATIENT = demo_patients()[0]
FHIR_JSON = "application/fhir+json"


def _enroll(client: TestClient, patient_id: str = PATIENT, *extra: dict[str, object]) -> dict:
    response = client.post(
        f"/fhir/Patient/{patient_id}/$enroll", json=enroll_body(patient_id, *extra)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return response.json()


def _careplan(client: TestClient, patient_id: str = PATIENT) -> dict:
    found = client.get("/fhir/CarePlan", params={"patient": patient_id}).json()
    [careplan] = resources_of(found, "CarePlan")
    return careplan


def _outbox(engine: Engine) -> list[tuple[str, str, str]]:
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(OUTBOX.c.endpoint, OUTBOX.c.patient_id, OUTBOX.c.state).order_by(OUTBOX.c.id)
        )
        return [tuple(row) for row in rows]


def _outcome(response: object, status: int) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["resourceType"] == "OperationOutcome"
    return body


def test_enroll_stores_and_serves_the_plan(client: TestClient) -> None:
    result = _enroll(client, PATIENT, {"name": "anchorDay", "valueInteger": 15})
    kinds = [r["resourceType"] for r in resources_of(result)]
    assert kinds[0] == "CarePlan" and "Appointment" in kinds
    careplan = resources_of(result, "CarePlan")[0]
    assert careplan["status"] == "active"
    assert careplan["meta"]["versionId"] == "1"
    anchor = next(e["valueDate"] for e in careplan["extension"] if e["url"].endswith("anchor-date"))
    assert anchor.endswith("-15")
    appointment = resources_of(result, "Appointment")[0]
    assert {"reference": f"Appointment/{appointment['id']}"} in [
        a.get("reference") for a in careplan["activity"]
    ]
    read = client.get(f"/fhir/CarePlan/{careplan['id']}")
    assert read.json() == careplan
    assert client.get(f"/fhir/Patient/{PATIENT}").json()["id"] == PATIENT


def test_enrolling_again_with_the_same_data_changes_nothing(
    client: TestClient, engine: Engine
) -> None:
    target = {"name": "targetEndpoint", "valueUrl": "http://ehr.test/fhir"}
    first = _enroll(client, PATIENT, target)
    second = _enroll(client, PATIENT)
    assert resources_of(first) == resources_of(second)
    assert _outbox(engine) == [("http://ehr.test/fhir", PATIENT, "pending")]


def test_hold_resume_unenroll_show_as_careplan_status(client: TestClient, engine: Engine) -> None:
    _enroll(
        client,
        PATIENT,
        {"name": "payer", "valueReference": {"reference": "Organization/acme"}},
        {"name": "ehrEndpoint", "valueUrl": "http://ehr.test/fhir"},
    )
    hold = client.post(
        f"/fhir/Patient/{PATIENT}/$hold",
        json=parameters({"name": "until", "valueDate": "2026-12-24"}),
    )
    assert hold.status_code == 200
    assert _careplan(client)["status"] == "on-hold"
    assert _careplan(client)["meta"]["versionId"] == "2"
    assert client.post(f"/fhir/Patient/{PATIENT}/$resume").status_code == 200
    assert _careplan(client)["status"] == "active"
    unenrolled = client.post(f"/fhir/Patient/{PATIENT}/$unenroll")
    assert unenrolled.status_code == 200
    assert _careplan(client)["status"] == "revoked"
    statuses = {
        r["status"] for r in resources_of(unenrolled.json()) if r["resourceType"] != "CarePlan"
    }
    assert statuses == {"cancelled"}
    group = client.get("/fhir/Group/payer-acme").json()
    assert group["member"][0]["inactive"] is True and "end" in group["member"][0]["period"]
    assert group["quantity"] == 0
    # every change went to the EHR, in order, the older unsent ones superseded
    assert [state for *_, state in _outbox(engine)] == ["superseded"] * 3 + ["pending"]


def test_status_conflicts_and_business_rules(client: TestClient) -> None:
    until = parameters({"name": "until", "valueDate": "2026-12-24"})
    _outcome(client.post(f"/fhir/Patient/{PATIENT}/$hold", json=until), 404)
    _enroll(client)
    past = parameters({"name": "until", "valueDate": "2026-11-01"})
    assert (
        _outcome(client.post(f"/fhir/Patient/{PATIENT}/$hold", json=past), 422)["issue"][0]["code"]
        == "business-rule"
    )
    client.post(f"/fhir/Patient/{PATIENT}/$unenroll")
    _outcome(client.post(f"/fhir/Patient/{PATIENT}/$hold", json=until), 409)
    _outcome(client.post(f"/fhir/Patient/{PATIENT}/$resume"), 409)
    _outcome(client.post(f"/fhir/Patient/{PATIENT}/$sync"), 409)
    again = _enroll(client)  # enrolling again reactivates
    assert resources_of(again, "CarePlan")[0]["status"] == "active"


def test_if_match_guards_against_lost_updates(client: TestClient) -> None:
    _enroll(client)
    version = _careplan(client)["meta"]["versionId"]
    until = parameters({"name": "until", "valueDate": "2026-12-24"})
    stale = {"If-Match": 'W/"99"'}
    _outcome(client.post(f"/fhir/Patient/{PATIENT}/$hold", json=until, headers=stale), 412)
    current = {"If-Match": f'W/"{version}"'}
    assert (
        client.post(f"/fhir/Patient/{PATIENT}/$hold", json=until, headers=current).status_code
        == 200
    )


def test_plan_previews_without_storing(client: TestClient) -> None:
    response = client.post(f"/fhir/Patient/{PATIENT}/$plan", json=enroll_body(PATIENT))
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "transaction"
    assert bundle["entry"][0]["request"]["method"] == "PUT"
    assert client.get("/fhir/CarePlan", params={"_summary": "count"}).json()["total"] == 0
    _outcome(client.post("/fhir/Patient/unknown/$plan"), 422)


def test_sync_replans_from_new_data(client: TestClient) -> None:
    _enroll(client)
    before = _careplan(client)
    bundle = data_bundle(PATIENT)
    stopped = copy.deepcopy(bundle)
    orders = [
        e["resource"]
        for e in stopped["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    ]
    for order in orders:
        order["status"] = "stopped"
    response = client.post(
        f"/fhir/Patient/{PATIENT}/$sync", json=parameters({"name": "resource", "resource": stopped})
    )
    assert response.status_code == 200, response.text
    after = _careplan(client)
    assert int(after["meta"]["versionId"]) == int(before["meta"]["versionId"]) + 1
    assert all(a.get("detail", {}).get("status") != "scheduled" for a in after.get("activity", []))
    # the Appointment the new plan no longer has is cancelled, not left behind
    appointments = resources_of(client.get("/fhir/Appointment", params={"patient": PATIENT}).json())
    assert [a["status"] for a in appointments] == ["cancelled"]
    # without new data, $sync re-plans from what was stored: nothing changes
    assert client.post(f"/fhir/Patient/{PATIENT}/$sync").status_code == 200
    assert _careplan(client)["meta"]["versionId"] == after["meta"]["versionId"]
    _outcome(client.post("/fhir/Patient/nobody/$sync"), 404)


def test_bad_parameters_are_400(client: TestClient) -> None:
    url = f"/fhir/Patient/{PATIENT}/$enroll"
    _outcome(client.post(url, content=b"{not json"), 400)
    _outcome(client.post(url, json={"resourceType": "Patient"}), 400)
    misspelt = _outcome(
        client.post(url, json=parameters({"name": "anchorday", "valueInteger": 3})), 400
    )
    assert "anchorday" in misspelt["issue"][0]["diagnostics"]
    _outcome(client.post(url, json=parameters({"name": "cycleDays", "valueString": "30"})), 400)
    _outcome(
        client.post(url, json=parameters({"name": "pharmacy", "valueString": "Patient/x"})), 400
    )
    _outcome(
        client.post(url, json=parameters({"name": "closedDays", "valueCode": "caturday"})), 400
    )
    _outcome(client.post("/fhir/Patient/bad$id/$enroll", json=parameters()), 400)


def test_unusable_values_and_resources_are_422(client: TestClient) -> None:
    url = f"/fhir/Patient/{PATIENT}/$enroll"
    _outcome(client.post(url, json=parameters({"name": "cycleDays", "valueInteger": 45})), 422)
    _outcome(client.post(url, json=parameters({"name": "anchorDay", "valueInteger": 40})), 422)
    everyone_closed = {"name": "closedDays", "valueCode": "mon,tue,wed,thu,fri,sat,sun"}
    _outcome(client.post(url, json=parameters(everyone_closed)), 422)
    broken = copy.deepcopy(data_bundle(PATIENT))
    order = next(
        e["resource"]
        for e in broken["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    )
    order["status"] = "sideways"
    other = copy.deepcopy(data_bundle(demo_patients()[1]))
    outcome = _outcome(
        client.post(
            url,
            json=parameters(
                {"name": "resource", "resource": broken}, {"name": "resource", "resource": other}
            ),
        ),
        422,
    )
    messages = [issue["diagnostics"] for issue in outcome["issue"]]
    assert any(
        "MedicationRequest.status" in str(issue.get("expression")) for issue in outcome["issue"]
    )
    assert any("another patient" in message for message in messages)
    assert client.get("/fhir/CarePlan", params={"_summary": "count"}).json()["total"] == 0


def test_live_endpoints_without_the_sync_service_are_501(client: TestClient) -> None:
    body = parameters({"name": "ehrEndpoint", "valueUrl": "http://ehr.test/fhir"})
    outcome = _outcome(client.post(f"/fhir/Patient/{PATIENT}/$enroll", json=body), 501)
    assert "resource" in outcome["issue"][0]["diagnostics"]


def test_enrolling_an_unknown_patient_with_nothing_to_plan_is_a_422_storing_nothing(
    client: TestClient, engine: Engine
) -> None:
    body = parameters({"name": "payer", "valueReference": {"reference": "Organization/acme"}})
    outcome = _outcome(client.post("/fhir/Patient/pt-typo-404/$enroll", json=body), 422)
    assert "nothing could be planned" in outcome["issue"][0]["diagnostics"]
    assert "nothing was stored" in outcome["issue"][0]["diagnostics"]
    found = client.get("/fhir/CarePlan", params={"patient": "pt-typo-404"}).json()
    assert resources_of(found, "CarePlan") == []
    assert client.get("/fhir/Patient/pt-typo-404").status_code == 404
    groups = client.get("/fhir/Group", params={"managing-entity": "Organization/acme"}).json()
    assert resources_of(groups, "Group") == []
    assert _outbox(engine) == []
    # An enrolled patient may be enrolled again without resources (its terms change).
    _enroll(client)
    again = client.post(
        f"/fhir/Patient/{PATIENT}/$enroll",
        json=parameters({"name": "cycleDays", "valueInteger": 28}),
    )
    assert again.status_code == 200, again.text


def test_enroll_takes_the_pharmacy_time_zone_and_pickup_hours(client: TestClient) -> None:
    zone = {"name": "timeZone", "valueCode": "America/Los_Angeles"}
    hours = {"name": "pickupHours", "valueString": "11:00-19:00"}
    result = _enroll(client, PATIENT, zone, hours)
    [appointment] = resources_of(result, "Appointment")
    day = appointment["start"][:10]
    # Los Angeles: PST (UTC-8) from early November to early March, PDT (UTC-7) in between.
    month = int(day[5:7])
    offsets = {"-08:00"} if month in (12, 1, 2) else {"-07:00"} if 4 <= month <= 10 else None
    assert appointment["start"][:19] == f"{day}T11:00:00"
    assert appointment["start"][19:] in (offsets or {"-07:00", "-08:00"})
    assert appointment["end"].startswith(f"{day}T19:00:00")
    assert appointment["minutesDuration"] == 480
    # Enrolling again without them keeps them; a bad zone is a 422.
    again = _enroll(client, PATIENT)
    assert resources_of(again, "Appointment")[0]["start"] == appointment["start"]
    bad = parameters({"name": "timeZone", "valueCode": "Pacific"})
    outcome = _outcome(client.post(f"/fhir/Patient/{PATIENT}/$enroll", json=bad), 422)
    assert "IANA" in outcome["issue"][0]["diagnostics"]


def test_enroll_keeps_the_dispensing_rule_settings(client: TestClient, engine: Engine) -> None:
    from fhir_sync.store.enrollments import get_enrollment

    _enroll(
        client,
        PATIENT,
        {"name": "windowDays", "valueInteger": 1},
        {"name": "refillThreshold", "valueDecimal": 0.75},
        {"name": "formThreshold", "valueString": "ophthalmic=0.70"},
        {"name": "dailyLimit", "valueInteger": 0},
    )
    _enroll(client, PATIENT, {"name": "toleranceDays", "valueInteger": 2})
    with read_transaction(engine) as connection:
        enrollment = get_enrollment(connection, PATIENT)
    assert enrollment is not None and enrollment.fill_settings is not None
    stored = orjson.loads(enrollment.fill_settings)
    assert stored == {
        "daily_limit": 0,
        "form_thresholds": {"ophthalmic": "7/10"},
        "refill_threshold": "3/4",
        "tolerance_days": 2,
        "window_days": 1,
    }
    bad = client.post(
        f"/fhir/Patient/{PATIENT}/$enroll",
        json=parameters({"name": "refillThreshold", "valueDecimal": 0.2}),
    )
    _outcome(bad, 422)


def _oxycodone_bundle(patient_id: str) -> dict:
    """The patient's data plus an active Schedule II order (oxycodone, 1 tablet a day)."""
    bundle = copy.deepcopy(data_bundle(patient_id))
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "oxy-1",
                "status": "active",
                "intent": "order",
                "subject": {"reference": f"Patient/{patient_id}"},
                "authoredOn": "2026-11-01",
                "medicationCodeableConcept": {"text": "oxycodone hydrochloride 5 MG Oral Tablet"},
                "dosageInstruction": [
                    {
                        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                    }
                ],
                "dispenseRequest": {"numberOfRepeatsAllowed": 0},
            }
        }
    )
    return bundle


def _oxycodone_activity(bundle: dict) -> dict:
    careplan = resources_of(bundle, "CarePlan")[0]
    return next(
        a["detail"]
        for a in careplan["activity"]
        if "detail" in a
        and a["detail"]["extension"][0]["valueReference"]["reference"] == "MedicationRequest/oxy-1"
    )


def test_the_controlled_substance_policy_is_an_enroll_and_plan_parameter(
    client: TestClient,
) -> None:
    data = {"name": "resource", "resource": _oxycodone_bundle(PATIENT)}
    skip = {"name": "controlledSubstances", "valueCode": "skip-cii"}
    preview = client.post(f"/fhir/Patient/{PATIENT}/$plan", json=parameters(skip, data))
    assert preview.status_code == 200, preview.text
    left_out = _oxycodone_activity(preview.json())
    assert left_out["status"] == "not-started" and "Schedule II" in left_out["statusReason"]["text"]
    default = client.post(f"/fhir/Patient/{PATIENT}/$plan", json=parameters(data))
    assert _oxycodone_activity(default.json())["status"] == "scheduled"
    enrolled = client.post(f"/fhir/Patient/{PATIENT}/$enroll", json=parameters(skip, data))
    assert enrolled.status_code == 200, enrolled.text
    assert _oxycodone_activity(enrolled.json())["status"] == "not-started"
    # re-planning the enrollment keeps the stored policy
    again = client.post(f"/fhir/Patient/{PATIENT}/$sync", json=parameters(data))
    assert again.status_code == 200, again.text
    assert _oxycodone_activity(again.json())["status"] == "not-started"
    bad = {"name": "controlledSubstances", "valueCode": "sometimes"}
    _outcome(client.post(f"/fhir/Patient/{PATIENT}/$plan", json=parameters(bad, data)), 422)
