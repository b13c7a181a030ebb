"""Hostile search parameters, ids and headers: never a 500, never SQL text or another payer's
members in the answer, and the database intact afterwards."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from fhir_sync.api.audit.search import AUDIT_SEARCH_PARAMS
from fhir_sync.api.search_params import RESULT_PARAMS, SEARCH_PARAMS
from fhir_sync.api.security.scopes import ROLE_SCOPES
from tests.server.api_support import resources_of
from tests.server.security.conftest import ACME_MEMBERS, NON_MEMBERS, PATIENTS, TokenFor, bearer

HOSTILE = [
    "' OR '1'='1",
    "'; DROP TABLE fhir_resource; --",
    '" OR ""="',
    "1) OR (1=1",
    "x' UNION SELECT body FROM fhir_resource --",
    "Patient/x' OR 1=1--",
    "%",
    "_",
    "\\",
    "*",
    "ge2026' OR 1=1",
    "患者",
    "𝕏🙂",  # noqa: RUF001 - a look-alike letter is the point
    "\u202eevil\u202c",
    "\ufeffbom",
    "e\u0301\u0301\u0301",
    "\x00",
    "a\x00b",
    "\x1b[31mred",
    "\r\nX-Injected: 1",
    "a" * 60_000,  # near the longest URL httpx sends
    "x," * 12_000,
    "ge" + "9" * 1000,
    "2026-13-45",
    "system|" + "c" * 5000,
    "|",
    "||",
    "Patient/",
    "/",
    "http://evil.example/Patient/" + NON_MEMBERS[0],
    f"{NON_MEMBERS[0]},{NON_MEMBERS[1]}",
]
# What an error message must never contain: the database's words, or a stack.
LEAKS = ("Traceback", "sqlalchemy", "psycopg", "sqlite", "SELECT", "syntax error", "fhir_resource")


def _check(response: httpx.Response, context: str, members_only: bool, sent: str = "") -> None:
    assert response.status_code < 500, f"{context}: {response.status_code} {response.text[:300]}"
    assert response.status_code in (200, 400, 404), f"{context}: {response.status_code}"
    body: dict[str, Any] = response.json()
    assert body["resourceType"] in ("Bundle", "OperationOutcome"), context
    if body["resourceType"] == "OperationOutcome":
        text = response.text
        leaks = [leak for leak in LEAKS if leak not in sent]  # errors may quote the value
        assert not any(leak in text for leak in leaks), f"{context}: {text[:300]}"
    if members_only and body["resourceType"] == "Bundle":
        for resource in resources_of(body):
            assert not any(p in response.text for p in NON_MEMBERS), context
            assert resource["resourceType"] in SEARCH_PARAMS, context


@pytest.fixture
def payer_client(enrolled_once: tuple[TestClient, TokenFor]) -> tuple[TestClient, dict[str, str]]:
    client, token_for = enrolled_once
    return client, bearer(token_for("payer-acme"))


def _every_parameter() -> list[tuple[str, str, list[str]]]:
    """(type, parameter, values): each parameter name once, on a type that has it, with every
    hostile value where the value reaches SQL as text, and a sample where it is parsed first
    (dates, references, numbers) and rejected before any query."""
    sample = [HOSTILE[i] for i in (0, 1, 11, 16, 19, 20, 21, -1)]
    free_text = ("_id", "identifier", "status", "_include")
    seen: set[str] = set()
    cases = []
    for kind, params in SEARCH_PARAMS.items():
        if kind not in ROLE_SCOPES["payer"]:  # the payer client cannot search it at all
            continue
        for name in [p.name for p in params] + list(RESULT_PARAMS):
            if name not in seen:
                seen.add(name)
                cases.append((kind, name, HOSTILE if name in free_text else sample))
    cases.append(("CarePlan", "patient:Patient", sample))
    cases.append(("CarePlan", "identifier:exact", sample))
    cases.append(("CarePlan", "unknown-param", sample))
    return cases


def test_hostile_search_values_on_every_parameter(
    payer_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = payer_client
    for kind, name, values in _every_parameter():
        for value in values:
            response = client.get(f"/fhir/{kind}", params={name: value}, headers=headers)
            _check(response, f"{kind}?{name}={value[:40]!r}", True, value)
    for name, value in (("identifier", "x"), ("_include", "CarePlan:activity-reference")):
        repeated = [(name, value)] * 1000
        response = client.get("/fhir/CarePlan", params=repeated, headers=headers)
        _check(response, f"{name} repeated", members_only=True)
    strict = client.get(
        "/fhir/CarePlan",
        params={"' OR 1=1 --": "x"},
        headers={**headers, "Prefer": "handling=strict"},
    )
    _check(strict, "strict unknown name", members_only=True)
    assert strict.status_code == 400


def test_hostile_audit_search_values(enrolled_once: tuple[TestClient, TokenFor]) -> None:
    client, token_for = enrolled_once
    headers = bearer(token_for("pharmacy-1", "system/AuditEvent.rs"))
    names = [p.name for p in AUDIT_SEARCH_PARAMS] + ["_count", "_cursor", "_summary"]
    for name in names:
        for value in HOSTILE if name in ("agent", "_cursor") else HOSTILE[::3]:
            response = client.get("/fhir/AuditEvent", params={name: value}, headers=headers)
            _check(response, f"AuditEvent?{name}={value[:40]!r}", False, value)
    repeated = client.get("/fhir/AuditEvent", params=[("agent", "x")] * 1000, headers=headers)
    _check(repeated, "agent repeated", members_only=False)


def test_hostile_ids_in_paths(payer_client: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = payer_client
    for kind in [*SEARCH_PARAMS, "AuditEvent"]:
        for value in HOSTILE:
            response = client.get(f"/fhir/{kind}/{quote(value, safe='')}", headers=headers)
            if kind not in ROLE_SCOPES["payer"]:  # a payer may not, whatever the id (or no route)
                assert response.status_code in (403, 404)
                continue
            # 404, or for "/" (an empty id segment) the search of the payer's own members
            _check(response, f"{kind}/{value[:40]!r}", True, value)
    for value in ("' OR 1=1 --", "a" * 5000, "患者"):
        path = f"/fhir/Patient/{quote(value, safe='')}/$enroll"
        response = client.post(path, json={}, headers=headers)
        assert response.status_code == 403  # a payer may not, whatever the id


def test_hostile_tokens_and_headers(payer_client: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = payer_client
    for token in (b"' OR 1=1 --", b"a" * 60_000, b"a.b.c", b"e30.e30.", b"..", b"\xe9\xff"):
        response = client.get("/fhir/CarePlan", headers={"Authorization": b"Bearer " + token})
        assert response.status_code == 401
        assert response.json()["resourceType"] == "OperationOutcome"
    response = client.get(
        "/fhir/CarePlan", headers={**headers, "Prefer": "handling=strict; ' OR 1=1"}
    )
    _check(response, "Prefer", members_only=True)


def test_the_data_is_intact_afterwards(enrolled_once: tuple[TestClient, TokenFor]) -> None:
    """Runs after the others in this module (same database): nothing was dropped or changed."""
    client, token_for = enrolled_once
    for value in HOSTILE[:6]:
        client.get(
            "/fhir/CarePlan", params={"identifier": value}, headers=bearer(token_for("ehr-1"))
        )
    everything = client.get(
        "/fhir/CarePlan", params={"_summary": "count"}, headers=bearer(token_for("pharmacy-1"))
    )
    assert everything.json()["total"] == len(PATIENTS)
    members = client.get(
        "/fhir/CarePlan", params={"_summary": "count"}, headers=bearer(token_for("payer-acme"))
    )
    assert members.json()["total"] == len(ACME_MEMBERS)
