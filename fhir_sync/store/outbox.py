"""The outbox of writes to EHRs: queued with the plan, claimed by one worker at a time.

A claim is a lease (`claimed_until`), not a state: a worker that dies mid-write simply lets its
lease run out and another worker picks the row up, so nothing is lost; the bundle is a set of
conditional updates, so writing it twice creates nothing twice. On PostgreSQL the claim query
locks candidate rows `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint rows
without waiting on each other. SQLite has no row locks: the claim runs in a BEGIN IMMEDIATE
transaction (one writer at a time) and the UPDATE re-checks that each row is still free.

Writes for one patient and endpoint go out in order, one at a time: a row is claimable only when
no older row for them is pending (in flight or waiting to be retried). Two plans of one patient
in flight at once could land in either order, leaving the older one on the EHR, and two
conditional creates racing on some servers make two resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    exists,
    insert,
    or_,
    select,
    update,
)

from fhir_sync.store.database import is_sqlite, write_transaction
from fhir_sync.store.tables import OutboxEntry

PENDING: Final = "pending"
DONE: Final = "done"
DEAD: Final = "dead"
SUPERSEDED: Final = "superseded"
DEFAULT_LEASE: Final = timedelta(minutes=2)
OUTBOX: Table = OutboxEntry.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClaimedWrite:
    """One write a worker now owns until `claimed_until`."""

    id: int
    endpoint: str
    patient_id: str
    bundle: bytes
    attempts: int
    claimed_until: datetime


def now_utc() -> datetime:
    return datetime.now(UTC)


def enqueue(connection: Connection, endpoint: str, patient_id: str, bundle: bytes) -> None:
    """Queue `bundle` for `endpoint` inside the caller's transaction (the one storing the plan).

    Unclaimed older writes for the same patient and endpoint are superseded: the new bundle
    replaces everything they would have written.
    """
    now = now_utc()
    connection.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.patient_id == patient_id,
            OUTBOX.c.endpoint == endpoint,
            OUTBOX.c.state == PENDING,
            _unclaimed(now),
        )
        .values(state=SUPERSEDED, updated_at=now)
    )
    connection.execute(
        insert(OUTBOX).values(
            endpoint=endpoint,
            patient_id=patient_id,
            bundle=bundle,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until <= now)


def claim_outbox(
    engine: Engine, worker_id: str, limit: int, *, lease: timedelta = DEFAULT_LEASE
) -> list[ClaimedWrite]:
    """Claim up to `limit` due writes for `worker_id`, oldest first; each claim counts an attempt.

    No row is ever handed to two workers while a lease runs, on either database.
    """
    if limit <= 0:
        return []
    now = now_utc()
    until = now + lease
    older = OUTBOX.alias("older")
    due = and_(
        OUTBOX.c.state == PENDING,
        OUTBOX.c.next_attempt_at <= now,
        _unclaimed(now),
        ~exists().where(
            older.c.patient_id == OUTBOX.c.patient_id,
            older.c.endpoint == OUTBOX.c.endpoint,
            older.c.state == PENDING,
            older.c.id < OUTBOX.c.id,
        ),
    )
    with write_transaction(engine) as connection:
        candidates = select(OUTBOX.c.id).where(due).order_by(OUTBOX.c.id).limit(limit)
        if not is_sqlite(connection):
            candidates = candidates.with_for_update(skip_locked=True, of=OUTBOX)
        ids = list(connection.scalars(candidates))
        if not ids:
            return []
        rows = connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids), due)
            .values(
                claimed_by=worker_id,
                claimed_until=until,
                attempts=OUTBOX.c.attempts + 1,
                updated_at=now,
            )
            .returning(
                OUTBOX.c.id,
                OUTBOX.c.endpoint,
                OUTBOX.c.patient_id,
                OUTBOX.c.bundle,
                OUTBOX.c.attempts,
            )
        ).all()
    claimed = [ClaimedWrite(row[0], row[1], row[2], row[3], row[4], until) for row in rows]
    return sorted(claimed, key=lambda write: write.id)


def complete(engine: Engine, write_id: int, worker_id: str) -> bool:
    """Mark a claimed write done. False when the claim was lost (expired and taken over):
    the other worker's result stands."""
    return _finish(engine, write_id, worker_id, state=DONE, error=None, retry_at=None)


def fail(
    engine: Engine,
    write_id: int,
    worker_id: str,
    error: str,
    *,
    retry_at: datetime | None,
) -> bool:
    """Release a claimed write after a failure: retried at `retry_at`, or dead when None.

    A write to be retried is superseded instead when a newer plan for the same patient and
    endpoint was queued meanwhile (it replaces everything this one would write).
    `error` must not hold patient data (it is shown to operators)."""
    state = PENDING if retry_at is not None else DEAD
    return _finish(engine, write_id, worker_id, state=state, error=error, retry_at=retry_at)


def _finish(
    engine: Engine,
    write_id: int,
    worker_id: str,
    *,
    state: str,
    error: str | None,
    retry_at: datetime | None,
) -> bool:
    """`claimed_by` stays on a finished row: which worker sent it (operators, tests)."""
    now = now_utc()
    values: dict[str, object] = {
        "state": state,
        "claimed_until": None,
        "last_error": error,
        "updated_at": now,
    }
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
        values["claimed_by"] = None
    with write_transaction(engine) as connection:
        if state == PENDING and _newer_pending(connection, write_id):
            values["state"] = SUPERSEDED
        result = connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.id == write_id,
                OUTBOX.c.claimed_by == worker_id,
                OUTBOX.c.state == PENDING,
            )
            .values(**values)
        )
    return bool(result.rowcount)


def _newer_pending(connection: Connection, write_id: int) -> bool:
    this = OUTBOX.alias("this")
    newer = select(OUTBOX.c.id).where(
        OUTBOX.c.state == PENDING,
        OUTBOX.c.id > write_id,
        exists().where(
            this.c.id == write_id,
            this.c.patient_id == OUTBOX.c.patient_id,
            this.c.endpoint == OUTBOX.c.endpoint,
        ),
    )
    return connection.execute(newer.limit(1)).first() is not None
