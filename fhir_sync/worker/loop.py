"""The one loop runner of the background work: lease queues (the outbox, requested syncs) and
clock jobs (the hold check, the daily cycle) are each a `Job`, run side by side until the
process stops.

A lease queue plugs in as `LeasedWork`: how to claim a batch (`store.leases` decides who gets
which row) and what to do with one claimed row. The loop polls, runs the batch's rows
concurrently, and sleeps only when there was nothing to do; a handler records its own outcome
(finish, retry with `Backoff`, give up), so a failing row never stops the loop, and neither
does a database that went away. Stopping is safe at any point for the same reason a crash is:
an unfinished claim runs out and the row is done again, idempotently.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.store.leases import now_utc
from fhir_sync.worker.pause import pause

log = logging.getLogger("fhir_sync.worker.loop")

T = TypeVar("T")
R = TypeVar("R")


class LeasedWork(Protocol[T]):
    """One kind of leased row. `claim` is a database call (run in a thread); `handle` records
    how the row went and raises for nothing but a stop."""

    name: str

    def claim(self) -> list[T]: ...

    async def handle(self, item: T) -> None: ...


async def drain_batch(work: LeasedWork[T]) -> int:
    """Claim one batch and handle its rows concurrently; how many were claimed."""
    claimed = await asyncio.to_thread(work.claim)
    await asyncio.gather(*(work.handle(item) for item in claimed))
    return len(claimed)


async def lease_loop(work: LeasedWork[T], stop: asyncio.Event, poll: float) -> None:
    """Until `stop` is set: drain `work`, sleeping `poll` seconds whenever nothing was due."""
    while not stop.is_set():
        try:
            done = await drain_batch(work)
        except Exception:  # the database went away: keep the loop, try again shortly
            log.exception("%s could not claim its rows", work.name)
            done = 0
        if not done:
            await pause(stop, poll)


async def clock_loop(
    name: str, run: Callable[[], Awaitable[object]], stop: asyncio.Event, interval: float
) -> None:
    """Until `stop` is set: `run`, then wait `interval` seconds (a failure waits too)."""
    while not stop.is_set():
        try:
            await run()
        except Exception:
            log.exception("%s failed; run again at the next interval", name)
        await pause(stop, interval)


@dataclass(frozen=True, slots=True)
class Leases:
    """A lease queue in the runner: drained by `work`, polled every `poll` seconds when idle."""

    work: LeasedWork[Any]
    poll: float

    def loop(self, stop: asyncio.Event) -> Awaitable[None]:
        return lease_loop(self.work, stop, self.poll)


@dataclass(frozen=True, slots=True)
class Every:
    """A clock job in the runner: `run` every `interval` seconds."""

    name: str
    run: Callable[[], Awaitable[object]]
    interval: float

    def loop(self, stop: asyncio.Event) -> Awaitable[None]:
        return clock_loop(self.name, self.run, stop, self.interval)


Job = Leases | Every


async def run_jobs(jobs: Sequence[Job], stop: asyncio.Event) -> None:
    """Every job side by side until `stop` is set."""
    await asyncio.gather(*(job.loop(stop) for job in jobs))


@dataclass(slots=True)
class Backoff:
    """When a failed row is tried again: exponential in its attempts, capped at `most`, with
    jitter between half and all of the step, so rows that failed together (an EHR outage) do
    not all come back at the same moment; never after `attempts` claims."""

    base: float
    most: float
    attempts: int
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def of(cls, settings: LiveSettings, rng: random.Random | None = None) -> Backoff:
        """The write-back settings' backoff, which every lease-queue worker retries by."""
        return cls(
            settings.retry_base,
            settings.retry_max,
            settings.outbox_max_attempts,
            rng or random.Random(),
        )

    def retry_at(self, attempts: int) -> datetime | None:
        """When to try again after `attempts` claims, or None when they are used up."""
        if attempts >= self.attempts:
            return None
        step = min(self.most, self.base * 2 ** (attempts - 1))
        return now_utc() + timedelta(seconds=step * self.rng.uniform(0.5, 1.0))


async def renewing(renew: Callable[[], bool], every: float, work: Awaitable[R]) -> R:
    """`work`, with `renew` (a database call: extend the lease) run every `every` seconds
    while it runs, so a long handler keeps its row; renewing stops once the row is lost."""

    async def keep() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if not await asyncio.to_thread(renew):
                    return
            except Exception:  # the next renewal, or the lease's end, decides
                log.exception("renewing a lease failed")

    keeper = asyncio.create_task(keep())
    try:
        return await work
    finally:
        keeper.cancel()
