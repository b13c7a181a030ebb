"""The server's background work, in `fhir-sync serve` (the app's lifespan) or alone in
`fhir-sync worker`: write-back workers draining the outbox, a worker running requested syncs,
the Bulk export runner, and a periodic check that resumes ended holds.

Each is a job of the one loop runner (`worker.loop`): the outbox, the requests and the export
jobs are lease queues, the hold check and the daily cycle clock jobs. Every piece claims its
rows with leases, so any number of processes on one database can run it; stopping cancels
whatever is in flight, which is safe for the same reason a crash is: an unfinished claim runs
out and the row is done again, idempotently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from datetime import date
from functools import partial
from typing import Final

from sqlalchemy import Engine

from fhir_sync.services.cycle_job import run_cycle_once
from fhir_sync.services.cycle_run import pharmacy_today
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.enrollment import EnrollmentService
from fhir_sync.services.exports import ExportRunner
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.services.live_sync import FhirLivePull
from fhir_sync.services.server_settings import ServerSettings, today_for
from fhir_sync.settings import WorkerSection
from fhir_sync.store.database import open_engine
from fhir_sync.store.leases import process_name
from fhir_sync.store.migrate import upgrade
from fhir_sync.worker.loop import Every, Job, Leases, run_jobs
from fhir_sync.worker.outbox_worker import OutboxWorker
from fhir_sync.worker.sync_request_worker import SyncRequestWorker, resume_ended_holds

log = logging.getLogger("fhir_sync.worker.background")

#: How long a stop waits for in-flight sends before cancelling them.
GRACE_SECONDS: Final = 5.0


def _cycle_interval() -> float:
    return WorkerSection.from_env().cycle_interval


class BackgroundWork:
    """The jobs of one process, on the enrollment service's database."""

    def __init__(
        self,
        service: EnrollmentService,
        clients: EndpointClients,
        *,
        exports: ExportRunner | None = None,
        name: str | None = None,
        fixed_day: date | None = None,
    ) -> None:
        self.service = service
        self.clients = clients
        self.engine = service.engine
        # The app's runner when serving (its kick-offs leave the jobs to this loop), else ours.
        self.exports = exports or ExportRunner(self.engine, looped=True)
        self.name = name or process_name()
        self.fixed_day = fixed_day

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set. The stop also reaches the running exports, which give their
        jobs up at the next page: an export may run for minutes, the other queues' rows not."""
        stopping = asyncio.create_task(self._stop_exports(stop))
        try:
            await run_jobs(self.jobs(), stop)
        finally:
            stopping.cancel()

    async def _stop_exports(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.exports.stop()

    def jobs(self) -> list[Job]:
        """The outbox workers, the requested syncs, the exports, the hold check and the daily
        cycle. The exports run whatever FHIR_SYNC_OUTBOX_WORKERS says (0 too), as the API's
        kick-offs expect of the process they reached."""
        settings = self.clients.settings
        poll = settings.poll_interval
        jobs: list[Job] = [
            Leases(OutboxWorker(self.engine, self.clients, f"{self.name}:outbox-{index}"), poll)
            for index in range(settings.outbox_workers)
        ]
        syncs = SyncRequestWorker(self.service, settings, f"{self.name}:sync")
        jobs.append(Leases(syncs, poll))
        jobs.append(Leases(self.exports, poll))
        jobs.append(
            Every(
                "checking for ended holds",
                partial(resume_ended_holds, self.service, settings),
                settings.hold_check_interval,
            )
        )
        jobs.append(
            Every(
                "the cycle run",
                partial(run_cycle_once, self.engine, self._cycle_day),
                _cycle_interval(),
            )
        )
        log.info("background work started: %d outbox worker(s)", settings.outbox_workers)
        return jobs

    def _cycle_day(self) -> date:
        """The pharmacy's day: the service's fixed day if set (tests), else today in the
        pharmacy's time zone."""
        if self.fixed_day is not None:
            return self.fixed_day
        return pharmacy_today(self.service.pickup.time_zone)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Runs in the background for the duration of the block (the app's lifespan)."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop))
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=GRACE_SECONDS)
            except TimeoutError:
                log.warning("background work cancelled after %.0f s", GRACE_SECONDS)


def serving_workers(
    engine: Engine,
    service: EnrollmentService,
    clients: EndpointClients,
    exports: ExportRunner,
    settings: ServerSettings,
) -> contextlib.AbstractAsyncContextManager[None]:
    """The background work of a server process, for the app's lifespan (`create_app(workers=)`)."""
    assert service.engine is engine  # the app's service, on the app's database
    work = BackgroundWork(service, clients, exports=exports, fixed_day=settings.today)
    return work.running()


async def run_standalone(settings: ServerSettings, live: LiveSettings) -> None:
    """`fhir-sync worker`: the background work without the HTTP API, until SIGTERM/SIGINT."""
    from fhir_sync.services import cycle_resources

    cycle_resources.install()
    engine = open_engine(settings.database_url)
    if settings.migrate_on_start:
        await asyncio.to_thread(upgrade, engine)
    clients = EndpointClients(live)
    service = EnrollmentService(
        engine,
        today=partial(today_for, settings),
        live=FhirLivePull(clients),
        pickup=settings.pickup,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await BackgroundWork(service, clients, fixed_day=settings.today).run(stop)
    finally:
        await clients.aclose()
        engine.dispose()
