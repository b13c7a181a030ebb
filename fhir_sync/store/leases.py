"""One lease queue over any table with `claimed_by` and `claimed_until`: the write-back outbox,
requested syncs and Bulk export jobs all claim, renew and settle their rows here.

A claim is a lease, not a state: a worker that dies simply lets `claimed_until` pass and the
row is free again, so nothing is lost. Every later write of the holder (renewal, finish,
retry) re-checks that it still holds the row (`claimed_by` is still its name), so a worker
whose lease ran out and was taken over changes nothing.

What keeps one row with one worker at a time: on PostgreSQL the claim locks candidate rows
`FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint rows without waiting on each
other; SQLite has no row locks, so the claim runs in a BEGIN IMMEDIATE transaction (one writer
at a time, `write_transaction`). On both, the UPDATE re-checks that each row is still due and
free.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    delete,
    or_,
    select,
    update,
)

from fhir_sync.store.database import is_sqlite, write_transaction


def now_utc() -> datetime:
    return datetime.now(UTC)


def process_name() -> str:
    """A name for this process's claims: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _always(_table: Table, _now: datetime) -> Sequence[ColumnElement[bool]]:
    return ()


def _anyhow(_table: Table) -> Sequence[ColumnElement[bool]]:
    return ()


@dataclass(frozen=True, slots=True)
class LeaseQueue:
    """A table used as a lease queue.

    `key`: the column naming one row. `ready`: when a row may be claimed, besides its lease
    being free (due, in the right state, first in its line). `held`: what else a holder's
    row must still be for its writes to count (not finished meanwhile). `order`: the claim
    order. `attempts`: each claim is counted in an `attempts` column. `stamped`: writes set
    `updated_at`.
    """

    table: Table
    key: str
    order: tuple[str, ...]
    ready: Callable[[Table, datetime], Sequence[ColumnElement[bool]]] = _always
    held: Callable[[Table], Sequence[ColumnElement[bool]]] = _anyhow
    attempts: bool = True
    stamped: bool = True

    def free(self, now: datetime) -> ColumnElement[bool]:
        """Never claimed, or its holder stopped renewing the lease."""
        until = self.table.c.claimed_until
        return or_(until.is_(None), until <= now)

    def due(self, now: datetime) -> ColumnElement[bool]:
        return and_(*self.ready(self.table, now), self.free(now))

    def mine(self, key: object, worker: str) -> ColumnElement[bool]:
        """The row `key`, still held by `worker`."""
        columns = self.table.c
        return and_(columns[self.key] == key, columns.claimed_by == worker, *self.held(self.table))

    def _claim_values(self, worker: str, until: datetime, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {"claimed_by": worker, "claimed_until": until}
        if self.attempts:
            values["attempts"] = self.table.c.attempts + 1
        if self.stamped:
            values["updated_at"] = now
        return values

    def _stamp(self, values: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {**values, "updated_at": now} if self.stamped else values


def claim_due(
    engine: Engine,
    queue: LeaseQueue,
    worker: str,
    limit: int,
    lease: timedelta,
    returning: Sequence[str],
    **values: object,
) -> tuple[list[Sequence[Any]], datetime]:
    """Claim up to `limit` due rows for `worker`, in the queue's order, setting `values` too;
    the rows (the `returning` columns, by key) and when their lease ends.

    No row is ever handed to two workers while a lease runs, on either database."""
    now = now_utc()
    until = now + lease
    if limit <= 0:
        return [], until
    with write_transaction(engine) as connection:
        rows = claim_rows(connection, queue, worker, limit, until, now, returning, **values)
    return rows, until


def claim_rows(
    connection: Connection,
    queue: LeaseQueue,
    worker: str,
    limit: int,
    until: datetime,
    now: datetime,
    returning: Sequence[str],
    **values: object,
) -> list[Sequence[Any]]:
    """`claim_due` inside the caller's write transaction, for a claim that writes more (an
    export discards what a previous holder stored)."""
    table = queue.table
    key = table.c[queue.key]
    due = queue.due(now)
    candidates = (
        select(key).where(due).order_by(*(table.c[name] for name in queue.order)).limit(limit)
    )
    if not is_sqlite(connection):
        candidates = candidates.with_for_update(skip_locked=True, of=table)
    keys = list(connection.scalars(candidates))
    if not keys:
        return []
    rows = connection.execute(
        update(table)
        .where(key.in_(keys), due)
        .values(**queue._claim_values(worker, until, now), **values)
        .returning(*(table.c[name] for name in returning))
    ).all()
    position = list(returning).index(queue.key)
    return sorted(rows, key=lambda row: row[position])


def claim_one(
    connection: Connection,
    queue: LeaseQueue,
    key: object,
    worker: str,
    until: datetime,
    now: datetime,
    **values: object,
) -> bool:
    """Take the row `key` for `worker` if it is ready and free, setting `values` too (inside
    the caller's transaction); False when it is not to be had."""
    claimed = connection.execute(
        update(queue.table)
        .where(queue.table.c[queue.key] == key, queue.due(now))
        .values(**queue._claim_values(worker, until, now), **values)
    )
    return bool(claimed.rowcount)


def settle(
    connection: Connection,
    queue: LeaseQueue,
    key: object,
    worker: str,
    now: datetime,
    *also: ColumnElement[bool],
    **values: object,
) -> bool:
    """Write `values` to the row `key` if `worker` still holds it (and `also` holds): a
    renewal (a later `claimed_until`), a finish or a release. False when the claim was lost:
    the other worker's result stands."""
    changed = connection.execute(
        update(queue.table)
        .where(queue.mine(key, worker), *also)
        .values(**queue._stamp(dict(values), now))
    )
    return bool(changed.rowcount)


def retry_later(
    connection: Connection,
    queue: LeaseQueue,
    key: object,
    worker: str,
    now: datetime,
    retry_at: datetime,
    **values: object,
) -> bool:
    """Give the row up after a failure, to be claimed again (by anyone) from `retry_at`."""
    return settle(
        connection,
        queue,
        key,
        worker,
        now,
        claimed_by=None,
        claimed_until=None,
        next_attempt_at=retry_at,
        **values,
    )


def drop(
    connection: Connection,
    queue: LeaseQueue,
    key: object,
    worker: str,
    *also: ColumnElement[bool],
) -> bool:
    """Delete the row `key` if `worker` still holds it (and `also` holds): work that leaves
    no record once done."""
    gone = connection.execute(delete(queue.table).where(queue.mine(key, worker), *also))
    return bool(gone.rowcount)


__all__ = [
    "LeaseQueue",
    "claim_due",
    "claim_one",
    "claim_rows",
    "drop",
    "now_utc",
    "process_name",
    "retry_later",
    "settle",
]
