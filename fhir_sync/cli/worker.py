"""`fhir-sync worker`: the server's background work as a process of its own.

A deployment can run the HTTP API (`fhir-sync serve` with `FHIR_SYNC_OUTBOX_WORKERS=0`) and the
write-back apart, scaling each on its own; any number of workers may share one PostgreSQL.
"""

from __future__ import annotations

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
    """Drain the outbox to the EHRs, run requested syncs and resume ended holds, until stopped.

    Database and settings from the environment, as for `fhir-sync serve`."""
    import asyncio
    import logging

    from fhir_sync.server.background import run_standalone
    from fhir_sync.server.live_settings import OUTBOX_WORKERS_ENV, LiveSettings
    from fhir_sync.server.settings import ServerSettings

    if outbox_workers is not None:
        os.environ[OUTBOX_WORKERS_ENV] = str(outbox_workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_standalone(ServerSettings.from_env(), LiveSettings.from_env()))
