"""`POST /auth/token`: the SMART Backend Services client_credentials grant, on both databases."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.api.app import create_app
from fhir_sync.api.security.jwks import JwksError, JwksFetcher
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.store.clients import add_client, remove_client
from fhir_sync.store.database import write_transaction
from fhir_sync.store.tables import RegisteredClient
from tests.server.api_support import TODAY
from tests.server.security.conftest import TOKEN_URL, bearer, register
from tests.server.security.keys import ClientKey, assertion, jwks, token_form

READS = "system/Appointment.rs system/CarePlan.rs system/Patient.rs system/Task.rs"
PAYER = "system/Appointment.rs system/CarePlan.rs system/Group.rs system/Patient.rs system/Task.rs"
PHARMACY = (
    "system/Appointment.rs system/AuditEvent.rs system/CarePlan.rs system/Communication.rs "
    "system/CommunicationRequest.rs system/Group.rs system/Patient.rus "
    "system/Questionnaire.rs system/QuestionnaireResponse.rs system/Task.rus"
)


@pytest.fixture
def secure(secure_once: tuple[TestClient, object]) -> TestClient:
    """One app and set of clients per database for the whole module (see conftest)."""
    return secure_once[0]


@pytest.fixture
def engine(backend_engine: Engine, secure_once: object) -> Engine:
    """The module's database as `secure_once` set it up, not emptied per test."""
    return backend_engine


def _token(client: TestClient, form: dict[str, str]) -> httpx.Response:
    return client.post("/auth/token", data=form)


def _refused(response: httpx.Response, error: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert "access_token" not in body
    return body


@pytest.mark.parametrize("key_name", ["rsa", "ec"])
def test_rs384_and_es384_assertions_get_a_token(
    secure: TestClient, key_name: str, request: pytest.FixtureRequest
) -> None:
    key: ClientKey = request.getfixturevalue(key_name)
    assert key.alg == {"rsa": "RS384", "ec": "ES384"}[key_name]
    form = token_form(assertion("ehr-1", key, TOKEN_URL), "system/CarePlan.rs system/Task.rs")
    response = _token(secure, form)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 300
    assert body["scope"] == "system/CarePlan.rs system/Task.rs"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "ehr-1" and claims["role"] == "ehr"
    assert claims["exp"] - time.time() <= 300
    api = secure.get("/fhir/CarePlan", headers=bearer(body["access_token"]))
    assert api.status_code == 200, api.text


def test_a_replayed_assertion_is_refused(secure: TestClient, rsa: ClientKey) -> None:
    signed = assertion("ehr-1", rsa, TOKEN_URL)
    assert _token(secure, token_form(signed)).status_code == 200
    body = _refused(_token(secure, token_form(signed)), "invalid_client", 401)
    assert "jti" in body["error_description"]
    # the same jti in a new assertion is a replay too
    again = assertion(
        "ehr-1", rsa, TOKEN_URL, jti=jwt.decode(signed, options={"verify_signature": False})["jti"]
    )
    _refused(_token(secure, token_form(again)), "invalid_client", 401)


def test_replays_are_refused_by_every_process_sharing_the_database(
    secure: TestClient, engine: Engine, rsa: ClientKey
) -> None:
    """A second app (another server process) on the same database knows the jti."""
    signed = assertion("ehr-1", rsa, TOKEN_URL)
    assert _token(secure, token_form(signed)).status_code == 200
    settings = ServerSettings(database_url="unused", today=TODAY, migrate_on_start=False)
    with TestClient(create_app(settings, engine=engine)) as other_process:
        _refused(_token(other_process, token_form(signed)), "invalid_client", 401)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"aud": "https://elsewhere.example/auth/token"}, "aud"),
        ({"aud": "http://testserver/fhir"}, "aud"),
        ({"lifetime": -120}, "expired"),
        ({"lifetime": 3600}, "5 minutes"),
        ({"claims": {"sub": "pharmacy-1"}}, "sub"),
        ({"claims": {"jti": None}}, "claims"),
        ({"claims": {"exp": None}}, "claims"),
        ({"headers": {"kid": "unknown-kid"}}, "kid"),
        ({"headers": {"jku": "https://keys.example/jwks"}}, "jku"),
    ],
)
def test_a_wrong_assertion_is_an_invalid_client(
    secure: TestClient, rsa: ClientKey, change: dict[str, Any], fragment: str
) -> None:
    change = dict(change)
    aud = change.pop("aud", TOKEN_URL)
    claims = change.get("claims")
    if claims:
        change["claims"] = {k: v for k, v in claims.items() if v is not None}
    signed = assertion("ehr-1", rsa, aud, **change)
    if claims and None in claims.values():  # a required claim left out
        payload = jwt.decode(signed, options={"verify_signature": False})
        for name, value in claims.items():
            if value is None:
                payload.pop(name)
        signed = jwt.encode(payload, rsa.private, algorithm="RS384", headers={"kid": rsa.kid})
    body = _refused(_token(secure, token_form(signed)), "invalid_client", 401)
    assert fragment in body["error_description"]


def test_an_unknown_or_removed_client_is_refused(
    secure: TestClient, engine: Engine, rsa: ClientKey
) -> None:
    _refused(_token(secure, token_form(assertion("nobody", rsa, TOKEN_URL))), "invalid_client", 401)
    register(engine, "leaving", "ehr", rsa)
    assert _token(secure, token_form(assertion("leaving", rsa, TOKEN_URL))).status_code == 200
    with write_transaction(engine) as connection:
        assert remove_client(connection, "leaving")
    signed = assertion("leaving", rsa, TOKEN_URL)
    _refused(_token(secure, token_form(signed)), "invalid_client", 401)


def test_a_bad_signature_is_refused(
    secure: TestClient, rsa: ClientKey, attacker: ClientKey
) -> None:
    assert attacker.kid == rsa.kid
    forged = assertion("pharmacy-1", attacker, TOKEN_URL)
    body = _refused(_token(secure, token_form(forged)), "invalid_client", 401)
    assert "signature" in body["error_description"]
    # a valid assertion with its payload swapped for another client's
    genuine = assertion("ehr-1", rsa, TOKEN_URL)
    other = assertion("pharmacy-1", attacker, TOKEN_URL)
    spliced = ".".join([genuine.split(".")[0], other.split(".")[1], genuine.split(".")[2]])
    _refused(_token(secure, token_form(spliced)), "invalid_client", 401)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256"])
def test_other_algorithms_are_refused(secure: TestClient, rsa: ClientKey, alg: str) -> None:
    claims = jwt.decode(assertion("ehr-1", rsa, TOKEN_URL), options={"verify_signature": False})
    if alg == "none":
        signed = jwt.encode(claims, None, algorithm="none", headers={"kid": rsa.kid})
    elif alg == "HS256":  # the public key used as an HMAC secret: the classic confusion
        secret = str(rsa.public_jwk["n"]).encode()
        signed = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": rsa.kid})
    else:
        signed = jwt.encode(claims, rsa.private, algorithm="RS256", headers={"kid": rsa.kid})
    _refused(_token(secure, token_form(signed)), "invalid_client", 401)


@pytest.mark.parametrize(
    ("role_client", "requested", "granted"),
    [
        ("ehr-1", "system/*.cruds", READS),
        ("prescriber-1", "system/*.read", READS),
        ("payer-acme", "system/*.rs", PAYER),
        (
            "ehr-1",
            "system/CarePlan.cruds system/Patient.u system/AuditEvent.rs",
            "system/CarePlan.rs",
        ),
        ("ehr-1", "system/CarePlan.r launch openid user/*.rs", "system/CarePlan.r"),
        (
            "pharmacy-1",
            "system/Patient.cruds system/AuditEvent.s",
            "system/AuditEvent.s system/Patient.rus",
        ),
        ("pharmacy-1", "system/*.*", PHARMACY),
    ],
)
def test_granted_scopes_are_requested_and_allowed(
    secure: TestClient, rsa: ClientKey, role_client: str, requested: str, granted: str
) -> None:
    response = _token(secure, token_form(assertion(role_client, rsa, TOKEN_URL), requested))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == granted


@pytest.mark.parametrize(
    "requested",
    ["system/Patient.u", "system/AuditEvent.rs", "system/Observation.rs", "patient/*.rs"],
)
def test_nothing_allowed_is_an_invalid_scope(
    secure: TestClient, rsa: ClientKey, requested: str
) -> None:
    response = _token(secure, token_form(assertion("ehr-1", rsa, TOKEN_URL), requested))
    _refused(response, "invalid_scope", 400)


@pytest.mark.parametrize(
    ("form_change", "error"),
    [
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": None}, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:example:other"}, "invalid_client"),
        ({"client_assertion": ""}, "invalid_request"),
        ({"client_assertion": "not.a.jwt"}, "invalid_client"),
        ({"scope": ""}, "invalid_scope"),
        ({"client_id": "pharmacy-1"}, "invalid_client"),
    ],
)
def test_malformed_requests(
    secure: TestClient, rsa: ClientKey, form_change: dict[str, str | None], error: str
) -> None:
    form = token_form(assertion("ehr-1", rsa, TOKEN_URL))
    for name, value in form_change.items():
        if value is None:
            form.pop(name)
        else:
            form[name] = value
    _refused(_token(secure, form), error, 401 if error == "invalid_client" else 400)


def test_the_form_must_be_a_single_urlencoded_form(secure: TestClient, rsa: ClientKey) -> None:
    form = token_form(assertion("ehr-1", rsa, TOKEN_URL))
    _refused(secure.post("/auth/token", json=form), "invalid_request", 400)
    repeated = httpx.QueryParams(form).add("scope", "system/*.cruds")
    response = secure.post(
        "/auth/token",
        content=str(repeated),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _refused(response, "invalid_request", 400)
    huge = {**form, "padding": "x" * 20_000}
    _refused(_token(secure, huge), "invalid_request", 400)


def test_a_client_publishing_its_keys_at_a_url(
    engine: Engine, secure: TestClient, rsa: ClientKey
) -> None:
    url = "https://keys.example/jwks.json"
    with write_transaction(engine) as connection:
        client = RegisteredClient(
            client_id="ehr-url", role="ehr", jwks_url=url, created_at=datetime.now(UTC)
        )
        add_client(connection, client)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url).respond(200, text=jwks(rsa))
        for _ in range(2):
            response = _token(secure, token_form(assertion("ehr-url", rsa, TOKEN_URL)))
            assert response.status_code == 200, response.text
        assert route.call_count == 1  # cached


def test_jwks_urls_are_cached_and_refetched_for_a_new_kid(rsa: ClientKey, ec: ClientKey) -> None:
    url = "https://keys.example/jwks.json"
    now = [1000.0]
    fetcher = JwksFetcher(ttl=300, min_refetch=10, clock=lambda: now[0])
    with respx.mock as mock:
        route = mock.get(url).respond(200, text=jwks(rsa))
        assert [k["kid"] for k in fetcher.keys(url, want_kid=rsa.kid)] == [rsa.kid]
        route.respond(200, text=jwks(rsa, ec))  # the client adds a key
        assert len(fetcher.keys(url, want_kid=ec.kid)) == 1  # too soon to refetch
        now[0] += 11
        assert len(fetcher.keys(url, want_kid=ec.kid)) == 2  # an unknown kid refetches
        assert len(fetcher.keys(url, want_kid=rsa.kid)) == 2
        assert route.call_count == 2
        now[0] += 301
        route.respond(500)
        with pytest.raises(JwksError, match="HTTP 500"):
            fetcher.keys(url)
        with pytest.raises(JwksError, match="HTTP 500"):
            fetcher.keys(url)  # the failure is remembered: no second fetch yet
        assert route.call_count == 3
        now[0] += 31
        route.respond(
            200, text='{"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB", "e": "AQAB", "d": "AQ"}]}'
        )
        with pytest.raises(JwksError, match="private"):
            fetcher.keys(url)
    with pytest.raises(JwksError, match="https"):
        JwksFetcher().keys("http://keys.example/jwks.json")
