"""The web app over HTTP: the demo database (fixtures/demo enrolled, two users) and a real
HTTP client against the app in-process, or a real `fhir-sync serve` for the browser tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fhir_sync.api.app import create_app
from fhir_sync.cli.demo import _build
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.store.database import open_engine
from tests.conftest import FIXTURES

TODAY = date(2026, 12, 15)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo database built once; each test copies the file."""
    folder = tmp_path_factory.mktemp("demo")
    import os

    os.environ["FHIR_SYNC_DATA_DIR"] = str(folder)
    try:
        logins = _build(folder, FIXTURES / "demo", TODAY)
    finally:
        del os.environ["FHIR_SYNC_DATA_DIR"]
    (db,) = folder.glob("*.sqlite3")
    return db, {username: password for username, _role, password in logins}


@pytest.fixture
def demo_engine(demo_template: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Engine]:
    source, _ = demo_template
    copy = tmp_path / "demo.db"
    copy.write_bytes(source.read_bytes())
    engine = open_engine(f"sqlite:///{copy}")
    yield engine
    engine.dispose()


@pytest.fixture
def passwords(demo_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return demo_template[1]


@pytest.fixture
def app_client(demo_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("FHIR_SYNC_APP_INSECURE_COOKIES", "1")
    settings = ServerSettings(database_url="unused", today=TODAY, migrate_on_start=False)
    app = create_app(settings, engine=demo_engine)
    with TestClient(app, raise_server_exceptions=True, follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str) -> str:
    """Signs in; returns the session's CSRF token (from the Today page)."""
    page = client.get("/app/login")
    answer = client.post(
        "/app/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password},
    )
    assert answer.status_code == 303, answer.text
    today = client.get("/app/today")
    assert today.status_code == 200
    return csrf_of(today.text)
