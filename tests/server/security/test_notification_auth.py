"""The notification endpoint takes what the API takes: a registered EHR client's access token
(SMART Backend Services), besides the shared notification token; other roles are refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.live_settings import LiveSettings
from tests.server.security.conftest import TokenFor, bearer, make_app, token_fetcher
from tests.server.security.keys import ClientKey

PATH = "/notifications/subscription"
HANDSHAKE = {
    "resourceType": "Bundle",
    "type": "history",
    "entry": [
        {
            "resource": {
                "resourceType": "Parameters",
                "parameter": [{"name": "type", "valueCode": "handshake"}],
            }
        }
    ],
}


def notify(client: TestClient, headers: dict[str, str]) -> int:
    answer = client.post(PATH, json=HANDSHAKE, headers=headers)
    return answer.status_code


@pytest.fixture(params=[None, "shared-s3cret"])
def notified(
    request: pytest.FixtureRequest, engine: Engine, clients: object, rsa: ClientKey
) -> Iterator[tuple[TestClient, TokenFor, str | None]]:
    """The app with tokens enforced, with or without a shared notification token."""
    shared = request.param
    endpoints = EndpointClients(LiveSettings(notification_token=shared))
    with make_app(engine, auth=True, clients=endpoints) as client:
        yield client, token_fetcher(client, rsa), shared


def test_an_ehr_client_token_is_taken(notified: tuple[TestClient, TokenFor, str | None]) -> None:
    client, token_for, _ = notified
    assert notify(client, bearer(token_for("ehr-1", "system/*.rs"))) == 200
    assert notify(client, bearer(token_for("pharmacy-1"))) == 200


def test_other_roles_and_bad_tokens_are_refused(
    notified: tuple[TestClient, TokenFor, str | None],
) -> None:
    client, token_for, shared = notified
    assert notify(client, bearer(token_for("payer-acme", "system/*.rs"))) == 403
    assert notify(client, bearer(token_for("prescriber-1", "system/*.rs"))) == 403
    assert notify(client, bearer("not-a-token")) == 401
    assert notify(client, {}) == 401
    if shared is not None:
        assert notify(client, bearer(shared)) == 200
