"""The outbox of writes to EHRs: queued with the plan, claimed by one worker at a time.

A claim is a lease (`claimed_until`, see `store.leases`): a worker that dies mid-write simply
lets its lease run out and another worker picks the row up, so nothing is lost; the bundle is a
set of conditional updates, so writing it twice creates nothing twice.

Writes for one patient and endpoint go out in order, one at a time: a row is claimable only when
no older row for them is pending (in flight or waiting to be retried). Two plans of one patient
in flight at once could land in either order, leaving the older one on the EHR, and two
conditional creates racing on some servers make two resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, Connection, Engine, Table, exists, insert, select, update

from fhir_sync.store.database import write_transaction
from fhir_sync.store.leases import LeaseQueue, claim_due, now_utc, retry_later, settle
from fhir_sync.store.tables import OutboxEntry

PENDING: Final = "pending"
DONE: Final = "done"
DEAD: Final = "dead"
SUPERSEDED: Final = "superseded"
DEFAULT_LEASE: Final = timedelta(minutes=2)
OUTBOX: Table = OutboxEntry.__table__  # type: ignore[attr-defined]


def _first_in_line(outbox: Table, now: datetime) -> Sequence[ColumnElement[bool]]:
    """Pending, due, and no older pending write for its patient and endpoint."""
    older = outbox.alias("older")
    return (
        outbox.c.state == PENDING,
        outbox.c.next_attempt_at <= now,
        ~exists().where(
            older.c.patient_id == outbox.c.patient_id,
            older.c.endpoint == outbox.c.endpoint,
            older.c.state == PENDING,
            older.c.id < outbox.c.id,
        ),
    )


def _pending(outbox: Table) -> Sequence[ColumnElement[bool]]:
    return (outbox.c.state == PENDING,)


QUEUE: Final = LeaseQueue(OUTBOX, key="id", order=("id",), ready=_first_in_line, held=_pending)
_CLAIMED: Final = ("id", "endpoint", "patient_id", "bundle", "attempts")


@dataclass(frozen=True, slots=True)
class ClaimedWrite:
    """One write a worker now owns until `claimed_until`."""

    id: int
    endpoint: str
    patient_id: str
    bundle: bytes
    attempts: int
    claimed_until: datetime


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
            QUEUE.free(now),
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


def claim_outbox(
    engine: Engine, worker_id: str, limit: int, *, lease: timedelta = DEFAULT_LEASE
) -> list[ClaimedWrite]:
    """Claim up to `limit` due writes for `worker_id`, oldest first; each claim counts an attempt.

    No row is ever handed to two workers while a lease runs, on either database.
    """
    rows, until = claim_due(engine, QUEUE, worker_id, limit, lease, _CLAIMED)
    return [ClaimedWrite(row[0], row[1], row[2], row[3], row[4], until) for row in rows]


def complete(engine: Engine, write_id: int, worker_id: str) -> bool:
    """Mark a claimed write done. False when the claim was lost (expired and taken over):
    the other worker's result stands. `claimed_by` stays on a finished row: which worker sent
    it (operators, tests)."""
    with write_transaction(engine) as connection:
        return settle(
            connection,
            QUEUE,
            write_id,
            worker_id,
            now_utc(),
            state=DONE,
            claimed_until=None,
            last_error=None,
        )


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
    now = now_utc()
    with write_transaction(engine) as connection:
        if retry_at is None:
            return settle(
                connection,
                QUEUE,
                write_id,
                worker_id,
                now,
                state=DEAD,
                claimed_until=None,
                last_error=error,
            )
        state = SUPERSEDED if _newer_pending(connection, write_id) else PENDING
        return retry_later(
            connection, QUEUE, write_id, worker_id, now, retry_at, state=state, last_error=error
        )


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


__all__ = [
    "DEAD",
    "DONE",
    "OUTBOX",
    "PENDING",
    "SUPERSEDED",
    "ClaimedWrite",
    "claim_outbox",
    "complete",
    "enqueue",
    "fail",
    "now_utc",
]
