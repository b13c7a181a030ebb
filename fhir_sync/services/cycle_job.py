"""The daily cycle run as a background job: the worker (`fhir-sync worker`, or the server's
background work) runs the day's derivation every `interval` seconds.

Running the same day again creates nothing twice, so running it often is cheap and safe: a
day is finished as soon as a run completes, and a worker killed mid-run (each batch is one
transaction) simply redoes the unfinished batches on its next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine

from fhir_sync.services.cycle_run import run_cycle_day

log = logging.getLogger("fhir_sync.cycle")


async def cycle_loop(
    engine: Engine, today: Callable[[], date], stop: asyncio.Event, interval: float
) -> None:
    """Until `stop`: derive the pharmacy's day (`today`, in its time zone), then wait."""
    while not stop.is_set():
        try:
            summary = await asyncio.to_thread(run_cycle_day, engine, today())
            if summary.items_created:
                log.info(
                    "cycle day %s: %d enrollment(s), %d new item(s)",
                    summary.day.isoformat(),
                    summary.enrollments,
                    summary.items_created,
                )
        except Exception:
            log.exception("the cycle run failed; retrying at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
