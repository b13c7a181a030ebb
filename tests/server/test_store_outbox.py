"""Outbox claims: each due write goes to one worker at a time, and a dead worker's lease ends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update

from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.outbox import (
    OUTBOX,
    SUPERSEDED,
    claim_outbox,
    complete,
    enqueue,
    fail,
    now_utc,
)
from tests.server.lease_support import claimed_by_racing_workers


def _queue(engine: Engine, count: int, endpoint: str = "http://ehr.test/fhir") -> None:
    with write_transaction(engine) as connection:
        for index in range(count):
            enqueue(connection, endpoint, f"p{index:03d}", b'{"resourceType":"Bundle"}')


def _states(engine: Engine) -> list[str]:
    with read_transaction(engine) as connection:
        return list(connection.scalars(select(OUTBOX.c.state).order_by(OUTBOX.c.id)))


def test_claims_are_oldest_first_and_not_handed_out_twice(engine: Engine) -> None:
    _queue(engine, 5)
    first = claim_outbox(engine, "w1", 3)
    second = claim_outbox(engine, "w2", 3)
    assert [w.patient_id for w in first] == ["p000", "p001", "p002"]
    assert [w.patient_id for w in second] == ["p003", "p004"]
    assert claim_outbox(engine, "w3", 3) == []
    assert all(w.attempts == 1 for w in first + second)


def test_an_expired_lease_is_claimed_again_and_the_old_worker_loses_it(engine: Engine) -> None:
    _queue(engine, 1)
    [write] = claim_outbox(engine, "crashed", 1, lease=timedelta(seconds=-1))
    [again] = claim_outbox(engine, "w2", 1)
    assert again.id == write.id and again.attempts == 2
    assert not complete(engine, write.id, "crashed")
    assert complete(engine, again.id, "w2")
    assert _states(engine) == ["done"]


def test_a_failed_write_is_retried_later_or_given_up(engine: Engine) -> None:
    _queue(engine, 2)
    one, two = claim_outbox(engine, "w", 2)
    assert fail(engine, one.id, "w", "503 from EHR", retry_at=now_utc() + timedelta(hours=1))
    assert fail(engine, two.id, "w", "422 from EHR", retry_at=None)
    assert claim_outbox(engine, "w", 5) == []  # one is not due yet, two is dead
    assert _states(engine) == ["pending", "dead"]
    with write_transaction(engine) as connection:
        connection.execute(update(OUTBOX).values(next_attempt_at=now_utc()))
    assert [w.id for w in claim_outbox(engine, "w", 5)] == [one.id]


def test_a_newer_plan_supersedes_an_unsent_one(engine: Engine) -> None:
    _queue(engine, 1)
    _queue(engine, 1)
    assert _states(engine) == [SUPERSEDED, "pending"]
    claimed = claim_outbox(engine, "w", 5)
    _queue(engine, 1)  # a claimed write is in flight: it is not superseded
    assert _states(engine) == [SUPERSEDED, "pending", "pending"]
    assert len(claimed) == 1


def test_concurrent_workers_claim_disjoint_rows(engine: Engine) -> None:
    _queue(engine, 60)
    every = claimed_by_racing_workers(lambda name: [w.id for w in claim_outbox(engine, name, 4)])
    assert len(every) == 60
    assert len(set(every)) == 60
