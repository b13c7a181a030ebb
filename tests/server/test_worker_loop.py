"""The one loop runner (`worker.loop`): a lease queue is drained batch by batch and survives a
failing claim, a clock job survives its failures, backoff grows and ends, and a long handler
keeps renewing its lease until it returns."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fhir_sync.store.leases import now_utc
from fhir_sync.worker.loop import Backoff, Every, Leases, drain_batch, renewing, run_jobs


class _Batches:
    """Hands out the given batches, then stops the runner; one claim fails on purpose."""

    name = "test queue"

    def __init__(self, batches: list[list[int] | None], stop: asyncio.Event) -> None:
        self.batches = batches
        self.stop = stop
        self.handled: list[int] = []

    def claim(self) -> list[int]:
        if not self.batches:
            self.stop.set()
            return []
        batch = self.batches.pop(0)
        if batch is None:
            raise RuntimeError("the database went away")
        return batch

    async def handle(self, item: int) -> None:
        self.handled.append(item)


def test_a_lease_queue_is_drained_and_survives_a_failing_claim() -> None:
    async def run() -> list[int]:
        stop = asyncio.Event()
        work = _Batches([[1, 2], None, [3]], stop)
        await run_jobs([Leases(work, poll=0.0)], stop)
        return work.handled

    assert asyncio.run(run()) == [1, 2, 3]


def test_drain_batch_handles_one_batch_and_counts_it() -> None:
    async def run() -> tuple[int, list[int]]:
        work = _Batches([[4, 5, 6]], asyncio.Event())
        return await drain_batch(work), work.handled

    assert asyncio.run(run()) == (3, [4, 5, 6])


def test_a_clock_job_runs_again_after_a_failure() -> None:
    runs: list[int] = []

    def job(stop: asyncio.Event) -> Callable[[], Awaitable[None]]:
        async def once() -> None:
            runs.append(len(runs))
            if len(runs) == 1:
                raise RuntimeError("first run fails")
            if len(runs) == 3:
                stop.set()

        return once

    async def run() -> None:
        stop = asyncio.Event()
        await run_jobs([Every("test job", job(stop), interval=0.0)], stop)

    asyncio.run(run())
    assert runs == [0, 1, 2]


def test_backoff_doubles_up_to_its_cap_and_ends_after_the_last_attempt() -> None:
    """base 10 s, cap 30 s: steps 10, 20, 30, 30 s, each jittered to between half and all."""
    backoff = Backoff(10.0, 30.0, 5, random.Random(7))
    for attempts, step in [(1, 10), (2, 20), (3, 30), (4, 30)]:
        before = now_utc()
        retry_at = backoff.retry_at(attempts)
        assert retry_at is not None
        assert before + timedelta(seconds=step / 2) <= retry_at
        assert retry_at <= now_utc() + timedelta(seconds=step)
    assert backoff.retry_at(5) is None


def test_a_running_handler_renews_its_lease_until_it_returns() -> None:
    renewals: list[int] = []

    def renew() -> bool:
        renewals.append(1)
        return True

    async def run() -> str:
        async def handler() -> str:
            while len(renewals) < 3:
                await asyncio.sleep(0)
            return "done"

        return await renewing(renew, 0.0, handler())

    assert asyncio.run(run()) == "done"
    assert len(renewals) >= 3


def test_renewing_stops_once_the_row_is_lost() -> None:
    renewals: list[int] = []

    def renew() -> bool:
        renewals.append(1)
        return False  # taken over

    async def run() -> None:
        async def handler() -> None:
            while not renewals:
                await asyncio.sleep(0)
            for _ in range(20):
                await asyncio.sleep(0)

        await renewing(renew, 0.0, handler())

    asyncio.run(run())
    assert renewals == [1]
