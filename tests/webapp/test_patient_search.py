"""The patient search (a POST) finds patients through index entries of the stored Patients
(their name words and birth date, mappings/kinds.py lookups), not by reading every Patient;
migration 0011 adds those entries to the Patients stored before it.

Expected patients read off fixtures/demo/Patient.ndjson: Patel is pt-000001 (Debra Kathleen)
and pt-000005 (John Gregory, born 1956-02-29); O'Brien is pt-000009 (Jennifer Mei); Sanchez
is pt-000012 (Andrew Omar) and pt-000016 (Frank Charles); Kathleen is a given name of
pt-000001 and pt-000003 (Lewis)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from fhir_sync.services.indexing import resource_row
from fhir_sync.store.database import open_engine, write_transaction
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.resources import insert_new_resources
from fhir_sync.store.search import TOKEN
from fhir_sync.webapp.pages import search_patients
from mappings.kinds import name_words
from tests.server.conftest import BACKENDS
from tests.server.databases import database
from tests.webapp.conftest import sign_in

FOUND = re.compile(r'href="/app/patients/(pt-\d+)"')


def _ids(
    engine: Engine, name: str = "", born: str = "", pid: str = "", status: str = ""
) -> list[str]:
    return [line.patient_id for line in search_patients(engine, name, born, pid, status)]


def test_name_words_drop_accents_case_and_apostrophes() -> None:
    assert name_words("José O'Neil-Smith") == ["jose", "oneil", "smith"]
    assert name_words("  ÅSA  ") == ["asa"]


def test_each_word_starts_a_word_of_the_name(demo_engine: Engine) -> None:
    assert _ids(demo_engine, "patel") == ["pt-000001", "pt-000005"]
    assert _ids(demo_engine, "PAT jo") == ["pt-000005"]  # Patel, John
    assert _ids(demo_engine, "kath") == ["pt-000001", "pt-000003"]
    assert _ids(demo_engine, "O'Brien") == _ids(demo_engine, "obrien") == ["pt-000009"]
    assert _ids(demo_engine, "atel") == []  # a word's start, not any part of it
    assert _ids(demo_engine, "Nobodyhasthisname") == []


def test_birth_date_id_and_status_narrow_the_search(demo_engine: Engine) -> None:
    assert _ids(demo_engine, born="1956-02-29") == ["pt-000005"]
    assert _ids(demo_engine, "patel", born="1977-05-27") == ["pt-000001"]
    assert _ids(demo_engine, "sanchez", pid="pt-00001") == ["pt-000012", "pt-000016"]
    assert _ids(demo_engine, pid="pt-00002") == ["pt-000020"]
    every = _ids(demo_engine)
    assert len(every) == 20 and every == sorted(every)
    enrolled = set(_ids(demo_engine, status="enrolled"))
    not_enrolled = set(_ids(demo_engine, status="not enrolled"))
    on_hold = set(_ids(demo_engine, status="on hold"))
    assert enrolled | not_enrolled | on_hold == set(every)
    assert not enrolled & not_enrolled and len(not_enrolled) == 2  # the demo unenrolls two


def test_the_search_page_posts_the_form(app_client: TestClient, passwords: dict[str, str]) -> None:
    token = sign_in(app_client, "demo", passwords["demo"])
    answer = app_client.post("/app/patients", data={"csrf": token, "name": "patel john"})
    assert answer.status_code == 200
    assert set(FOUND.findall(answer.text)) == {"pt-000005"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0011_indexes_the_patients_stored_before_it(backend: str, tmp_path: Path) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "pt-900001",
        "name": [{"family": "Núñez", "given": ["Ana", "María"]}],
        "birthDate": "1950-01-31",
    }
    row = resource_row(patient, version_id=1, last_updated=datetime.now(UTC), payer=None)
    with database(backend, tmp_path) as url:
        engine = open_engine(url)
        try:
            upgrade(engine, "0010")
            with write_transaction(engine) as connection:
                insert_new_resources(connection, [row])
                # as stored before 0011: without the lookup entries
                connection.execute(delete(TOKEN).where(TOKEN.c.param.like("lookup:%")))
            assert _ids(engine, "nunez") == []
            upgrade(engine)
            with engine.connect() as connection:
                codes = sorted(
                    connection.scalars(select(TOKEN.c.code).where(TOKEN.c.param.like("lookup:%")))
                )
            assert codes == ["1950-01-31", "ana", "maria", "nunez"]
            assert _ids(engine, "nun maria", born="1950-01-31") == ["pt-900001"]
        finally:
            engine.dispose()


def test_a_stored_patient_carries_its_lookup_entries() -> None:
    row = resource_row(
        {"resourceType": "Patient", "id": "p", "name": [{"text": "Mary-Ann Smith"}]},
        version_id=1,
        last_updated=datetime.now(UTC),
        payer=None,
    )
    assert sorted(code for param, _, code in row.tokens if param == "lookup:name-word") == [
        "ann",
        "mary",
        "smith",
    ]
    assert [code for param, _, code in row.tokens if param == "lookup:birthdate"] == []
