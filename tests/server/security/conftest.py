"""Fixtures for the security tests: client keys, registered clients of every role, the app with
tokens enforced, and demo patients enrolled for two payers (and one without a payer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.api.app import create_app
from fhir_sync.services.edge_settings import EdgeSettings
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.store.clients import add_client
from fhir_sync.store.database import write_transaction
from fhir_sync.store.tables import RegisteredClient
from tests.server.api_support import TODAY, demo_patients, enroll_body
from tests.server.databases import empty_tables
from tests.server.security.keys import ClientKey, assertion, ec_key, jwks, rsa_key, token_form

TOKEN_URL = "http://testserver/auth/token"
ACME, OTHER = "Organization/acme", "Organization/other"
PATIENTS = demo_patients()[:5]
# Who pays for whom: two acme members, one of another payer, two without a payer.
PAYERS = {PATIENTS[0]: ACME, PATIENTS[1]: ACME, PATIENTS[2]: OTHER}
ACME_MEMBERS = [p for p, payer in PAYERS.items() if payer == ACME]
NON_MEMBERS = [p for p in PATIENTS if PAYERS.get(p) != ACME]
# client id -> (role, payer)
CLIENTS = {
    "pharmacy-1": ("pharmacy", None),
    "ehr-1": ("ehr", None),
    "prescriber-1": ("prescriber", None),
    "payer-acme": ("payer", ACME),
    "payer-other": ("payer", OTHER),
}


@pytest.fixture(scope="session")
def rsa() -> ClientKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="session")
def ec() -> ClientKey:
    return ec_key("ec-1")


@pytest.fixture(scope="session")
def attacker() -> ClientKey:
    """A key nobody registered, with the kid of a registered one."""
    return rsa_key("rsa-1")


def register(
    engine: Engine, client_id: str, role: str, *keys: ClientKey, payer: str | None = None
) -> None:
    with write_transaction(engine) as connection:
        add_client(
            connection,
            RegisteredClient(
                client_id=client_id,
                role=role,
                jwks=jwks(*keys),
                payer=payer,
                created_at=datetime.now(UTC),
            ),
        )


def register_all(engine: Engine, *keys: ClientKey) -> None:
    for client_id, (role, payer) in CLIENTS.items():
        register(engine, client_id, role, *keys, payer=payer)


@pytest.fixture
def clients(engine: Engine, rsa: ClientKey, ec: ClientKey) -> dict[str, tuple[str, str | None]]:
    """Every client of CLIENTS registered with both keys."""
    register_all(engine, rsa, ec)
    return CLIENTS


#: The tests fetch far more tokens a minute than any client would; test_edge.py tests the limits.
UNLIMITED = EdgeSettings(token_rate_per_client=0, token_rate_per_address=0)


def make_app(
    engine: Engine, *, auth: bool | None, clients: EndpointClients | None = None
) -> TestClient:
    settings = ServerSettings(
        database_url="unused",
        today=TODAY,
        migrate_on_start=False,
        auth_required=auth,
        edge=UNLIMITED,
    )
    app = create_app(settings, engine=engine, clients=clients)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def secure(engine: Engine, clients: object) -> Iterator[TestClient]:
    """The app in-process with tokens required."""
    with make_app(engine, auth=True) as test_client:
        yield test_client


TokenFor = Callable[..., str]


def token_fetcher(client: TestClient, key: ClientKey) -> TokenFor:
    """client id -> an access token from the token endpoint (scope: everything it may have)."""

    def fetch(client_id: str, scope: str = "system/*.cruds") -> str:
        form = token_form(assertion(client_id, key, TOKEN_URL), scope)
        response = client.post("/auth/token", data=form)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return fetch


@pytest.fixture
def token_for(secure: TestClient, rsa: ClientKey) -> TokenFor:
    return token_fetcher(secure, rsa)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enroll_all(client: TestClient, token_for: TokenFor) -> None:
    """PATIENTS enrolled by the pharmacy, with the payers of PAYERS."""
    headers = bearer(token_for("pharmacy-1"))
    for patient_id in PATIENTS:
        extra = []
        if patient_id in PAYERS:
            extra.append({"name": "payer", "valueReference": {"reference": PAYERS[patient_id]}})
        response = client.post(
            f"/fhir/Patient/{patient_id}/$enroll",
            json=enroll_body(patient_id, *extra),
            headers=headers,
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def enrolled(secure: TestClient, token_for: TokenFor) -> TestClient:
    enroll_all(secure, token_for)
    return secure


# Module-scoped variants, for modules whose tests leave the clients and patients as they found
# them: setting up once per module and database instead of once per test saves most of the
# suite's time. Such a module must not mix in tests that empty the database (`engine`).


@contextmanager
def _secure_app(
    engine: Engine, rsa: ClientKey, ec: ClientKey
) -> Iterator[tuple[TestClient, TokenFor]]:
    """An emptied database with every client registered, the app with tokens required on it,
    and the token fetcher."""
    empty_tables(engine)
    register_all(engine, rsa, ec)
    with make_app(engine, auth=True) as client:
        yield client, token_fetcher(client, rsa)


@pytest.fixture(scope="module")
def secure_once(
    backend_engine: Engine, rsa: ClientKey, ec: ClientKey
) -> Iterator[tuple[TestClient, TokenFor]]:
    """`secure` and `token_for`, shared by a module's tests."""
    with _secure_app(backend_engine, rsa, ec) as shared:
        yield shared


@pytest.fixture(scope="module")
def enrolled_once(
    backend_engine: Engine, rsa: ClientKey, ec: ClientKey
) -> Iterator[tuple[TestClient, TokenFor]]:
    """`enrolled` and `token_for`, shared by a module's tests that only read."""
    with _secure_app(backend_engine, rsa, ec) as (client, fetch):
        enroll_all(client, fetch)
        yield client, fetch
