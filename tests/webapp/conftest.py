"""The web app over HTTP: the demo database (fixtures/demo enrolled, two users) and a real
HTTP client against the app in-process, or a real `fhir-sync serve` for the browser tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
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


def add_dead_write(engine: Engine) -> None:
    """A write to an EHR that failed for good (HTTP 422), for the Write-back page to retry."""
    from fhir_sync.store.database import write_transaction
    from fhir_sync.store.outbox import OUTBOX

    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        connection.execute(
            OUTBOX.insert().values(
                endpoint="http://ehr.example/fhir",
                patient_id="pt-000005",
                bundle=b"{}",
                state="dead",
                attempts=8,
                next_attempt_at=now,
                last_error="HTTP 422 from the EHR",
                created_at=now,
                updated_at=now,
            )
        )


def add_return_to_stock(engine: Engine, day: date) -> tuple[str, date, int]:
    """A return-to-stock item due on `day` for the first cycle of the first active patient
    with one (the demo has none due on its today): (its id, the cycle's anchor, its fills)."""
    from sqlalchemy import select

    from fhir_sync.engine.cycle import item_id
    from fhir_sync.engine.cycle_types import CycleItem, ItemKind
    from fhir_sync.services.cycle_facts import load_facts
    from fhir_sync.services.cycle_run import new_rows
    from fhir_sync.store import cycle as store
    from fhir_sync.store.database import write_transaction
    from fhir_sync.store.enrollments import ENROLLMENT

    with write_transaction(engine) as connection:
        active = connection.scalars(
            select(ENROLLMENT.c.patient_id).where(ENROLLMENT.c.status == "active")
        ).all()
        states = [(p, store.get_state(connection, p)) for p in sorted(active)]
        patient, facts = next(
            (p, load_facts(s.facts)) for p, s in states if s and load_facts(s.facts).cycles
        )
        cycle = facts.cycles[0]
        kind = ItemKind.RETURN_TO_STOCK
        the_id = item_id(patient, kind, cycle.anchor)
        words = "Not picked up: return to stock and reverse the claims"
        item = CycleItem(the_id, patient, kind, day, cycle.anchor, words, fills=cycle.fills)
        store.insert_new_items(connection, new_rows([item]), datetime.now(UTC))
    return the_id, cycle.anchor, len(cycle.fills)


def add_renewal_follow_up(engine: Engine, kind: str, day: date) -> tuple[str, str, int]:
    """A renewal follow-up item (`renewal-resend` or `renewal-escalate`) due on `day` for the
    first open renewal Task: (the item's id, the Task's id, the Task's version)."""
    import orjson
    from sqlalchemy import select

    from fhir_sync.engine.cycle import item_id
    from fhir_sync.engine.cycle_types import CycleItem, ItemKind
    from fhir_sync.services.cycle_run import new_rows
    from fhir_sync.store import cycle as store
    from fhir_sync.store.database import write_transaction
    from fhir_sync.store.search import RESOURCE

    with write_transaction(engine) as connection:
        tasks = connection.execute(
            select(RESOURCE.c.id, RESOURCE.c.patient_id, RESOURCE.c.body, RESOURCE.c.version_id)
            .where(RESOURCE.c.resource_type == "Task", RESOURCE.c.status == "requested")
            .order_by(RESOURCE.c.id)
        ).all()
        renewal = next(
            t for t in tasks if "MedicationRequest/" in str(orjson.loads(t.body).get("focus"))
        )
        order = orjson.loads(renewal.body)["focus"]["reference"].split("/")[1]
        what = ItemKind(kind)
        the_id = item_id(renewal.patient_id, what, day, order)
        item = CycleItem(the_id, renewal.patient_id, what, day, day, "follow up", order_id=order)
        store.insert_new_items(connection, new_rows([item]), datetime.now(UTC))
    return the_id, str(renewal.id), int(renewal.version_id)
