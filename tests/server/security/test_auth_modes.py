"""How `FHIR_SYNC_AUTH` decides whether tokens are needed (auto, on, off), and that every
server process shares the token signing key. Each test starts from an empty database."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine

from fhir_sync.api.security.tokens import RejectedTokenError, TokenKeys, TokenService
from fhir_sync.store.clients import remove_client
from fhir_sync.store.database import write_transaction
from fhir_sync.store.tables import RegisteredClient
from tests.server.api_support import enroll_body
from tests.server.security.conftest import PATIENTS, TokenFor, bearer, make_app, register
from tests.server.security.keys import ClientKey


def _unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_tokens_are_shared_by_every_process(engine: Engine, token_for: TokenFor) -> None:
    """The signing key lives in the database: another app (process) accepts the token."""
    token = token_for("ehr-1")
    with make_app(engine, auth=True) as other_process:
        assert other_process.get("/fhir/CarePlan", headers=bearer(token)).status_code == 200


def test_auto_mode_enforces_tokens_once_a_client_is_registered(
    engine: Engine, rsa: ClientKey
) -> None:
    with make_app(engine, auth=None) as client:
        body = enroll_body(PATIENTS[0])
        assert client.post(f"/fhir/Patient/{PATIENTS[0]}/$enroll", json=body).status_code == 200
        smart = client.get("/.well-known/smart-configuration").json()
        assert smart["fhir_sync_auth_required"] is False
        register(engine, "ehr-1", "ehr", rsa)
        client.app.state.authorizer.directory.reload()  # what a running server does every 5 s
        _unauthorized(client.get("/fhir/CarePlan"))
    with make_app(engine, auth=None) as client:
        _unauthorized(client.get("/fhir/CarePlan"))
        assert client.get("/.well-known/smart-configuration").json()["fhir_sync_auth_required"]
        with write_transaction(engine) as connection:
            remove_client(connection, "ehr-1")
    with make_app(engine, auth=None) as client:
        # removing the last client does not open the API again
        _unauthorized(client.get("/fhir/CarePlan"))


def test_auth_off_admits_everyone_as_the_pharmacy(engine: Engine, rsa: ClientKey) -> None:
    register(engine, "ehr-1", "ehr", rsa)
    with make_app(engine, auth=False) as client:
        assert client.get("/fhir/AuditEvent").status_code == 200
        assert (
            client.get("/.well-known/smart-configuration").json()["fhir_sync_auth_required"]
            is False
        )


def test_auth_on_without_clients_refuses_everything(engine: Engine) -> None:
    with make_app(engine, auth=True) as client:
        _unauthorized(client.get("/fhir/CarePlan"))
        _unauthorized(client.post(f"/fhir/Patient/{PATIENTS[0]}/$enroll", json={}))


def test_a_remembered_token_still_expires(engine: Engine) -> None:
    """Verified tokens are cached per process; the cache honours their expiry."""
    now = [time.time()]
    service = TokenService(TokenKeys(engine), clock=lambda: now[0])
    client = RegisteredClient(
        client_id="ehr-1", role="ehr", jwks="{}", created_at=datetime.now(UTC)
    )
    token = service.issue(client, ("system/CarePlan.rs",), lifetime=60).access_token
    assert service.verify(token).scopes == {"system/CarePlan.rs"}
    assert service.verify(token).client_id == "ehr-1"  # from the cache
    now[0] += 61
    with pytest.raises(RejectedTokenError, match="expired"):
        service.verify(token)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(RejectedTokenError):
        TokenService(TokenKeys(engine), clock=lambda: now[0] - 61).verify(forged)
