"""The reads behind the staff web app's pages: a patient's plan resources, patients with
their enrollment status, the pickups of a day. Bodies come back as the stored JSON bytes."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Table, func, select

from fhir_sync.store.search import RESOURCE
from fhir_sync.store.tables import Enrollment

ENROLLMENT: Table = Enrollment.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PatientRow:
    patient_id: str
    body: bytes | None  # the stored Patient, when there is one
    status: str | None  # the enrollment's status; None: never enrolled
    anchor_date: date | None
    hold_until: date | None


def patient_bodies(
    connection: Connection, patient_id: str, types: Sequence[str]
) -> list[tuple[str, bytes]]:
    """(type, body) of the patient's stored resources of these types."""
    statement = (
        select(RESOURCE.c.resource_type, RESOURCE.c.body)
        .where(RESOURCE.c.patient_id == patient_id, RESOURCE.c.resource_type.in_(types))
        .order_by(RESOURCE.c.resource_type, RESOURCE.c.id)
    )
    return [(str(kind), bytes(body)) for kind, body in connection.execute(statement)]


def _patients_joined() -> tuple[object, ...]:
    return (
        RESOURCE.c.id,
        RESOURCE.c.body,
        ENROLLMENT.c.status,
        ENROLLMENT.c.anchor_date,
        ENROLLMENT.c.hold_until,
    )


def patient_rows(
    connection: Connection, *, after: str | None, limit: int, offset: int = 0
) -> list[PatientRow]:
    """Stored patients in id order (keyset paging by `after`, or `offset`), with their
    enrollment."""
    statement = (
        select(*_patients_joined())  # type: ignore[call-overload]
        .select_from(RESOURCE.outerjoin(ENROLLMENT, ENROLLMENT.c.patient_id == RESOURCE.c.id))
        .where(RESOURCE.c.resource_type == "Patient")
        .order_by(RESOURCE.c.id)
        .limit(limit)
        .offset(offset)
    )
    if after is not None:
        statement = statement.where(RESOURCE.c.id > after)
    return [PatientRow(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in connection.execute(statement)]


def all_patient_rows(connection: Connection) -> list[PatientRow]:
    """Every stored patient: the search filters names in Python (names are inside the JSON)."""
    return patient_rows(connection, after=None, limit=10_000_000)


def status_counts(connection: Connection) -> dict[str, int]:
    rows = connection.execute(
        select(ENROLLMENT.c.status, func.count()).group_by(ENROLLMENT.c.status)
    ).all()
    return {str(status): int(count) for status, count in rows}


def appointments_around(
    connection: Connection, day: date
) -> Generator[tuple[str, bytes], None, None]:
    """(patient id, body) of Appointments starting on `day` in any time zone (UTC-12 to
    UTC+14), by patient (ix_fhir_resource_date finds them); the caller keeps those whose local
    date is `day`. Rows are fetched as the caller iterates, so one that needs only the first
    few stops reading there."""
    low = datetime.combine(day, time(), UTC) - timedelta(hours=14)
    high = datetime.combine(day + timedelta(days=1), time(), UTC) + timedelta(hours=12)
    statement = (
        select(RESOURCE.c.patient_id, RESOURCE.c.body)
        .where(
            RESOURCE.c.resource_type == "Appointment",
            RESOURCE.c.date_start >= low,
            RESOURCE.c.date_start < high,
        )
        .order_by(RESOURCE.c.patient_id)
    )
    result = connection.execute(statement)
    try:
        for pid, body in result:
            yield str(pid), bytes(body)
    finally:
        result.close()


def patient_bodies_by_id(connection: Connection, patient_ids: Sequence[str]) -> dict[str, bytes]:
    """The stored Patients of these ids, in one query per 500 ids."""
    found: dict[str, bytes] = {}
    ids = sorted(set(patient_ids))
    for first in range(0, len(ids), 500):
        statement = select(RESOURCE.c.id, RESOURCE.c.body).where(
            RESOURCE.c.resource_type == "Patient", RESOURCE.c.id.in_(ids[first : first + 500])
        )
        found.update((str(pid), bytes(body)) for pid, body in connection.execute(statement))
    return found


def plan_bodies_by_patient(
    connection: Connection, patient_ids: Sequence[str]
) -> dict[str, list[tuple[str, bytes]]]:
    """The CarePlans of these patients (each patient's by id), in one query per 500 ids."""
    found: dict[str, list[tuple[str, bytes]]] = {}
    ids = sorted(set(patient_ids))
    for first in range(0, len(ids), 500):
        statement = (
            select(RESOURCE.c.patient_id, RESOURCE.c.body)
            .where(
                RESOURCE.c.resource_type == "CarePlan",
                RESOURCE.c.patient_id.in_(ids[first : first + 500]),
            )
            .order_by(RESOURCE.c.patient_id, RESOURCE.c.id)
        )
        for pid, body in connection.execute(statement):
            found.setdefault(str(pid), []).append(("CarePlan", bytes(body)))
    return found


def patient_body(connection: Connection, patient_id: str) -> bytes | None:
    row = connection.execute(
        select(RESOURCE.c.body).where(
            RESOURCE.c.resource_type == "Patient", RESOURCE.c.id == patient_id
        )
    ).first()
    return bytes(row[0]) if row is not None else None


def open_renewal_tasks(connection: Connection, limit: int) -> list[tuple[str, bytes]]:
    """The first open (requested) Tasks by date (ix_fhir_resource_status)."""
    statement = (
        select(RESOURCE.c.patient_id, RESOURCE.c.body)
        .where(RESOURCE.c.resource_type == "Task", RESOURCE.c.status == "requested")
        .order_by(RESOURCE.c.date_start, RESOURCE.c.id)
        .limit(limit)
    )
    return [(str(pid), bytes(body)) for pid, body in connection.execute(statement)]
