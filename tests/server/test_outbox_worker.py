"""The outbox worker's decisions, with the EHR replaced by a function: what is retried, when,
what is given up, and that a send never outlives its lease (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from adapters.http import FhirClient, FhirError
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.store.database import write_transaction
from fhir_sync.store.outbox import OUTBOX, ClaimedWrite, enqueue, now_utc
from fhir_sync.worker.outbox_worker import OutboxWorker
from tests.integration.server_support import outbox_rows

ENDPOINT = "http://ehr.test/fhir"


def _queue(engine: Engine, *patients: str) -> None:
    with write_transaction(engine) as connection:
        for patient in patients:
            enqueue(connection, ENDPOINT, patient, b'{"resourceType":"Bundle"}')


def _worker(engine: Engine, outcome: BaseException | None, **settings: float) -> OutboxWorker:
    async def send(_client: FhirClient, _write: ClaimedWrite) -> None:
        if outcome is not None:
            raise outcome

    live = LiveSettings(**settings)  # type: ignore[arg-type]
    return OutboxWorker(engine, EndpointClients(live), "w", send=send, rng=random.Random(1))


def _drain(worker: OutboxWorker) -> int:
    async def run() -> int:
        try:
            return await worker.drain_once()
        finally:
            await worker.clients.aclose()

    return asyncio.run(run())


def test_a_sent_write_is_done_and_remembers_its_worker(engine: Engine) -> None:
    _queue(engine, "p1", "p2")
    assert _drain(_worker(engine, None)) == 2
    rows = outbox_rows(engine)
    assert [(r["state"], r["attempts"], r["claimed_by"]) for r in rows] == [("done", 1, "w")] * 2


@pytest.mark.parametrize(
    "error",
    [
        FhirError("POST / failed with HTTP 503", status=503),
        FhirError("POST / failed: ConnectError"),
        FhirError("POST / failed with HTTP 429", status=429),
    ],
)
def test_an_outage_is_retried_later_with_backoff(engine: Engine, error: FhirError) -> None:
    _queue(engine, "p1")
    before = now_utc()
    _drain(_worker(engine, error, retry_base=60.0))
    [row] = outbox_rows(engine)
    assert row["state"] == "pending" and row["claimed_until"] is None
    assert row["last_error"] == error.message
    assert _drain(_worker(engine, None)) == 0  # not due yet
    retry_at = _next_attempt(engine)
    assert before + timedelta(seconds=29) < retry_at < before + timedelta(seconds=61)


def _next_attempt(engine: Engine) -> datetime:
    with engine.connect() as connection:
        value = connection.scalar(select(OUTBOX.c.next_attempt_at))
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=now_utc().tzinfo)


def test_a_rejected_bundle_is_given_up_at_once(engine: Engine) -> None:
    _queue(engine, "p1")
    _drain(_worker(engine, FhirError("POST / failed with HTTP 422 (processing)", status=422)))
    [row] = outbox_rows(engine)
    assert row["state"] == "dead"
    assert row["last_error"] == "POST / failed with HTTP 422 (processing)"


def test_retries_end_after_the_last_attempt(engine: Engine) -> None:
    _queue(engine, "p1")
    worker = _worker(engine, FhirError("down", status=503), retry_base=0.0, outbox_max_attempts=3)
    for _ in range(3):
        assert _drain(worker) == 1
    assert [(r["state"], r["attempts"]) for r in outbox_rows(engine)] == [("dead", 3)]


def test_a_send_is_abandoned_before_its_lease_ends(engine: Engine) -> None:
    _queue(engine, "p1")

    async def hang(_client: FhirClient, _write: ClaimedWrite) -> None:
        await asyncio.sleep(60)

    # A lease long enough that a loaded machine's slowness (a CI runner shared with other
    # jobs) is not taken for the worker overrunning it; the send hangs ten times longer.
    lease = 6.0
    settings = LiveSettings(outbox_lease=lease)
    worker = OutboxWorker(engine, EndpointClients(settings), "w", send=hang)
    started = now_utc()
    _drain(worker)
    assert now_utc() - started < timedelta(seconds=lease)
    [row] = outbox_rows(engine)
    assert row["state"] == "pending" and "lease" in row["last_error"]


def test_one_patients_writes_go_out_in_order_never_side_by_side(engine: Engine) -> None:
    """A newer plan waits while an older one is in flight; when the older fails, the newer
    one replaces it."""
    _queue(engine, "p1")
    seen: list[int] = []

    async def send(_client: FhirClient, write: ClaimedWrite) -> None:
        seen.append(write.id)
        _queue(engine, "p1")  # a new plan arrives while this one is being sent
        raise FhirError("down", status=503)

    worker = OutboxWorker(engine, EndpointClients(LiveSettings(retry_base=0.0)), "w", send=send)
    assert _drain(worker) == 1
    assert [r["state"] for r in outbox_rows(engine)] == ["superseded", "pending"]
