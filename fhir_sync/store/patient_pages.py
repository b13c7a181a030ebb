"""The reads behind the staff web app's pages: a patient's plan resources, patients with
their enrollment status, the pickups of a day. Bodies come back as the stored JSON bytes."""

from __future__ import annotations

from collections.abc import Collection, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Select, exists, func, or_, select

from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.search import RESOURCE, TOKEN


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
    connection: Connection, *, after: str | None, limit: int, before: str | None = None
) -> list[PatientRow]:
    """Stored patients in id order, with their enrollment: the first `limit` after the id
    `after`, or the last `limit` before the id `before` (keyset paging: every page is one
    index range, so page 100 costs what page 1 costs; an OFFSET read every row before it)."""
    statement = (
        select(*_patients_joined())  # type: ignore[call-overload]
        .select_from(RESOURCE.outerjoin(ENROLLMENT, ENROLLMENT.c.patient_id == RESOURCE.c.id))
        .where(RESOURCE.c.resource_type == "Patient")
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(RESOURCE.c.id < before).order_by(RESOURCE.c.id.desc())
        return _rows(connection, statement)[::-1]
    if after is not None:
        statement = statement.where(RESOURCE.c.id > after)
    return _rows(connection, statement.order_by(RESOURCE.c.id))


def _after_prefix(prefix: str) -> str:
    """The least text greater than every text that starts with `prefix` (its last character
    moved on by one), so that `prefix <= x < _after_prefix(prefix)` is an index range."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def token_ids(
    connection: Connection, resource_type: str, param: str, code: str, *, prefix: bool = False
) -> set[str]:
    """The ids of the resources with a `param` token whose code is `code` (or starts with it),
    from ix_search_token_value alone."""
    statement = select(TOKEN.c.resource_id).where(
        TOKEN.c.resource_type == resource_type, TOKEN.c.param == param
    )
    if prefix and code:
        statement = statement.where(TOKEN.c.code >= code, TOKEN.c.code < _after_prefix(code))
    else:
        statement = statement.where(TOKEN.c.code == code)
    return {str(rid) for rid in connection.scalars(statement)}


def find_patient_rows(
    connection: Connection,
    *,
    among: set[str] | None,
    id_prefix: str | None,
    statuses: Collection[str | None] | None,
    limit: int,
) -> list[PatientRow]:
    """Stored patients in id order: those `among` these ids (None: any), whose id starts with
    `id_prefix`, whose enrollment status is one of `statuses` (None in it: never enrolled),
    the first `limit`. Ids are looked up in order, `limit` at a time, until `limit` are
    found: a common name's hundreds of ids then cost one page's rows (an IN of 500 ids read
    and sorted 500 Patients' bodies to keep 51)."""
    joined = RESOURCE.outerjoin(ENROLLMENT, ENROLLMENT.c.patient_id == RESOURCE.c.id)
    base = select(*_patients_joined()).select_from(joined)  # type: ignore[call-overload]
    base = base.where(RESOURCE.c.resource_type == "Patient")
    if id_prefix:
        base = base.where(RESOURCE.c.id >= id_prefix, RESOURCE.c.id < _after_prefix(id_prefix))
    if statuses is not None:
        named = [s for s in statuses if s is not None]
        wanted = [ENROLLMENT.c.status.in_(named)] if named else []
        if None in statuses:
            wanted.append(ENROLLMENT.c.patient_id.is_(None))
        base = base.where(or_(*wanted))
    base = base.order_by(RESOURCE.c.id)
    if among is None:
        return _rows(connection, base.limit(limit))
    found: list[PatientRow] = []
    ids = sorted(among)
    step = max(limit, 1)
    for first in range(0, len(ids), step):
        chunk = base.where(RESOURCE.c.id.in_(ids[first : first + step]))
        found.extend(_rows(connection, chunk.limit(limit - len(found))))
        if len(found) >= limit:
            break
    return found


def _rows(connection: Connection, statement: Select[Any]) -> list[PatientRow]:
    return [PatientRow(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in connection.execute(statement)]


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


def open_renewal_tasks(
    connection: Connection, limit: int, *, identifier_system: str | None = None
) -> list[tuple[str, bytes]]:
    """The first open (requested) Tasks by date (ix_fhir_resource_status); with
    `identifier_system`, only the Tasks that have an identifier of that system (the
    renewals, not the monthly cycle's preparation Tasks)."""
    statement = (
        select(RESOURCE.c.patient_id, RESOURCE.c.body)
        .where(RESOURCE.c.resource_type == "Task", RESOURCE.c.status == "requested")
        .order_by(RESOURCE.c.date_start, RESOURCE.c.id)
        .limit(limit)
    )
    if identifier_system is not None:
        statement = statement.where(
            exists().where(
                TOKEN.c.resource_type == "Task",
                TOKEN.c.resource_id == RESOURCE.c.id,
                TOKEN.c.param == "identifier",
                TOKEN.c.system == identifier_system,
            )
        )
    return [(str(pid), bytes(body)) for pid, body in connection.execute(statement)]
