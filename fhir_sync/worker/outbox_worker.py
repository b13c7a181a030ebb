"""Draining the outbox: send each queued plan to its EHR, at least once and never twice at once.

The plan and its outbox row were committed together (see `enrollment_service`), so a plan the
EHR must hear about is never lost; this loop makes sure it hears. Delivery is at least once: a
worker that dies after the EHR applied a bundle but before marking the row done leaves it to be
sent again when its lease ends. That is safe because every entry of the bundle is a
conditional update by identifier (or, entry by entry, the same idempotent writes as
`fhir-sync sync`): sending it again leaves exactly one CarePlan, Appointment and Task each.

What "never twice at once" rests on: a row is owned by one worker while its lease runs (row
claims in `store.outbox`), and a send is abandoned before the lease ends, so the row is only
taken over once its first sender has stopped waiting for the EHR.

Failures the EHR may get over (no answer, 408, 429, 5xx, 401/403 while credentials are
fixed) are retried with exponential backoff and jitter, on top of the HTTP client's own quick
retries; a rejected bundle (400, 412, 422...) is given up at once, and any write after
`max_attempts` claims. The reasons recorded are the HTTP client's messages, which name
methods, paths and status codes, never patient data.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final

import orjson
from sqlalchemy import Engine

from adapters.http import FhirClient, FhirError
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.store.outbox import ClaimedWrite, claim_outbox, complete, fail, now_utc
from fhir_sync.sync.writeback import FhirPlanWriter
from fhir_sync.worker.loop import Backoff, drain_batch, lease_loop

log = logging.getLogger("fhir_sync.worker.outbox")

#: Statuses a later attempt may get past: the EHR is overloaded, down, or our token is being
#: fixed. 501 and 505 describe what the EHR cannot do at all.
RETRYABLE: Final = frozenset({401, 403, 408, 429, 500, 502, 503, 504})
#: Part of the lease kept free after a send gives up, for marking the row.
LEASE_MARGIN: Final = 0.2

Sender = Callable[[FhirClient, ClaimedWrite], Awaitable[None]]


async def send_bundle(client: FhirClient, write: ClaimedWrite) -> None:
    """One transaction when the EHR supports them, else the entries one by one."""
    bundle = orjson.loads(write.bundle)
    await FhirPlanWriter(client).write(write.patient_id, bundle, None)


def is_retryable(error: FhirError) -> bool:
    return error.status is None or error.status in RETRYABLE


class OutboxWorker:
    """One drain loop (`worker.loop`); a process runs several (`LiveSettings.outbox_workers`)."""

    def __init__(
        self,
        engine: Engine,
        clients: EndpointClients,
        worker_id: str,
        *,
        send: Sender = send_bundle,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.clients = clients
        self.worker_id = worker_id
        self.name = f"outbox worker {worker_id}"
        self.settings: LiveSettings = clients.settings
        self._send = send
        self._backoff = Backoff.of(self.settings, rng)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: claim due writes and send them; sleep when there are none."""
        await lease_loop(self, stop, self.settings.poll_interval)

    async def drain_once(self) -> int:
        """Claim one batch and send it (the batch's rows concurrently); how many were claimed."""
        return await drain_batch(self)

    def claim(self) -> list[ClaimedWrite]:
        lease = timedelta(seconds=self.settings.outbox_lease)
        return claim_outbox(self.engine, self.worker_id, self.settings.outbox_batch, lease=lease)

    async def handle(self, item: ClaimedWrite) -> None:
        await self.deliver(item)

    async def deliver(self, write: ClaimedWrite) -> None:
        """Send one claimed write and record how it went; never raises for the EHR's sake.

        The lease is not renewed: the send is abandoned before it ends instead, so a row is
        only taken over once its first sender has stopped waiting for the EHR."""
        budget = (write.claimed_until - now_utc()).total_seconds() - LEASE_MARGIN * (
            self.settings.outbox_lease
        )
        try:
            if budget <= 0:
                raise TimeoutError
            client = await self.clients.client(write.endpoint)
            async with asyncio.timeout(budget):
                await self._send(client, write)
        except FhirError as error:
            await self._failed(write, error.message, retry=is_retryable(error))
        except TimeoutError:
            await self._failed(write, "no answer from the EHR within the lease", retry=True)
        except Exception as error:  # a bug must not stop the loop; the type names no patient
            log.exception("outbox write %d failed unexpectedly", write.id)
            await self._failed(write, f"internal error: {type(error).__name__}", retry=True)
        else:
            if not await asyncio.to_thread(complete, self.engine, write.id, self.worker_id):
                log.warning("outbox write %d was sent after its lease ended", write.id)

    async def _failed(self, write: ClaimedWrite, reason: str, *, retry: bool) -> None:
        retry_at = self.retry_at(write.attempts) if retry else None
        if retry_at is None:
            log.warning(
                "outbox write %d given up after %d attempt(s): %s", write.id, write.attempts, reason
            )
        else:
            log.info("outbox write %d failed, retried later: %s", write.id, reason)
        await asyncio.to_thread(
            fail, self.engine, write.id, self.worker_id, reason, retry_at=retry_at
        )

    def retry_at(self, attempts: int) -> datetime | None:
        """When to try again after `attempts` claims, or None when they are used up."""
        return self._backoff.retry_at(attempts)
