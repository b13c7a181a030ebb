"""Running requested syncs: pull the patient from the enrollment's endpoints and re-plan.

Requests come from change notifications and from holds that have ended; both need the same
work as `$sync` (or `$resume`, for an ended hold), done by the enrollment service, so the plan,
its version and its outbox write commit together exactly as for the API call. The requests are
a lease queue on the one loop (`worker.loop`); the check for ended holds is a clock job there.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from fhir_sync.services.enrollment import EnrollmentService, endpoints_of
from fhir_sync.services.errors import (
    DomainError,
    NotEnrolledError,
    StateConflictError,
    UpstreamFailedError,
)
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.services.plan_resources import ON_HOLD, REVOKED
from fhir_sync.store.database import write_transaction
from fhir_sync.store.leases import now_utc
from fhir_sync.store.sync_requests import (
    ClaimedSync,
    claim_sync_requests,
    finish_sync_request,
    renew_sync_request,
    request_ended_holds,
    retry_sync_request,
)
from fhir_sync.worker.loop import Backoff, drain_batch, lease_loop, renewing

log = logging.getLogger("fhir_sync.worker.syncs")

#: A pull the endpoint may answer next time (it failed or timed out).
RETRYABLE: Final = (UpstreamFailedError,)
#: Nothing to do any more: not enrolled, or unenrolled meanwhile.
SETTLED: Final = (NotEnrolledError, StateConflictError)
BATCH: Final = 4


class SyncRequestWorker:
    """The requests' handler on the one loop; a request's lease is renewed while its sync runs
    (a pull may be slow), so no second worker syncs the same patient meanwhile."""

    def __init__(
        self,
        service: EnrollmentService,
        settings: LiveSettings,
        worker_id: str,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.service = service
        self.engine = service.engine
        self.settings = settings
        self.worker_id = worker_id
        self.name = f"sync worker {worker_id}"
        self.lease = timedelta(seconds=settings.outbox_lease)
        self._backoff = Backoff.of(settings, rng)

    async def run(self, stop: asyncio.Event) -> None:
        await lease_loop(self, stop, self.settings.poll_interval)

    async def drain_once(self) -> int:
        return await drain_batch(self)

    def claim(self) -> list[ClaimedSync]:
        return claim_sync_requests(self.engine, self.worker_id, BATCH, lease=self.lease)

    async def handle(self, item: ClaimedSync) -> None:
        await self.process(item)

    async def process(self, request: ClaimedSync) -> None:
        renew = partial(renew_sync_request, self.engine, request, self.worker_id, lease=self.lease)
        try:
            await renewing(renew, self.lease.total_seconds() / 3, self._sync(request.patient_id))
        except DomainError as error:
            if isinstance(error, SETTLED):
                await self._finish(request)
            else:
                retry = isinstance(error, RETRYABLE)
                reason = f"{type(error).__name__}: {error.diagnostics}"
                await self._failed(request, reason, retry)
        except Exception as error:  # a bug must not stop the loop; the type names no patient
            log.exception("a requested sync failed unexpectedly")
            await self._failed(request, f"internal error: {type(error).__name__}", True)
        else:
            await self._finish(request)

    async def _sync(self, patient_id: str) -> None:
        service = self.service
        enrollment = await asyncio.to_thread(service.enrollment, patient_id)
        if enrollment is None or enrollment.status == REVOKED:
            return
        endpoints = endpoints_of(enrollment)
        data = None
        if endpoints.any and service.live is not None:
            data = await service.pull(patient_id, endpoints)
        hold = enrollment.hold_until
        if enrollment.status == ON_HOLD and hold is not None and hold <= service.today():
            await asyncio.to_thread(service.resume, patient_id, data, if_match=None)
        elif data is not None:
            await asyncio.to_thread(service.sync, patient_id, data, [], if_match=None)

    async def _finish(self, request: ClaimedSync) -> None:
        await asyncio.to_thread(finish_sync_request, self.engine, request, self.worker_id)

    async def _failed(self, request: ClaimedSync, reason: str, retry: bool) -> None:
        retry_at = self._retry_at(request.attempts) if retry else None
        if retry_at is None:
            log.warning("a requested sync was given up: %s", reason)
        await asyncio.to_thread(
            retry_sync_request, self.engine, request, self.worker_id, reason, retry_at=retry_at
        )

    def _retry_at(self, attempts: int) -> datetime | None:
        return self._backoff.retry_at(attempts)


async def resume_ended_holds(service: EnrollmentService, settings: LiveSettings) -> None:
    """Once: request a sync (which resumes them) of the patients whose hold has ended."""
    engine = service.engine

    def request() -> int:
        with write_transaction(engine) as connection:
            return request_ended_holds(connection, service.today(), now_utc())

    count = await asyncio.to_thread(request)
    if count:
        log.info("%d ended hold(s) queued for resuming", count)
