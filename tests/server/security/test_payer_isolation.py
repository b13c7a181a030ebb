"""A payer sees its own members only, whatever it asks for: reads of anyone else are 404 (as if
they did not exist), and searches, includes, revincludes and Groups leave them out. The payer
comes from the token, so query parameters cannot widen it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fhir_sync.store.search import TOKEN
from tests.server.api_support import resources_of
from tests.server.security.conftest import (
    ACME,
    ACME_MEMBERS,
    NON_MEMBERS,
    PATIENTS,
    TokenFor,
    bearer,
)

JsonObject = dict[str, Any]


@pytest.fixture
def enrolled(enrolled_once: tuple[TestClient, TokenFor]) -> TestClient:
    """These tests only read: they share one enrollment per database."""
    return enrolled_once[0]


@pytest.fixture
def token_for(enrolled_once: tuple[TestClient, TokenFor]) -> TokenFor:
    return enrolled_once[1]


@pytest.fixture
def pharmacy(token_for: TokenFor) -> dict[str, str]:
    return bearer(token_for("pharmacy-1"))


@pytest.fixture
def acme(token_for: TokenFor) -> dict[str, str]:
    return bearer(token_for("payer-acme"))


def _search(client: TestClient, headers: dict[str, str], kind: str, **params: str) -> JsonObject:
    response = client.get(f"/fhir/{kind}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    bundle: JsonObject = response.json()
    return bundle


def _all(client: TestClient, headers: dict[str, str], kind: str, **params: str) -> list[JsonObject]:
    """Every resource of every page (matches and includes)."""
    found: list[JsonObject] = []
    bundle = _search(client, headers, kind, **params)
    while True:
        found += resources_of(bundle)
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return found
        response = client.get(following[0], headers=headers)
        assert response.status_code == 200
        bundle = response.json()


def _patient_of(resource: JsonObject) -> str:
    if resource["resourceType"] == "Patient":
        return str(resource["id"])
    reference = (resource.get("subject") or resource.get("for") or {}).get("reference")
    if reference is None:  # Appointment: the patient is a participant
        actors = [p["actor"]["reference"] for p in resource["participant"]]
        reference = next(a for a in actors if a.startswith("Patient/"))
    return str(reference).removeprefix("Patient/")


def _ids_by_patient(client: TestClient, headers: dict[str, str], kind: str) -> dict[str, list[str]]:
    by_patient: dict[str, list[str]] = {}
    for resource in _all(client, headers, kind):
        by_patient.setdefault(_patient_of(resource), []).append(resource["id"])
    return by_patient


@pytest.mark.parametrize("kind", ["CarePlan", "Appointment", "Task", "Patient"])
def test_searches_return_members_only(
    enrolled: TestClient, pharmacy: dict[str, str], acme: dict[str, str], kind: str
) -> None:
    everyone = _ids_by_patient(enrolled, pharmacy, kind)
    assert set(everyone) - set(ACME_MEMBERS), "the test needs non-members with resources"
    seen = _ids_by_patient(enrolled, acme, kind)
    assert set(seen) <= set(ACME_MEMBERS)
    assert seen == {p: ids for p, ids in everyone.items() if p in ACME_MEMBERS}
    # filters naming non-members find nothing, not an error that would confirm they exist
    for patient_id in NON_MEMBERS:
        params = {"_id": patient_id} if kind == "Patient" else {"patient": patient_id}
        assert resources_of(_search(enrolled, acme, kind, **params)) == []
    total = _search(enrolled, acme, kind, _summary="count")["total"]
    assert total == sum(len(ids) for ids in seen.values())


@pytest.mark.parametrize("kind", ["CarePlan", "Appointment", "Task", "Patient"])
def test_reading_a_non_member_is_not_found(
    enrolled: TestClient, pharmacy: dict[str, str], acme: dict[str, str], kind: str
) -> None:
    for patient_id, ids in _ids_by_patient(enrolled, pharmacy, kind).items():
        for resource_id in ids:
            response = enrolled.get(f"/fhir/{kind}/{resource_id}", headers=acme)
            if patient_id in ACME_MEMBERS:
                assert response.status_code == 200
                continue
            missing = enrolled.get(f"/fhir/{kind}/no-such-{kind.lower()}", headers=acme)
            assert response.status_code == missing.status_code == 404
            assert response.json()["resourceType"] == "OperationOutcome"
            assert resource_id == patient_id or patient_id not in response.text
            # identical to a resource that does not exist, apart from the id it was asked for
            assert response.text.replace(resource_id, "X") == missing.text.replace(
                f"no-such-{kind.lower()}", "X"
            )


def test_includes_and_revincludes_leave_non_members_out(
    enrolled: TestClient, pharmacy: dict[str, str], acme: dict[str, str]
) -> None:
    params = {"_include": "CarePlan:activity-reference", "_revinclude": "Task:based-on"}
    everything = _all(enrolled, pharmacy, "CarePlan", **params)
    assert {r["resourceType"] for r in everything} == {"CarePlan", "Appointment", "Task"}
    seen = _all(enrolled, acme, "CarePlan", **params)
    assert {_patient_of(r) for r in seen} == set(ACME_MEMBERS)
    assert {r["resourceType"] for r in seen} >= {"CarePlan", "Appointment"}
    expected = [r for r in everything if _patient_of(r) in ACME_MEMBERS]
    assert sorted(r["id"] for r in seen) == sorted(r["id"] for r in expected)
    # searching by a non-member's Appointment reference includes nothing of theirs
    appointments = [r for r in everything if r["resourceType"] == "Appointment"]
    for appointment in appointments:
        if _patient_of(appointment) in ACME_MEMBERS:
            continue
        bundle = _search(
            enrolled,
            acme,
            "CarePlan",
            **{"activity-reference": f"Appointment/{appointment['id']}"},
            **params,
        )
        assert resources_of(bundle) == []


def test_groups_show_the_payers_own_group_only(
    enrolled: TestClient, pharmacy: dict[str, str], acme: dict[str, str]
) -> None:
    groups = _search(enrolled, pharmacy, "Group")
    assert {g["id"] for g in resources_of(groups)} == {"payer-acme", "payer-other"}
    own = _search(enrolled, acme, "Group")
    assert [g["id"] for g in resources_of(own)] == ["payer-acme"]
    members = [m["entity"]["reference"] for m in resources_of(own)[0]["member"]]
    assert members == [f"Patient/{p}" for p in ACME_MEMBERS]
    asked = _search(enrolled, acme, "Group", **{"managing-entity": "Organization/other"})
    assert resources_of(asked) == []
    assert _search(enrolled, acme, "Group", _id="payer-other").get("entry") is None
    assert enrolled.get("/fhir/Group/payer-acme", headers=acme).status_code == 200
    other = enrolled.get("/fhir/Group/payer-other", headers=acme)
    missing = enrolled.get("/fhir/Group/payer-nobody", headers=acme)
    assert other.status_code == missing.status_code == 404
    exported = enrolled.get(
        "/fhir/Group/payer-other/$export",
        headers={**acme, "Accept": "application/fhir+json", "Prefer": "respond-async"},
    )
    assert exported.status_code == 404
    assert PATIENTS[2] not in other.text + exported.text


def test_the_payer_comes_from_the_token_not_the_request(
    enrolled: TestClient, acme: dict[str, str]
) -> None:
    attempts = [
        {"payer": "Organization/other"},
        {"_security": "Organization/other"},
        {"managing-entity": "Organization/other"},
    ]
    for params in attempts:
        seen = _all(enrolled, acme, "CarePlan", **params)
        assert {_patient_of(r) for r in seen} <= set(ACME_MEMBERS)
    headers = {**acme, "X-Payer": "Organization/other", "X-Forwarded-User": "pharmacy-1"}
    seen = _all(enrolled, headers, "CarePlan")
    assert {_patient_of(r) for r in seen} == set(ACME_MEMBERS)


def test_payers_cannot_run_operations_or_read_the_audit_trail(
    enrolled: TestClient, acme: dict[str, str], token_for: TokenFor
) -> None:
    for operation in ("$enroll", "$unenroll", "$hold", "$resume", "$sync", "$plan"):
        response = enrolled.post(
            f"/fhir/Patient/{NON_MEMBERS[0]}/{operation}",
            json={"resourceType": "Parameters"},
            headers=acme,
        )
        assert response.status_code == 403, operation
    assert enrolled.get("/fhir/AuditEvent", headers=acme).status_code == 403
    # an EHR reads plans but holds no payer filter and no Group access
    ehr = bearer(token_for("ehr-1"))
    assert len(_all(enrolled, ehr, "CarePlan")) == len(PATIENTS)
    assert enrolled.get("/fhir/Group", headers=ehr).status_code == 403
    assert ACME  # the payer the fixtures enroll members for


def test_links_across_payers_never_carry_a_non_member_in(
    enrolled: TestClient, pharmacy: dict[str, str], acme: dict[str, str]
) -> None:
    """Even when stored data links a member's plan to another payer's patient (an
    Appointment reference, a Task based on the plan), includes show only members."""
    plans = {_patient_of(p): p["id"] for p in _all(enrolled, pharmacy, "CarePlan")}
    outsider_appointment = next(
        a["id"] for a in _all(enrolled, pharmacy, "Appointment") if _patient_of(a) in NON_MEMBERS
    )
    outsider_task = next(
        t["id"] for t in _all(enrolled, pharmacy, "Task") if _patient_of(t) in NON_MEMBERS
    )
    member_plan = plans[ACME_MEMBERS[0]]
    links = [
        {
            "resource_type": "CarePlan",
            "resource_id": member_plan,
            "param": "activity-reference",
            "system": "",
            "code": f"Appointment/{outsider_appointment}",
        },
        {
            "resource_type": "Task",
            "resource_id": outsider_task,
            "param": "based-on",
            "system": "",
            "code": f"CarePlan/{member_plan}",
        },
    ]
    engine = enrolled.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(TOKEN.insert(), links)
    try:
        params = {"_include": "CarePlan:activity-reference", "_revinclude": "Task:based-on"}
        everything = _all(enrolled, pharmacy, "CarePlan", _id=member_plan, **params)
        assert {outsider_appointment, outsider_task} <= {r["id"] for r in everything}
        seen = _all(enrolled, acme, "CarePlan", _id=member_plan, **params)
        assert {_patient_of(r) for r in seen} == {ACME_MEMBERS[0]}
    finally:
        with engine.begin() as connection:
            for link in links:
                connection.execute(
                    TOKEN.delete().where(
                        TOKEN.c.resource_type == link["resource_type"],
                        TOKEN.c.resource_id == link["resource_id"],
                        TOKEN.c.code == link["code"],
                    )
                )
