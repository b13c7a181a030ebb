"""Enrollments and the payers' member groups they make up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fhir_sync.store.database import is_sqlite
from fhir_sync.store.tables import Enrollment, PayerGroup

ENROLLMENT: Table = Enrollment.__table__  # type: ignore[attr-defined]
GROUP: Table = PayerGroup.__table__  # type: ignore[attr-defined]
#: The first key of the patients' advisory locks (the second is a hash of the patient id), so
#: that they cannot collide with advisory locks taken for anything else.
_PATIENT_LOCKS: Final = 0x66_73_65_6E  # "fsen"


def get_enrollment(
    connection: Connection, patient_id: str, *, for_update: bool = False
) -> Enrollment | None:
    """The enrollment, locked against concurrent changes when `for_update` (PostgreSQL; the
    SQLite write transaction already excludes other writers).

    `SELECT ... FOR UPDATE` locks nothing while the patient's row does not exist yet, so two
    first enrollments of one patient would both go on to insert it; a transaction-scoped
    advisory lock on the patient id serializes them too (released at commit or rollback)."""
    statement = select(ENROLLMENT).where(ENROLLMENT.c.patient_id == patient_id)
    if for_update and not is_sqlite(connection):
        connection.execute(
            select(func.pg_advisory_xact_lock(_PATIENT_LOCKS, func.hashtext(patient_id)))
        )
        statement = statement.with_for_update()
    row = connection.execute(statement).mappings().first()
    return None if row is None else Enrollment(**row)


def save_enrollment(connection: Connection, enrollment: Enrollment, *, new: bool) -> None:
    values = enrollment.model_dump()
    if new:
        connection.execute(insert(ENROLLMENT).values(**values))
        return
    patient_id = values.pop("patient_id")
    connection.execute(
        update(ENROLLMENT).where(ENROLLMENT.c.patient_id == patient_id).values(**values)
    )


def pickups_per_day(connection: Connection, other_than: str) -> dict[date, int]:
    """Active enrollments per anchor date, other than one patient's (the pharmacy's load)."""
    column = ENROLLMENT.c.anchor_date
    statement = (
        select(column, func.count())
        .where(
            ENROLLMENT.c.status == "active",
            column.is_not(None),
            ENROLLMENT.c.patient_id != other_than,
        )
        .group_by(column)
    )
    return {row[0]: int(row[1]) for row in connection.execute(statement)}


def insert_enrollments(connection: Connection, enrollments: Sequence[Enrollment]) -> None:
    """Insert new enrollments many per statement (loading a population at once)."""
    if enrollments:
        connection.execute(insert(ENROLLMENT), [e.model_dump() for e in enrollments])


@dataclass(frozen=True, slots=True)
class Member:
    patient_id: str
    status: str
    enrolled_at: datetime
    revoked_at: datetime | None


def payer_members(connection: Connection, payer: str) -> list[Member]:
    rows = connection.execute(
        select(
            ENROLLMENT.c.patient_id,
            ENROLLMENT.c.status,
            ENROLLMENT.c.enrolled_at,
            ENROLLMENT.c.revoked_at,
        )
        .where(ENROLLMENT.c.payer == payer)
        .order_by(ENROLLMENT.c.patient_id)
    )
    return [Member(row[0], row[1], row[2], row[3]) for row in rows]


def touch_payer_group(connection: Connection, payer: str, group_id: str, now: datetime) -> None:
    """Create the payer's group or bump its version: its membership has changed. One
    statement, so that a payer's first members enrolled at once cannot both insert the row.
    A transaction touching several groups must touch them in sorted order (deadlocks)."""
    dialect = sqlite if is_sqlite(connection) else postgresql
    statement = dialect.insert(GROUP).values(
        id=group_id, payer=payer, version_id=1, last_updated=now
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[GROUP.c.payer],
            set_={"version_id": GROUP.c.version_id + 1, "last_updated": now},
        )
    )


def get_payer_group(connection: Connection, group_id: str) -> PayerGroup | None:
    row = connection.execute(select(GROUP).where(GROUP.c.id == group_id)).mappings().first()
    return None if row is None else PayerGroup(**row)


def payer_groups(
    connection: Connection,
    *,
    ids: Sequence[Sequence[str]] = (),
    payers: Sequence[Sequence[str]] = (),
    after: str | None = None,
    limit: int | None,
) -> list[PayerGroup]:
    """Groups in id order; `ids` and `payers` are AND-ed lists of alternatives, as search
    parameters are."""
    statement = select(GROUP)
    for alternatives in ids:
        statement = statement.where(GROUP.c.id.in_(list(alternatives)))
    for alternatives in payers:
        statement = statement.where(GROUP.c.payer.in_(list(alternatives)))
    if after is not None:
        statement = statement.where(GROUP.c.id > after)
    rows = connection.execute(statement.order_by(GROUP.c.id).limit(limit)).mappings()
    return [PayerGroup(**row) for row in rows]
