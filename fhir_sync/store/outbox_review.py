"""What pharmacy staff need to see and redo in the outbox: counts, dead writes, retries.

A write is dead after its last attempt failed (the EHR refused it, or was down for longer than
the retries last). Retrying one is only right while it is the newest plan for its patient and
endpoint: a dead write that a newer one follows would put an older plan over a newer one, so
it is marked superseded instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, exists, func, select, update

from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.outbox import DEAD, OUTBOX, PENDING, SUPERSEDED, now_utc


@dataclass(frozen=True, slots=True)
class DeadWrite:
    id: int
    endpoint: str
    patient_id: str
    attempts: int
    last_error: str | None
    updated_at: datetime


@dataclass(slots=True)
class Retried:
    requeued: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)  # a newer write follows each
    not_dead: list[int] = field(default_factory=list)  # unknown ids, or not dead


def outbox_counts(engine: Engine) -> dict[str, int]:
    """Rows per state (pending, done, dead, superseded)."""
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)
        ).all()
    return {str(state): int(count) for state, count in rows}


def dead_writes(engine: Engine, limit: int = 50) -> list[DeadWrite]:
    """The most recently failed dead writes first."""
    statement = (
        select(
            OUTBOX.c.id,
            OUTBOX.c.endpoint,
            OUTBOX.c.patient_id,
            OUTBOX.c.attempts,
            OUTBOX.c.last_error,
            OUTBOX.c.updated_at,
        )
        .where(OUTBOX.c.state == DEAD)
        .order_by(OUTBOX.c.id.desc())
        .limit(limit)
    )
    with read_transaction(engine) as connection:
        return [DeadWrite(*row) for row in connection.execute(statement)]


def retry_dead(engine: Engine, ids: Sequence[int] | None = None) -> Retried:
    """Send dead writes again (all of them when `ids` is None): due now, attempts from zero.

    One that a newer write for the same patient and endpoint follows is superseded instead.
    """
    newer = OUTBOX.alias("newer")
    followed = exists().where(
        newer.c.patient_id == OUTBOX.c.patient_id,
        newer.c.endpoint == OUTBOX.c.endpoint,
        newer.c.id > OUTBOX.c.id,
    )
    result = Retried()
    now = now_utc()
    with write_transaction(engine) as connection:
        chosen = select(OUTBOX.c.id, followed).where(OUTBOX.c.state == DEAD)
        if ids is not None:
            chosen = chosen.where(OUTBOX.c.id.in_(sorted(set(ids))))
        rows = connection.execute(chosen.order_by(OUTBOX.c.id)).all()
        for write_id, is_followed in rows:
            (result.superseded if is_followed else result.requeued).append(int(write_id))
        if result.superseded:
            connection.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(result.superseded))
                .values(state=SUPERSEDED, updated_at=now)
            )
        if result.requeued:
            connection.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(result.requeued))
                .values(
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    claimed_by=None,
                    claimed_until=None,
                    updated_at=now,
                )
            )
    if ids is not None:
        found = {*result.requeued, *result.superseded}
        result.not_dead = sorted({i for i in ids if i not in found})
    return result
