"""An enrolled population for the server benchmark, written straight into the database.

Planning a patient through datagen, mappings and the engine costs about 11 ms, so 100,000 of
them would take 18 minutes of one core, and the benchmark measures serving, not planning. So a
few thousand template patients are planned for real, and the population is made of copies
with new patient numbers: the ids the server would give them (UUIDs of their identifiers) are
recomputed, and every occurrence of the old ids is rewritten in the stored bytes, the search
tokens and the columns. The rows go in through the store layer's bulk insert, a thousand
patients per transaction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Final

import orjson
from sqlalchemy import Engine, text

from fhir_sync.datagen import generator, people
from fhir_sync.engine import Preferences
from fhir_sync.services.groups import payer_group_id
from fhir_sync.services.indexing import resource_row
from fhir_sync.services.patient_inputs import gather, plan_for
from fhir_sync.services.plan_resources import (
    ACTIVE,
    apply_enrollment_status,
    resources_from_transaction,
)
from fhir_sync.store.database import is_sqlite, write_transaction
from fhir_sync.store.enrollments import insert_enrollments, touch_payer_group
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.resources import ResourceRow, insert_new_resources
from fhir_sync.store.tables import Enrollment

TODAY: Final = date(2026, 11, 22)
PAYER_TAG: Final = "https://fhir-sync.org/sid/payer"
_CHUNK: Final = 1000


@dataclass(frozen=True, slots=True)
class Template:
    """A planned patient: its stored rows (payer unset) and the identifier of each resource,
    from which a copy's ids are computed."""

    number: int
    rows: tuple[ResourceRow, ...]
    identifiers: tuple[tuple[str, str] | None, ...]  # (system, value) per row; None: Patient


@dataclass(frozen=True, slots=True)
class Population:
    """`patients` patients numbered from 1, spread round-robin over `payers` payers."""

    patients: int
    payers: int
    templates: int = 1000
    seed: int = 1

    def patient_id(self, number: int) -> str:
        return f"pt-{number:06d}"

    def payer(self, number: int) -> str:
        return f"Organization/payer-{(number - 1) % self.payers + 1:03d}"


@dataclass(frozen=True, slots=True)
class LoadReport:
    seconds: float
    resources: int
    careplans: int


def plan_templates(count: int, seed: int, today: date = TODAY) -> list[Template]:
    """`count` patients planned for real, in parallel."""
    numbers = list(range(1, count + 1))
    with ProcessPoolExecutor() as pool:
        return list(pool.map(_template, numbers, [seed] * count, [today] * count, chunksize=50))


def _template(number: int, seed: int, today: date) -> Template:
    pool = people.practitioners(seed)
    lines = generator.patient_lines(seed, number, today, pool, bad_records=False)
    inputs = [orjson.loads(line.data) for line in lines]
    patient = inputs[0]
    data = gather(patient["id"], inputs)
    _, bundle = plan_for(patient["id"], data, today, Preferences(), None)
    resources = resources_from_transaction(bundle)
    apply_enrollment_status(resources, ACTIVE)
    stamp = datetime.combine(today, datetime.min.time(), UTC)
    rows = [resource_row(patient, version_id=1, last_updated=stamp, payer=None)]
    identifiers: list[tuple[str, str] | None] = [None]
    for resource in resources:
        rows.append(resource_row(resource, version_id=1, last_updated=stamp, payer=None))
        first = resource["identifier"][0]
        identifiers.append((first["system"], first["value"]))
    return Template(number, tuple(rows), tuple(identifiers))


def copy_rows(template: Template, number: int, payer: str) -> list[ResourceRow]:
    """The template's rows as patient `number`'s, under `payer`."""
    old_patient = f"pt-{template.number:06d}"
    new_patient = f"pt-{number:06d}"
    renames = [
        (f"mr-{template.number:06d}-", f"mr-{number:06d}-"),
        (old_patient, new_patient),
    ]

    def renamed(value: str) -> str:
        for old, new in renames:
            value = value.replace(old, new)
        return value

    new_ids: list[str] = []
    for identifier in template.identifiers:
        if identifier is None:
            new_ids.append(new_patient)
        else:
            system, value = identifier
            new_ids.append(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{system}|{renamed(value)}")))
    # Ids first (a UUID could happen to contain the patient number), then the numbers.
    id_renames = [(row.id, new) for row, new in zip(template.rows, new_ids, strict=True)]
    all_renames = [*id_renames[1:], *renames]
    copies = []
    for row, new_id in zip(template.rows, new_ids, strict=True):
        body = row.body
        for old, new in all_renames:
            body = body.replace(old.encode(), new.encode())
        tokens = tuple(
            (param, system, _rename_all(code, all_renames)) for param, system, code in row.tokens
        )
        copies.append(
            replace(row, id=new_id, body=body, patient_id=new_patient, payer=payer, tokens=tokens)
        )
    return copies


def _rename_all(value: str, renames: Sequence[tuple[str, str]]) -> str:
    for old, new in renames:
        value = value.replace(old, new)
    return value


def patient_rows(
    population: Population, templates: Sequence[Template], numbers: range
) -> Iterator[tuple[int, list[ResourceRow]]]:
    for number in numbers:
        template = templates[(number - 1) % len(templates)]
        yield number, copy_rows(template, number, population.payer(number))


def load_population(
    engine: Engine, population: Population, templates: Sequence[Template]
) -> LoadReport:
    """Migrate, then insert every patient's enrollment and plan; analyze for the planner."""
    upgrade(engine)
    start = time.perf_counter()
    now = datetime.now(UTC)
    resources = careplans = 0
    for first in range(1, population.patients + 1, _CHUNK):
        numbers = range(first, min(first + _CHUNK, population.patients + 1))
        rows: list[ResourceRow] = []
        enrollments = []
        for number, copied in patient_rows(population, templates, numbers):
            rows.extend(copied)
            enrollments.append(
                Enrollment.model_construct(  # generated, known valid: skip validation
                    patient_id=population.patient_id(number),
                    status=ACTIVE,
                    payer=population.payer(number),
                    enrolled_at=now,
                    updated_at=now,
                )
            )
        with write_transaction(engine) as connection:
            insert_new_resources(connection, rows)
            insert_enrollments(connection, enrollments)
        resources += len(rows)
        careplans += sum(1 for row in rows if row.resource_type == "CarePlan")
    with write_transaction(engine) as connection:
        for number in range(1, min(population.payers, population.patients) + 1):
            payer = population.payer(number)
            touch_payer_group(connection, payer, payer_group_id(payer), now)
    _analyze(engine)
    return LoadReport(time.perf_counter() - start, resources, careplans)


def _analyze(engine: Engine) -> None:
    """The steady state of a database that has been running for a while: planner statistics
    (PostgreSQL's autovacuum, SQLite's `PRAGMA optimize`), on PostgreSQL a vacuum (else the
    insert-triggered autovacuum of the fresh table runs during the measurements), on SQLite a
    checkpoint so that the WAL starts empty."""
    if is_sqlite(engine):
        with write_transaction(engine) as connection:
            connection.execute(text("ANALYZE"))
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").close()
        return
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.exec_driver_sql("VACUUM (ANALYZE)")


def peer_careplans(
    population: Population, templates: Sequence[Template]
) -> Iterator[dict[str, Any]]:
    """The same CarePlans for the peer, tagged with their payer (the peer has no enrollments,
    so a payer's plans are found by `_tag`)."""
    for number, rows in patient_rows(population, templates, range(1, population.patients + 1)):
        for row in rows:
            if row.resource_type != "CarePlan":
                continue
            plan = orjson.loads(row.body)
            payer = population.payer(number).removeprefix("Organization/")
            plan["meta"] = {"tag": [{"system": PAYER_TAG, "code": payer}]}
            yield plan
