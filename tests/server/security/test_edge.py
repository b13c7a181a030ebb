"""Whom the token endpoint believes: not the Host header (an assertion made for another
server must not be accepted by naming that server as Host), only the token URLs the deployment
declares, and not an unlimited number of requests from one client or address."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.api.app import create_app
from fhir_sync.api.security.jwks import JwksError, JwksFetcher
from fhir_sync.services.edge_settings import EdgeSettings
from fhir_sync.services.server_settings import ServerSettings
from tests.server.api_support import TODAY
from tests.server.security.conftest import TOKEN_URL, bearer
from tests.server.security.keys import ClientKey, assertion, token_form


def app_with(engine: Engine, **edge: object) -> TestClient:
    settings = ServerSettings(
        database_url="unused", today=TODAY, migrate_on_start=False, auth_required=True
    )
    settings = replace(settings, edge=replace(EdgeSettings(), **edge))  # type: ignore[arg-type]
    return TestClient(create_app(settings, engine=engine), raise_server_exceptions=False)


def test_an_assertion_for_the_host_the_caller_names_is_refused(
    secure: TestClient, rsa: ClientKey
) -> None:
    forged_for = "http://other-server.example/auth/token"
    form = token_form(assertion("ehr-1", rsa, forged_for))
    response = secure.post("/auth/token", data=form, headers={"Host": "other-server.example"})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    # Addressed to this server as it listens, the same client gets its token.
    response = secure.post("/auth/token", data=token_form(assertion("ehr-1", rsa, TOKEN_URL)))
    assert response.status_code == 200, response.text


def test_links_do_not_follow_the_host_header(secure: TestClient, rsa: ClientKey) -> None:
    form = token_form(assertion("pharmacy-1", rsa, TOKEN_URL), "system/*.rs")
    token = secure.post("/auth/token", data=form).json()["access_token"]
    headers = {**bearer(token), "Host": "attacker.example"}
    response = secure.get("/fhir/CarePlan", headers=headers)
    assert response.status_code == 200, response.text
    links = [link["url"] for link in response.json()["link"]]
    assert links and all(url.startswith("http://testserver/fhir/") for url in links), links


def test_declared_token_urls_are_accepted_and_no_others(
    engine: Engine, clients: object, rsa: ClientKey
) -> None:
    declared = "https://old-name.example/auth/token"
    with app_with(engine, token_urls=(declared,)) as client:
        for aud, status in (
            (declared, 200),
            (TOKEN_URL, 200),
            ("https://x.example/auth/token", 401),
        ):
            response = client.post("/auth/token", data=token_form(assertion("ehr-1", rsa, aud)))
            assert response.status_code == status, (aud, response.text)


def test_token_requests_are_limited_per_client(
    engine: Engine, clients: object, rsa: ClientKey
) -> None:
    with app_with(engine, token_rate_per_client=5, token_rate_per_address=0) as client:
        answers = [
            client.post("/auth/token", data=token_form(assertion("ehr-1", rsa, TOKEN_URL)))
            for _ in range(6)
        ]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert answers[-1].json()["error"] == "slow_down"
        # Another client from the same address still gets its token.
        other = client.post("/auth/token", data=token_form(assertion("pharmacy-1", rsa, TOKEN_URL)))
        assert other.status_code == 200, other.text


def test_token_requests_are_limited_per_address(
    engine: Engine, clients: object, rsa: ClientKey
) -> None:
    with app_with(engine, token_rate_per_client=0, token_rate_per_address=3) as client:
        statuses = []
        for client_id in ("ehr-1", "pharmacy-1", "prescriber-1", "payer-acme"):
            form = token_form(assertion(client_id, rsa, TOKEN_URL))
            statuses.append(client.post("/auth/token", data=form).status_code)
        assert statuses == [200, 200, 200, 429]


@pytest.fixture
def hanging_jwks() -> Iterator[tuple[str, list[socket.socket]]]:
    """A JWKS URL whose server accepts connections and never answers; the accepted ones."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json", accepted
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_a_hanging_jwks_url_is_fetched_once_and_its_failure_remembered(
    hanging_jwks: tuple[str, list[socket.socket]],
) -> None:
    url, accepted = hanging_jwks
    fetcher = JwksFetcher(timeout=0.5, failure_ttl=30)
    errors: list[str] = []

    def ask() -> None:
        try:
            fetcher.keys(url, want_kid="k")
        except JwksError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 20  # every request refused...
    assert len(accepted) == 1  # ...after one fetch, not twenty waits on the hanging server
    ask()  # and right after, without trying again
    assert len(accepted) == 1
    assert "not retried yet" in errors[-1]
