"""The one lease queue (`store.leases`) under the sync requests, on both databases: each due
request goes to one worker at a time, a dead worker's lease ends, a renewal keeps a request,
and a worker that lost its claim changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, select, update

from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.leases import now_utc
from fhir_sync.store.sync_requests import (
    SYNC_REQUEST,
    claim_sync_requests,
    finish_sync_request,
    renew_sync_request,
    request_sync,
    retry_sync_request,
)
from tests.server.lease_support import claimed_by_racing_workers

LEASE = timedelta(minutes=2)


@pytest.fixture
def requests(engine: Engine) -> Iterator[Engine]:
    """The test's database with no sync requests left by an earlier test."""
    with write_transaction(engine) as connection:
        connection.execute(delete(SYNC_REQUEST))
    yield engine
    with write_transaction(engine) as connection:
        connection.execute(delete(SYNC_REQUEST))


def _request(engine: Engine, *patients: str, at: datetime | None = None) -> None:
    with write_transaction(engine) as connection:
        request_sync(connection, patients, at or now_utc())


def _waiting(engine: Engine) -> list[tuple[str, str | None, int]]:
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(
                SYNC_REQUEST.c.patient_id, SYNC_REQUEST.c.claimed_by, SYNC_REQUEST.c.attempts
            ).order_by(SYNC_REQUEST.c.patient_id)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def test_claims_are_oldest_first_and_not_handed_out_twice(requests: Engine) -> None:
    early = now_utc() - timedelta(minutes=5)
    _request(requests, "p2", "p3")
    _request(requests, "p9", at=early)  # waiting longest: claimed first
    first = claim_sync_requests(requests, "w1", 2, lease=LEASE)
    second = claim_sync_requests(requests, "w2", 2, lease=LEASE)
    assert sorted(c.patient_id for c in first) == ["p2", "p9"]
    assert [c.patient_id for c in second] == ["p3"]
    assert claim_sync_requests(requests, "w3", 2, lease=LEASE) == []
    assert all(c.attempts == 1 for c in first + second)


def test_an_expired_lease_is_claimed_again_and_the_old_worker_changes_nothing(
    requests: Engine,
) -> None:
    _request(requests, "p1")
    [lost] = claim_sync_requests(requests, "crashed", 1, lease=timedelta(seconds=-1))
    [again] = claim_sync_requests(requests, "w2", 1, lease=LEASE)
    assert again.attempts == 2
    assert not renew_sync_request(requests, lost, "crashed", lease=LEASE)
    finish_sync_request(requests, lost, "crashed")
    retry_sync_request(requests, lost, "crashed", "down", retry_at=None)
    assert _waiting(requests) == [("p1", "w2", 2)]
    finish_sync_request(requests, again, "w2")
    assert _waiting(requests) == []


def test_a_renewed_lease_keeps_the_request(requests: Engine) -> None:
    _request(requests, "p1")
    [claimed] = claim_sync_requests(requests, "w1", 1, lease=timedelta(seconds=-1))
    assert renew_sync_request(requests, claimed, "w1", lease=LEASE)
    assert claim_sync_requests(requests, "w2", 1, lease=LEASE) == []
    assert _waiting(requests) == [("p1", "w1", 1)]


def test_a_request_renewed_while_it_ran_stays_for_another_sync(requests: Engine) -> None:
    _request(requests, "p1")
    [claimed] = claim_sync_requests(requests, "w1", 1, lease=LEASE)
    _request(requests, "p1", at=now_utc() + timedelta(seconds=1))  # a new change notification
    finish_sync_request(requests, claimed, "w1")
    assert _waiting(requests) == [("p1", None, 0)]


def test_a_failed_sync_is_retried_later_or_given_up(requests: Engine) -> None:
    _request(requests, "p1", "p2")
    one, two = claim_sync_requests(requests, "w", 2, lease=LEASE)
    retry_sync_request(requests, one, "w", "down", retry_at=now_utc() + timedelta(hours=1))
    retry_sync_request(requests, two, "w", "refused", retry_at=None)
    assert _waiting(requests) == [("p1", None, 1)]
    assert claim_sync_requests(requests, "w", 5, lease=LEASE) == []  # not due yet
    with write_transaction(requests) as connection:
        connection.execute(update(SYNC_REQUEST).values(next_attempt_at=now_utc()))
    [retried] = claim_sync_requests(requests, "w", 5, lease=LEASE)
    assert (retried.patient_id, retried.attempts) == ("p1", 2)


def test_concurrent_workers_claim_disjoint_requests(requests: Engine) -> None:
    _request(requests, *(f"p{index:03d}" for index in range(40)))
    every = claimed_by_racing_workers(
        lambda name: [c.patient_id for c in claim_sync_requests(requests, name, 3, lease=LEASE)]
    )
    assert len(every) == 40
    assert len(set(every)) == 40
