"""Every `/fhir` route except metadata needs a valid token with the route's scope: 401 with
`WWW-Authenticate: Bearer` for a missing, expired or forged token, 403 for a missing scope,
always with an OperationOutcome."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.store.clients import remove_client
from fhir_sync.store.database import write_transaction
from fhir_sync.store.token_keys import token_keys
from tests.server.security.conftest import (
    TOKEN_URL,
    TokenFor,
    bearer,
    register,
)
from tests.server.security.keys import ClientKey, assertion

# (method, path, scope it needs): every protected route
ROUTES = [
    ("GET", "/fhir/CarePlan", "CarePlan.s"),
    ("GET", "/fhir/CarePlan/some-id", "CarePlan.r"),
    ("GET", "/fhir/Appointment", "Appointment.s"),
    ("GET", "/fhir/Appointment/some-id", "Appointment.r"),
    ("GET", "/fhir/Task", "Task.s"),
    ("GET", "/fhir/Task/some-id", "Task.r"),
    ("GET", "/fhir/Patient", "Patient.s"),
    ("GET", "/fhir/Patient/some-id", "Patient.r"),
    ("GET", "/fhir/Group", "Group.s"),
    ("GET", "/fhir/Group/payer-acme", "Group.r"),
    ("GET", "/fhir/Group/payer-acme/$export", "Group.r"),
    ("GET", "/fhir/AuditEvent", "AuditEvent.s"),
    ("GET", "/fhir/AuditEvent/1", "AuditEvent.r"),
    ("POST", "/fhir/Patient/some-id/$enroll", "Patient.u"),
    ("POST", "/fhir/Patient/some-id/$unenroll", "Patient.u"),
    ("POST", "/fhir/Patient/some-id/$hold", "Patient.u"),
    ("POST", "/fhir/Patient/some-id/$resume", "Patient.u"),
    ("POST", "/fhir/Patient/some-id/$sync", "Patient.u"),
    ("POST", "/fhir/Patient/some-id/$plan", "Patient.u"),
]


def _call(client: TestClient, method: str, path: str, token: str | None) -> httpx.Response:
    headers = bearer(token) if token is not None else {}
    if method == "POST":
        return client.post(path, json={"resourceType": "Parameters"}, headers=headers)
    return client.get(path, headers=headers)


def _outcome(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return str(outcome["issue"][0]["diagnostics"])


def _unauthorized(response: httpx.Response) -> str:
    diagnostics = _outcome(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    return diagnostics


@pytest.fixture
def secure(secure_once: tuple[TestClient, TokenFor]) -> TestClient:
    """One app and set of clients per database for the whole module (see conftest)."""
    return secure_once[0]


@pytest.fixture
def token_for(secure_once: tuple[TestClient, TokenFor]) -> TokenFor:
    return secure_once[1]


@pytest.fixture
def engine(backend_engine: Engine, secure_once: object) -> Engine:
    """The module's database as `secure_once` set it up, not emptied per test."""
    return backend_engine


def test_every_route_needs_a_token_and_its_scope(secure: TestClient, token_for: TokenFor) -> None:
    assert "error=" not in secure.get("/fhir/CarePlan").headers["www-authenticate"]
    wrong_scopes = {"Patient.u": "system/Patient.rs", "AuditEvent.s": "system/CarePlan.rs"}
    for method, path, scope in ROUTES:
        _unauthorized(_call(secure, method, path, None))
        _unauthorized(_call(secure, method, path, "not-a-token"))
        kind = scope.partition(".")[0]
        wrong = wrong_scopes.get(
            scope, "system/AuditEvent.rs" if kind != "AuditEvent" else "system/Task.rs"
        )
        forbidden = _call(secure, method, path, token_for("pharmacy-1", wrong))
        assert f"system/{scope}" in _outcome(forbidden, 403), path
        assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]
        allowed = _call(secure, method, path, token_for("pharmacy-1", f"system/{kind}.rus"))
        assert allowed.status_code not in (401, 403), f"{path}: {allowed.text}"


def test_metadata_and_smart_configuration_are_open(secure: TestClient) -> None:
    assert secure.get("/fhir/metadata").status_code == 200
    smart = secure.get("/.well-known/smart-configuration")
    assert smart.status_code == 200
    config = smart.json()
    assert config["token_endpoint"] == TOKEN_URL
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["grant_types_supported"] == ["client_credentials"]
    assert "system/Patient.rus" in config["scopes_supported"]
    assert "system/AuditEvent.rs" in config["scopes_supported"]
    assert config["fhir_sync_auth_required"] is True
    security = secure.get("/fhir/metadata").json()["rest"][0]["security"]
    [uris] = security["extension"]
    assert uris["extension"] == [{"url": "token", "valueUri": TOKEN_URL}]


def _tampered(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_expired_and_forged_tokens_are_refused(
    secure: TestClient, engine: Engine, token_for: TokenFor, rsa: ClientKey
) -> None:
    token = token_for("payer-acme", "system/CarePlan.rs")
    assert secure.get("/fhir/CarePlan", headers=bearer(token)).status_code == 200
    with engine.connect() as connection:
        [(kid, secret)] = token_keys(connection)
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())

    def signed(key: bytes | str, alg: str = "HS256", **changes: object) -> str:
        headers = {"kid": kid, "typ": "at+jwt"}
        return jwt.encode({**claims, **changes}, key, algorithm=alg, headers=headers)

    real_key = bytes.fromhex(secret)
    expired = signed(real_key, iat=now - 600, exp=now - 1)
    assert "expired" in _unauthorized(secure.get("/fhir/CarePlan", headers=bearer(expired)))
    forged = [
        signed(b"another secret entirely, 32 bytes!"),  # signed with another key
        signed(real_key, aud="https://elsewhere.example"),  # not for this server
        signed(real_key, iss="https://elsewhere.example"),
        _tampered(token, role="pharmacy", scope="system/*.cruds"),  # claims changed
        _tampered(token, payer="Organization/other"),
        jwt.encode({**claims}, None, algorithm="none", headers={"kid": kid, "typ": "at+jwt"}),
        jwt.encode(claims, rsa.private, algorithm="RS384", headers={"kid": kid}),
        # a client assertion is not an access token
        assertion("pharmacy-1", rsa, TOKEN_URL),
        token.rsplit(".", 1)[0] + ".",  # signature stripped
        "",
    ]
    for bad in forged:
        response = secure.get("/fhir/CarePlan", headers=bearer(bad) if bad else {})
        _unauthorized(response)
    wrong_scheme = secure.get("/fhir/CarePlan", headers={"Authorization": f"Basic {token}"})
    _unauthorized(wrong_scheme)
    # a payer token without its payer would see everyone: refused even when validly signed
    no_payer = dict(claims)
    no_payer.pop("payer")
    headers = {"kid": kid, "typ": "at+jwt"}
    unscoped = jwt.encode(no_payer, real_key, algorithm="HS256", headers=headers)
    _unauthorized(secure.get("/fhir/CarePlan", headers=bearer(unscoped)))


def test_a_removed_clients_tokens_stop_working(
    secure: TestClient, engine: Engine, token_for: TokenFor, rsa: ClientKey
) -> None:
    register(engine, "leaving", "ehr", rsa)
    token = token_for("leaving")
    assert secure.get("/fhir/CarePlan", headers=bearer(token)).status_code == 200
    with write_transaction(engine) as connection:
        assert remove_client(connection, "leaving")
    secure.app.state.authorizer.directory.reload()
    assert "no longer registered" in _unauthorized(
        secure.get("/fhir/CarePlan", headers=bearer(token))
    )


def test_a_client_re_registered_in_another_role_invalidates_old_tokens(
    secure: TestClient, engine: Engine, token_for: TokenFor, rsa: ClientKey
) -> None:
    register(engine, "changing", "payer", rsa, payer="Organization/acme")
    token = token_for("changing")
    assert secure.get("/fhir/CarePlan", headers=bearer(token)).status_code == 200
    with write_transaction(engine) as connection:
        remove_client(connection, "changing")
    register(engine, "changing", "payer", rsa, payer="Organization/other")
    secure.app.state.authorizer.directory.reload()
    _unauthorized(secure.get("/fhir/CarePlan", headers=bearer(token)))
