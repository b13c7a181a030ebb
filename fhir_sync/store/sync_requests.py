"""Patients waiting to be pulled and re-planned, claimed by one worker at a time.

A change notification only says "this patient changed"; the sync itself (pulling from the EHR,
re-planning, queuing the write-back) happens here, out of the notification's request, so the
EHR gets its answer at once and a crash between the two loses nothing: the request is a row
until a sync that started after it has finished. Claims are leases (`store.leases`), as in the
outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from fhir_sync.store.database import is_sqlite, write_transaction
from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.leases import (
    LeaseQueue,
    claim_due,
    drop,
    now_utc,
    retry_later,
    settle,
)
from fhir_sync.store.tables import SyncRequest

SYNC_REQUEST: Table = SyncRequest.__table__  # type: ignore[attr-defined]


def _due(requests: Table, now: datetime) -> Sequence[ColumnElement[bool]]:
    return (requests.c.next_attempt_at <= now,)


QUEUE: Final = LeaseQueue(
    SYNC_REQUEST,
    key="patient_id",
    order=("next_attempt_at", "patient_id"),
    ready=_due,
    stamped=False,
)


@dataclass(frozen=True, slots=True)
class ClaimedSync:
    patient_id: str
    requested_at: datetime
    attempts: int


def request_sync(connection: Connection, patient_ids: Iterable[str], now: datetime) -> int:
    """Ask for a sync of each patient inside the caller's transaction; how many were asked.

    A patient already waiting keeps one row, due now; one being synced right now is synced
    again afterwards (the running sync may have read the EHR before the change).
    """
    rows = [
        {"patient_id": pid, "requested_at": now, "next_attempt_at": now, "attempts": 0}
        for pid in sorted(set(patient_ids))
    ]
    if not rows:
        return 0
    dialect: Any = sqlite if is_sqlite(connection) else postgresql
    statement = dialect.insert(SYNC_REQUEST).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[SYNC_REQUEST.c.patient_id],
        set_={
            "requested_at": statement.excluded.requested_at,
            "next_attempt_at": statement.excluded.next_attempt_at,
            "attempts": 0,
            "last_error": None,
        },
    )
    connection.execute(statement)
    return len(rows)


def request_ended_holds(connection: Connection, today: date, now: datetime) -> int:
    """Ask for a sync of every patient on hold until `today` or earlier (resumed by it)."""
    ended = connection.scalars(
        select(ENROLLMENT.c.patient_id).where(
            ENROLLMENT.c.status == "on-hold", ENROLLMENT.c.hold_until <= today
        )
    )
    return request_sync(connection, ended, now)


def known_endpoints(connection: Connection) -> set[str]:
    """The endpoints enrollments pull from: the only ones a notification may make us read."""
    found: set[str] = set()
    for column in (ENROLLMENT.c.ehr_endpoint, ENROLLMENT.c.pharmacy_endpoint):
        rows = connection.scalars(
            select(column).distinct().where(column.is_not(None), ENROLLMENT.c.status != "revoked")
        )
        found.update(str(url) for url in rows)
    return found


def enrolled_among(connection: Connection, patient_ids: set[str]) -> list[str]:
    rows = connection.scalars(
        select(ENROLLMENT.c.patient_id).where(
            ENROLLMENT.c.patient_id.in_(sorted(patient_ids)), ENROLLMENT.c.status != "revoked"
        )
    )
    return list(rows)


def claim_sync_requests(
    engine: Engine, worker_id: str, limit: int, *, lease: timedelta
) -> list[ClaimedSync]:
    """Up to `limit` due requests, oldest first, each owned by `worker_id` until the lease ends."""
    returning = ("patient_id", "requested_at", "attempts")
    rows, _ = claim_due(engine, QUEUE, worker_id, limit, lease, returning)
    return [ClaimedSync(row[0], row[1], row[2]) for row in rows]


def renew_sync_request(
    engine: Engine, claimed: ClaimedSync, worker_id: str, *, lease: timedelta
) -> bool:
    """Keep the request while its sync runs; False when it is no longer `worker_id`'s."""
    now = now_utc()
    with write_transaction(engine) as connection:
        until = now + lease
        return settle(connection, QUEUE, claimed.patient_id, worker_id, now, claimed_until=until)


def finish_sync_request(engine: Engine, claimed: ClaimedSync, worker_id: str) -> None:
    """The sync is done: the request goes, unless a newer one came in while it ran."""
    key, now = claimed.patient_id, now_utc()
    with write_transaction(engine) as connection:
        unchanged = SYNC_REQUEST.c.requested_at == claimed.requested_at
        if not drop(connection, QUEUE, key, worker_id, unchanged):
            settle(connection, QUEUE, key, worker_id, now, claimed_by=None, claimed_until=None)


def retry_sync_request(
    engine: Engine,
    claimed: ClaimedSync,
    worker_id: str,
    error: str,
    *,
    retry_at: datetime | None,
) -> None:
    """The sync failed: try again at `retry_at`, or give the request up when None.
    `error` must not hold patient data."""
    key, now = claimed.patient_id, now_utc()
    with write_transaction(engine) as connection:
        if retry_at is None:
            drop(connection, QUEUE, key, worker_id)
        else:
            retry_later(connection, QUEUE, key, worker_id, now, retry_at, last_error=error)
