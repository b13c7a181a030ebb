"""Database fixtures: every test that takes `engine` runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.api.app import create_app
from fhir_sync.services.server_settings import ServerSettings
from tests.server.api_support import TODAY
from tests.server.databases import database, empty_tables, migrated_engine

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session", params=BACKENDS)
def backend_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database per backend, shared by the session."""
    with database(request.param, tmp_path_factory.mktemp("db")) as url:
        engine = migrated_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def engine(backend_engine: Engine) -> Engine:
    """The session's database, emptied for this test."""
    empty_tables(backend_engine)
    return backend_engine


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    """The app in-process on the test's database, planning as of TODAY."""
    settings = ServerSettings(database_url="unused", today=TODAY, migrate_on_start=False)
    app = create_app(settings, engine=engine)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
