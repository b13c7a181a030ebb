"""Reads and searches over enrolled demo patients, on both databases."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.server.api_support import (
    break_reads_by_id,
    demo_patients,
    enroll_body,
    resources_of,
)

PATIENTS = demo_patients()[:6]
CATEGORY = "https://fhir-sync.org/CodeSystem/care-plan-category|med-sync"
PLAN_SID = "https://fhir-sync.org/sid/sync-plan"


@pytest.fixture
def enrolled(client: TestClient) -> TestClient:
    for patient_id in PATIENTS:
        response = client.post(f"/fhir/Patient/{patient_id}/$enroll", json=enroll_body(patient_id))
        assert response.status_code == 200, response.text
    client.post(f"/fhir/Patient/{PATIENTS[0]}/$unenroll")
    return client


def _search(client: TestClient, kind: str, **params: str) -> dict:
    response = client.get(f"/fhir/{kind}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["type"] == "searchset"
    return bundle


def _ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _total(client: TestClient, kind: str, **params: str) -> int:
    return int(_search(client, kind, _summary="count", **params)["total"])


def test_paging_follows_next_links_through_every_match(enrolled: TestClient) -> None:
    seen: list[str] = []
    url: str | None = "/fhir/CarePlan?_count=4"
    pages = 0
    while url:
        bundle = enrolled.get(url).json()
        seen += _ids(bundle)
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = following[0] if following else None
        pages += 1
    assert pages == 2
    assert len(seen) == len(set(seen)) == len(PATIENTS)
    assert seen == sorted(seen)


def test_next_link_repeats_the_filters(enrolled: TestClient) -> None:
    first = _search(enrolled, "CarePlan", status="active", _count="2")
    [next_url] = [link["url"] for link in first["link"] if link["relation"] == "next"]
    query = parse_qs(urlsplit(next_url).query)
    assert query["status"] == ["active"] and query["_count"] == ["2"]
    second = enrolled.get(next_url).json()
    assert not set(_ids(first)) & set(_ids(second))
    assert _total(enrolled, "CarePlan", status="active") == len(PATIENTS) - 1


def test_filters(enrolled: TestClient) -> None:
    one = PATIENTS[1]
    assert len(_ids(_search(enrolled, "CarePlan", patient=one))) == 1
    assert _ids(_search(enrolled, "CarePlan", subject=f"Patient/{one}")) == _ids(
        _search(enrolled, "CarePlan", patient=one)
    )
    assert _total(enrolled, "CarePlan", patient=f"{PATIENTS[1]},{PATIENTS[2]}") == 2
    assert _total(enrolled, "CarePlan", status="revoked") == 1
    assert _total(enrolled, "CarePlan", status="on-hold") == 0
    assert _total(enrolled, "CarePlan", category=CATEGORY) == len(PATIENTS)
    assert _total(enrolled, "CarePlan", category="other|med-sync") == 0
    assert _total(enrolled, "CarePlan", identifier=f"{PLAN_SID}|{one}") == 1
    assert _total(enrolled, "CarePlan", identifier=one) == 1
    plan_id = _ids(_search(enrolled, "CarePlan", patient=one))[0]
    assert _ids(_search(enrolled, "CarePlan", _id=plan_id)) == [plan_id]
    assert _total(enrolled, "Patient") == len(PATIENTS)
    assert _total(enrolled, "Task", patient=one) == len(
        resources_of(_search(enrolled, "Task", subject=f"Patient/{one}"))
    )


def test_dates_and_last_updated(enrolled: TestClient) -> None:
    everyone = len(PATIENTS)
    # CarePlan.period starts on the plan date (2026-11-22) and is open-ended
    assert _total(enrolled, "CarePlan", date="ge2026-11-22") == everyone
    assert _total(enrolled, "CarePlan", date="gt2027-06") == everyone
    assert _total(enrolled, "CarePlan", date="lt2026-11-22") == 0
    assert _total(enrolled, "CarePlan", date="2026-11-22") == 0  # open-ended: not within a day
    appointments = _total(enrolled, "Appointment")
    assert appointments > 0
    assert _total(enrolled, "Appointment", date="ge2026-11-22") == appointments
    assert _total(enrolled, "Appointment", date="lt2026-11-22") == 0
    assert _total(enrolled, "Appointment", date="2026-11-22T00:00:00Z") == 0
    assert _total(enrolled, "CarePlan", _lastUpdated="gt2000-01-01") == everyone
    assert _total(enrolled, "CarePlan", _lastUpdated="lt2000-01-01") == 0
    assert _total(enrolled, "CarePlan", _lastUpdated="le2999") == everyone


def test_include_and_revinclude(enrolled: TestClient) -> None:
    one = PATIENTS[1]
    bundle = _search(
        enrolled,
        "CarePlan",
        patient=one,
        _include="CarePlan:activity-reference",
        _revinclude="Task:based-on",
    )
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]}
    assert ("CarePlan", "match") in modes
    assert ("Appointment", "include") in modes
    tasks = resources_of(_search(enrolled, "Task", patient=one))
    included_tasks = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    assert len(included_tasks) == len(tasks)
    plan_id = _ids(bundle)[0]
    for task in tasks:
        assert task["basedOn"] == [{"reference": f"CarePlan/{plan_id}"}]
    assert _total(enrolled, "Task", **{"based-on": f"CarePlan/{plan_id}"}) == len(tasks)


def test_unknown_parameters_ignored_unless_strict(enrolled: TestClient) -> None:
    lenient = _search(enrolled, "CarePlan", colour="blue")
    assert "colour" not in lenient["link"][0]["url"]
    assert len(_ids(lenient)) == len(PATIENTS)
    strict = enrolled.get(
        "/fhir/CarePlan", params={"colour": "blue"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    assert strict.json()["resourceType"] == "OperationOutcome"
    include = enrolled.get(
        "/fhir/CarePlan",
        params={"_include": "CarePlan:subject"},
        headers={"Prefer": "handling=strict"},
    )
    assert include.status_code == 400


@pytest.mark.parametrize(
    "params",
    [
        {"status:not": "active"},
        {"date": "sa2026-01-01"},
        {"date": "2026-13-01"},
        {"_lastUpdated": "yesterday"},
        {"_count": "-1"},
        {"_summary": "text"},
        {"patient": "Group/x"},
        {"_cursor": "'; DROP TABLE fhir_resource; --"},
    ],
)
def test_malformed_searches_are_400(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/fhir/CarePlan", params=params)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_injection_in_values_is_just_a_value(enrolled: TestClient) -> None:
    for value in ("x' OR '1'='1", 'x" OR 1=1 --', "%", "_"):
        assert _total(enrolled, "CarePlan", patient=f"Patient/{PATIENTS[1]}") == 1
        assert _total(enrolled, "CarePlan", identifier=value) == 0


def test_read_serves_stored_bytes_with_etag(enrolled: TestClient) -> None:
    plan_id = _ids(_search(enrolled, "CarePlan", patient=PATIENTS[1]))[0]
    response = enrolled.get(f"/fhir/CarePlan/{plan_id}")
    assert response.status_code == 200
    body = response.json()
    assert response.headers["etag"] == f'W/"{body["meta"]["versionId"]}"'
    assert response.headers["last-modified"].endswith("GMT")
    again = enrolled.get(
        f"/fhir/CarePlan/{plan_id}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


def test_errors_are_operation_outcomes(client: TestClient) -> None:
    for url, status in [
        ("/fhir/CarePlan/does-not-exist", 404),
        ("/fhir/Observation/1", 404),
        ("/fhir/Group/nobody", 404),
        ("/fhir/CarePlan/has%20space", 404),
        ("/nowhere", 404),
    ]:
        response = client.get(url)
        assert response.status_code == status, url
        assert response.json()["resourceType"] == "OperationOutcome"
    wrong_method = client.delete("/fhir/CarePlan/x")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["resourceType"] == "OperationOutcome"


def test_a_500_leaks_nothing(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    break_reads_by_id(monkeypatch, "secret: Debra Patel, born 1977-05-27")
    response = client.get("/fhir/CarePlan/x")
    assert response.status_code == 500
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Debra" not in response.text and "RuntimeError" not in response.text
    assert "reference" in outcome["issue"][0]["diagnostics"]


def test_groups(enrolled: TestClient) -> None:
    client = enrolled
    body = enroll_body(
        PATIENTS[2], {"name": "payer", "valueReference": {"reference": "Organization/acme"}}
    )
    assert client.post(f"/fhir/Patient/{PATIENTS[2]}/$enroll", json=body).status_code == 200
    group = client.get("/fhir/Group/payer-acme").json()
    assert [m["entity"]["reference"] for m in group["member"]] == [f"Patient/{PATIENTS[2]}"]
    assert _ids(_search(client, "Group", **{"managing-entity": "Organization/acme"})) == [
        "payer-acme"
    ]
    assert _ids(_search(client, "Group", **{"managing-entity": "Organization/other"})) == []
    assert _total(client, "Group") == 1
    # the payer's resources carry the payer: what payer isolation filters on
    careplan = resources_of(_search(client, "CarePlan", patient=PATIENTS[2]))[0]
    assert careplan["status"] == "active"


def test_metadata_lists_what_is_supported(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {
        "CarePlan",
        "Appointment",
        "Task",
        "CommunicationRequest",
        "Communication",
        "QuestionnaireResponse",
        "Questionnaire",
        "Patient",
        "Group",
        "AuditEvent",
    }
    careplan = {p["name"] for p in resources["CarePlan"]["searchParam"]}
    assert careplan == {
        "_id",
        "_lastUpdated",
        "identifier",
        "patient",
        "subject",
        "status",
        "category",
        "date",
        "activity-reference",
    }
    assert resources["CarePlan"]["searchInclude"] == ["CarePlan:activity-reference"]
    assert resources["CarePlan"]["searchRevInclude"] == ["Task:based-on"]
    operations = {o["name"] for o in resources["Patient"]["operation"]}
    assert operations == {
        "enroll",
        "unenroll",
        "hold",
        "resume",
        "sync",
        "plan",
        "check-in",
        "record-contact",
        "pickup",
    }
    smart = client.get("/.well-known/smart-configuration").json()
    assert smart["token_endpoint"].endswith("/auth/token")


def test_validation_runs_on_writes_only(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    from mappings.validation import validate_resource

    def counting(resource: dict) -> list[str]:
        calls.append(resource["resourceType"])
        return validate_resource(resource)

    client.app.state.enrollment.validate = counting  # type: ignore[attr-defined]
    client.post(f"/fhir/Patient/{PATIENTS[1]}/$enroll", json=enroll_body(PATIENTS[1]))
    written = len(calls)
    assert written >= 2
    plan_id = _ids(_search(client, "CarePlan"))[0]
    client.get(f"/fhir/CarePlan/{plan_id}")
    _search(client, "CarePlan", _include="CarePlan:activity-reference")
    assert len(calls) == written
