"""`fhir-sync worker`: the server's background work as a process of its own.

A deployment can run the HTTP API (`fhir-sync serve` with `FHIR_SYNC_OUTBOX_WORKERS=0`) and the
write-back apart, scaling each on its own; any number of workers may share one PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Annotated

import typer


def worker(
    outbox_workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Concurrent write-back loops (default FHIR_SYNC_OUTBOX_WORKERS, else 2)."
        ),
    ] = None,
) -> None:
    """Drain the outbox to the EHRs, run requested syncs and Bulk exports and resume ended
    holds, until stopped.

    Database and settings from the environment, as for `fhir-sync serve`."""
    import asyncio
    import logging

    from fhir_sync.cli.database import command_settings, open_command_database, startup_report
    from fhir_sync.services.live_settings import OUTBOX_WORKERS_ENV, LiveSettings
    from fhir_sync.services.log_privacy import protect_logs
    from fhir_sync.worker.background import run_standalone

    if outbox_workers is not None:
        os.environ[OUTBOX_WORKERS_ENV] = str(outbox_workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    protect_logs()
    settings = command_settings()
    engine = open_command_database(settings, create=True)
    try:
        for line in startup_report(settings, engine):
            logging.getLogger("fhir_sync.worker").info("%s", line)
    finally:
        engine.dispose()
    # Migrated above: the workers need not take the migration lock again.
    ready = dataclasses.replace(settings, migrate_on_start=False)
    asyncio.run(run_standalone(ready, LiveSettings.from_env()))
