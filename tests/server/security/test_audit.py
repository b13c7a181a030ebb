"""The audit trail: an AuditEvent for every access to patient data (reads, searches,
operations, refusals), per patient disclosed, searchable by the pharmacy only; no patient
data in the logs."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from fhir_sync.api.audit import AuditWriter
from fhir_sync.store.audit import AUDIT
from mappings.validation import validate_resource
from tests.server.api_support import break_reads_by_id, resources_of
from tests.server.security.conftest import (
    ACME_MEMBERS,
    NON_MEMBERS,
    PATIENTS,
    TOKEN_URL,
    TokenFor,
    bearer,
)
from tests.server.security.keys import ClientKey, assertion, token_form

JsonObject = dict[str, Any]


@pytest.fixture
def audited(enrolled: TestClient, token_for: TokenFor) -> tuple[TestClient, TokenFor]:
    """Enrolled patients, and an audit table holding only what the test does from here."""
    engine: Engine = enrolled.app.state.engine  # type: ignore[attr-defined]
    enrolled.app.state.audit.flush()  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(AUDIT.delete())
    return enrolled, token_for


def _events(client: TestClient, token_for: TokenFor, **params: str) -> list[JsonObject]:
    headers = bearer(token_for("pharmacy-1", "system/AuditEvent.rs"))
    events: list[JsonObject] = []
    url: str | None = "/fhir/AuditEvent"
    query: dict[str, str] | None = params
    while url:
        response = client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        events += resources_of(bundle)
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, query = (following[0], None) if following else (None, None)
    # the pharmacy's own AuditEvent searches are audited too; leave them out
    return [e for e in events if e["entity"][0].get("description") != "search AuditEvent"]


def _patients(event: JsonObject) -> list[str]:
    return [
        e["what"]["reference"].removeprefix("Patient/")
        for e in event.get("entity", [])
        if e.get("what", {}).get("reference", "").startswith("Patient/")
    ]


def _agent(event: JsonObject) -> str:
    return str(event["agent"][0]["who"]["identifier"]["value"])


def _query(event: JsonObject) -> str | None:
    for entity in event.get("entity", []):
        if "query" in entity:
            return base64.b64decode(entity["query"]).decode()
    return None


def test_reads_searches_operations_and_refusals_are_audited(
    audited: tuple[TestClient, TokenFor],
) -> None:
    client, token_for = audited
    pharmacy = bearer(token_for("pharmacy-1"))
    ehr, acme = bearer(token_for("ehr-1")), bearer(token_for("payer-acme"))
    plans = {_patient(p): p["id"] for p in resources_of(_get(client, "/fhir/CarePlan", pharmacy))}
    member, outsider = ACME_MEMBERS[0], NON_MEMBERS[0]
    _get(client, f"/fhir/CarePlan/{plans[member]}", ehr)
    _get(client, f"/fhir/Patient/{outsider}", ehr)
    _get(client, "/fhir/CarePlan", ehr, patient=member, _include="CarePlan:activity-reference")
    _get(client, "/fhir/CarePlan", acme)
    assert client.get(f"/fhir/CarePlan/{plans[outsider]}", headers=acme).status_code == 404
    assert client.get("/fhir/Group", headers=ehr).status_code == 403
    held = client.post(
        f"/fhir/Patient/{outsider}/$hold",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "until", "valueDate": "2026-12-31"}],
        },
        headers=pharmacy,
    )
    assert held.status_code == 200, held.text
    client.post(f"/fhir/Patient/{outsider}/$resume", headers=pharmacy)

    by_agent = {agent: _events(client, token_for, agent=agent) for agent in ("ehr-1", "payer-acme")}
    ehr_events = list(reversed(by_agent["ehr-1"]))  # oldest first
    read, patient_read, search, forbidden = ehr_events
    assert (read["action"], read["subtype"][0]["code"], read["outcome"]) == ("R", "read", "0")
    assert read["entity"][0]["what"]["reference"] == f"CarePlan/{plans[member]}"
    assert _patients(read) == [member]
    assert (patient_read["action"], _patients(patient_read)) == ("R", [outsider])
    assert (search["action"], search["subtype"][0]["code"]) == ("E", "search-type")
    assert _patients(search) == [member]  # the CarePlan and its included Appointment
    assert f"patient={member}" in (_query(search) or "")
    assert (forbidden["outcome"], forbidden["outcomeDesc"]) == ("4", "HTTP 403")
    for event in ehr_events:
        assert event["agent"][0]["role"][0]["coding"][0]["code"] == "ehr"
        assert datetime.now(UTC) - _recorded(event) < timedelta(minutes=1)

    payer_events = by_agent["payer-acme"]
    searches = [e for e in payer_events if e["action"] == "E"]
    # one event per member whose plan the search returned, none for anyone else
    assert sorted(p for e in searches for p in _patients(e)) == sorted(ACME_MEMBERS)
    [refused] = [e for e in payer_events if e["action"] == "R"]
    assert (refused["outcome"], refused["outcomeDesc"], _patients(refused)) == ("4", "HTTP 404", [])

    operations = [e for e in _events(client, token_for, agent="pharmacy-1") if e["action"] == "U"]
    assert [op["subtype"][1]["code"] for op in reversed(operations)] == ["$hold", "$resume"]
    assert all(_patients(op) == [outsider] for op in operations)


def test_the_audit_search_filters_and_pages(audited: tuple[TestClient, TokenFor]) -> None:
    client, token_for = audited
    ehr = bearer(token_for("ehr-1"))
    for patient_id in PATIENTS:
        _get(client, f"/fhir/Patient/{patient_id}", ehr)
    assert client.get("/fhir/Patient/nobody", headers=ehr).status_code == 404
    every = _events(client, token_for, agent="ehr-1")
    assert len(every) == len(PATIENTS) + 1
    ids = [int(e["id"]) for e in every]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert _events(client, token_for, agent="ehr-1", _count="2") == every  # paged the same
    assert len(_events(client, token_for, agent="prescriber-1")) == 0
    assert [_patients(e) for e in _events(client, token_for, patient=PATIENTS[1])] == [
        [PATIENTS[1]]
    ]
    assert len(_events(client, token_for, entity=f"Patient/{PATIENTS[2]}")) == 1
    assert len(_events(client, token_for, agent="ehr-1", outcome="4")) == 1
    assert len(_events(client, token_for, agent="ehr-1", action="R,E")) == len(every)
    assert len(_events(client, token_for, agent="ehr-1", action="C")) == 0
    today = datetime.now(UTC).date()
    assert len(_events(client, token_for, agent="ehr-1", date=f"ge{today}")) == len(every)
    tomorrow = today + timedelta(days=1)
    assert _events(client, token_for, agent="ehr-1", date=f"ge{tomorrow}") == []
    since = every[2]["recorded"]  # an instant: the events from then on
    assert len(_events(client, token_for, agent="ehr-1", date=f"ge{since}")) == 3
    headers = bearer(token_for("pharmacy-1", "system/AuditEvent.rs"))
    counted = client.get(
        "/fhir/AuditEvent", params={"agent": "ehr-1", "_summary": "count"}, headers=headers
    )
    assert counted.json()["total"] == len(every)
    read = client.get(f"/fhir/AuditEvent/{every[0]['id']}", headers=headers)
    assert read.status_code == 200 and read.json() == every[0]
    assert client.get("/fhir/AuditEvent/999999999", headers=headers).status_code == 404
    bad = client.get("/fhir/AuditEvent", params={"date": "yesterday"}, headers=headers)
    assert bad.status_code == 400
    strict = {**headers, "Prefer": "handling=strict"}
    assert client.get("/fhir/AuditEvent", params={"bogus": "1"}, headers=strict).status_code == 400


def test_audit_events_are_valid_r4_audit_events(audited: tuple[TestClient, TokenFor]) -> None:
    client, token_for = audited
    ehr = bearer(token_for("ehr-1"))
    _get(client, "/fhir/CarePlan", ehr, status="active")
    _get(client, f"/fhir/Patient/{PATIENTS[0]}", ehr)
    client.get("/fhir/Task/nothing", headers=ehr)
    events = _events(client, token_for, agent="ehr-1")
    assert len(events) >= 3
    for event in events:
        assert validate_resource(event) == [], event


def test_only_the_pharmacy_reads_the_audit_trail(audited: tuple[TestClient, TokenFor]) -> None:
    client, token_for = audited
    for client_id in ("ehr-1", "prescriber-1", "payer-acme"):
        headers = bearer(token_for(client_id))  # everything the role may have
        assert client.get("/fhir/AuditEvent", headers=headers).status_code == 403
        assert client.get("/fhir/AuditEvent/1", headers=headers).status_code == 403
    pharmacy = bearer(token_for("pharmacy-1", "system/AuditEvent.rs"))
    assert client.get("/fhir/AuditEvent", headers=pharmacy).status_code == 200
    assert client.get("/fhir/AuditEvent", headers={}).status_code == 401


def test_refused_tokens_write_nothing_and_metadata_is_not_patient_data(
    audited: tuple[TestClient, TokenFor],
) -> None:
    client, _token_for = audited
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    client.get("/fhir/CarePlan")
    client.get("/fhir/CarePlan", headers=bearer("forged"))
    client.get("/fhir/metadata")
    client.get("/.well-known/smart-configuration")
    client.app.state.audit.flush()  # type: ignore[attr-defined]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AUDIT)).scalar_one() == 0


def test_no_patient_data_in_the_logs(
    audited: tuple[TestClient, TokenFor],
    caplog: pytest.LogCaptureFixture,
    rsa: ClientKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, token_for = audited
    caplog.set_level(logging.DEBUG)
    pharmacy, acme = bearer(token_for("pharmacy-1")), bearer(token_for("payer-acme"))
    for patient_id in PATIENTS:
        client.get(f"/fhir/Patient/{patient_id}", headers=acme)
        client.get("/fhir/CarePlan", params={"patient": patient_id}, headers=pharmacy)
        client.post(
            f"/fhir/Patient/{patient_id}/$hold",
            json={"resourceType": "Parameters"},
            headers=pharmacy,
        )
        client.post(f"/fhir/Patient/{patient_id}/$unenroll", headers=acme)
        client.get("/fhir/CarePlan", params={"patient": patient_id}, headers=bearer("forged"))
    client.post("/auth/token", data=token_form(assertion(PATIENTS[0], rsa, TOKEN_URL)))

    break_reads_by_id(monkeypatch, f"boom for Patient/{PATIENTS[1]}")
    assert client.get(f"/fhir/Patient/{PATIENTS[1]}", headers=pharmacy).status_code == 500
    client.app.state.audit.flush()  # type: ignore[attr-defined]
    server_logs = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert server_logs, "the test must see the server's logs"
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in server_logs)
    for patient_id in PATIENTS:
        assert patient_id not in text


def test_the_writer_batches_flushes_and_survives_database_trouble(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    from fhir_sync.api.audit.access import Access

    def access(n: int) -> Access:
        return Access(
            recorded=datetime.now(UTC),
            client_id="ehr-1",
            role="ehr",
            action="R",
            interaction="read",
            resource_type="Patient",
            resource_id=f"p{n}",
            patient_id=f"p{n}",
            status=200,
        )

    writer = AuditWriter(engine, batch=50, retry=0.01)
    for n in range(120):
        writer.submit(access(n))
    assert writer.flush(10)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AUDIT)).scalar_one() == 120
    # a database that refuses writes: logged (without the patients), retried, given up
    broken = AuditWriter(cast("Engine", _Refusing()), retry=0.01)
    broken.submit(access(1))
    assert broken.flush(5)
    assert any("not audited" in r.getMessage() for r in caplog.records)
    assert not any("p1" in r.getMessage() for r in caplog.records)
    # closing writes what is queued, then refuses more
    closing = AuditWriter(engine)
    closing.submit(access(500))
    closing.close()
    closing.submit(access(501))
    with engine.connect() as connection:
        ids = set(connection.execute(select(AUDIT.c.patient_id)).scalars())
    assert "p500" in ids and "p501" not in ids
    # a full queue drops and says so, rather than growing without bound
    full = AuditWriter(engine, capacity=0)
    full.submit(access(600))
    assert any("queue full" in r.getMessage() for r in caplog.records)


class _Refusing:
    """An engine whose every connection fails."""

    dialect = type("Dialect", (), {"name": "sqlite"})()

    def connect(self) -> None:
        raise ConnectionError("database down")


def _get(client: TestClient, url: str, headers: dict[str, str], **params: str) -> JsonObject:
    response = client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


def _patient(resource: JsonObject) -> str:
    return str(resource["subject"]["reference"]).removeprefix("Patient/")


def _recorded(event: JsonObject) -> datetime:
    return datetime.fromisoformat(event["recorded"].replace("Z", "+00:00"))
