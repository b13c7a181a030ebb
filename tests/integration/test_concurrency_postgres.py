"""Two `fhir-sync serve` processes on one PostgreSQL database, written to at once.

Phase one enrolls new patients with one request per server released together (the rows do not
exist yet, so nothing can be locked with `SELECT ... FOR UPDATE`), half of them the first
members of one payer and half of another. Phase two runs payer changes, holds and resumes on
the same patients for FHIR_SYNC_CONCURRENCY_SECONDS (default 8 here; the full-length run is
60). Expected: no 5xx at all, no deadlock reported by PostgreSQL, every successful write in
the enrollment's version (no lost update), and exactly one CarePlan per patient whose status
follows the enrollment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from fhir_sync.store.database import read_transaction
from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.search import RESOURCE
from tests.server.databases import migrated_engine, postgres_database

from .concurrent_load import Tally, first_enrollments, mixed_changes
from .server_support import fhir_sync_env, start_server, stopping

SECONDS = float(os.environ.get("FHIR_SYNC_CONCURRENCY_SECONDS", "8"))
PATIENTS = [f"conc-{index:03d}" for index in range(12)]


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    with postgres_database() as url:
        engine = migrated_engine(url)
        yield engine
        engine.dispose()


def deadlocks(engine: Engine) -> int:
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar()
    return int(found or 0)


def test_two_servers_writing_the_same_patients(postgres_engine: Engine, tmp_path: Path) -> None:
    env = fhir_sync_env(
        postgres_engine.url.render_as_string(hide_password=False),
        FHIR_SYNC_MIGRATE_ON_START="0",
        FHIR_SYNC_OUTBOX_WORKERS="0",
    )
    first = start_server(tmp_path, "server-1", env)
    with stopping(first):
        second = start_server(tmp_path, "server-2", env)
        with stopping(second):
            bases = [first.base_url, second.base_url]
            tally = Tally()
            first_enrollments(bases, PATIENTS, tally)
            assert tally.server_errors == 0, tally.failures
            mixed_changes(bases, PATIENTS, SECONDS, tally)

    assert tally.server_errors == 0, tally.failures
    assert set(tally.statuses) == {200}, tally.statuses
    assert deadlocks(postgres_engine) == 0
    with read_transaction(postgres_engine) as connection:
        versions = dict(
            connection.execute(select(ENROLLMENT.c.patient_id, ENROLLMENT.c.version)).all()
        )
        statuses = dict(
            connection.execute(select(ENROLLMENT.c.patient_id, ENROLLMENT.c.status)).all()
        )
        careplans = dict(
            connection.execute(
                select(RESOURCE.c.patient_id, func.count())
                .where(RESOURCE.c.resource_type == "CarePlan")
                .group_by(RESOURCE.c.patient_id)
            ).all()
        )
    # Every patient got two first $enroll answers of 200: one created it (version 1), the
    # other found it and changed it (version 2); every later 200 adds one.
    assert versions == {p: tally.bumps[p] for p in PATIENTS}
    assert careplans == dict.fromkeys(PATIENTS, 1)
    assert set(statuses.values()) == {"active"}  # each holds thread ended with a resume
