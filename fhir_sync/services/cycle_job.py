"""The daily cycle run as a background job: the worker (`fhir-sync worker`, or the server's
background work) runs the day's derivation every `interval` seconds, a clock job of its loop
runner (`worker.loop`).

Running the same day again creates nothing twice, so running it often is cheap and safe: a
day is finished as soon as a run completes, and a worker killed mid-run (each batch is one
transaction) simply redoes the unfinished batches on its next pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine

from fhir_sync.services.cycle_run import run_cycle_day

log = logging.getLogger("fhir_sync.cycle")


async def run_cycle_once(engine: Engine, today: Callable[[], date]) -> None:
    """Derive the pharmacy's day (`today`, in its time zone) once."""
    summary = await asyncio.to_thread(run_cycle_day, engine, today())
    if summary.items_created:
        log.info(
            "cycle day %s: %d enrollment(s), %d new item(s)",
            summary.day.isoformat(),
            summary.enrollments,
            summary.items_created,
        )
