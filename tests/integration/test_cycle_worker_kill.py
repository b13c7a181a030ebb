"""The day's derivation survives a killed worker: a real `fhir-sync worker` process is sent
SIGKILL while it derives the day for thousands of enrollments, started again, and the day ends
with every enrollment's items stored exactly once (SQLite and PostgreSQL).

The enrollments are the cycle benchmark's: the i-th has its pickup i % 30 days after the day.
Expected items from the rules (docs/cycle.md; defaults lead 7, prep 3; the pharmacy closes no
day; an enrollment first seen today starts today): an enrollment whose pickup is k days ahead
(k = 0..29) has today its outreach call when k <= 7 (7 days before, or today when later), its
preparation when k <= 3, and its pickup when k = 0; nothing else.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bench.cycle_bench import START as TODAY
from bench.cycle_bench import enroll_patients
from fhir_sync.services.cycle_run import BATCH
from fhir_sync.store.cycle import ITEM, STATE
from fhir_sync.store.search import RESOURCE
from tests.server.databases import database, migrated_engine

from .server_support import fhir_sync_env, start_process, stopping, wait_until

BACKENDS = ("sqlite", "postgresql")
PATIENTS = 12 * BATCH  # a dozen batches: the kill lands after some and before the last


def _states(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(STATE)).scalar_one())


def _expected() -> Counter[tuple[str, str]]:
    wanted: Counter[tuple[str, str]] = Counter()
    for i in range(PATIENTS):
        k = i % 30
        patient = f"b{i:07d}"
        if k <= 7:
            wanted[(patient, "outreach")] += 1
        if k <= 3:
            wanted[(patient, "prepare")] += 1
        if k == 0:
            wanted[(patient, "pickup")] += 1
    return wanted


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worker_killed_mid_day_loses_and_repeats_nothing(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        engine = migrated_engine(url)
        try:
            enroll_patients(url, PATIENTS)
            env = fhir_sync_env(
                url, FHIR_SYNC_CYCLE_INTERVAL="3600", FHIR_SYNC_TODAY=TODAY.isoformat()
            )
            worker = start_process(tmp_path, "worker-1", ["worker"], env)
            with stopping(worker):
                wait_until(lambda: _states(engine) > 0, 120, "the first batch of the day")
                worker.kill()
            stored = _states(engine)
            # Killed mid-day: some batches stored, not all, and no batch in part (each batch
            # of enrollments is one transaction).
            assert 0 < stored < PATIENTS, worker.log_tail()
            assert stored % BATCH == 0, stored
            again = start_process(tmp_path, "worker-2", ["worker"], env)
            with stopping(again):
                wait_until(lambda: _states(engine) == PATIENTS, 300, "the rest of the day")
            with engine.connect() as connection:
                items = connection.execute(select(ITEM.c.patient_id, ITEM.c.kind, ITEM.c.day)).all()
                derived = set(connection.execute(select(STATE.c.derived_through)).scalars())
                calls = connection.execute(
                    select(func.count())
                    .select_from(RESOURCE)
                    .where(RESOURCE.c.resource_type == "CommunicationRequest")
                ).scalar_one()
            assert derived == {TODAY}
            assert {day for *_, day in items} == {TODAY}
            found = Counter((patient, kind) for patient, kind, _ in items)
            assert found == _expected()
            # Each call's CommunicationRequest is written with its item, once.
            assert calls == sum(1 for (_, kind) in found if kind == "outreach")
        finally:
            engine.dispose()
