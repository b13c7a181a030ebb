"""Running Bulk Data exports in the background of a server process.

An export pages through the payer's stored resources by keyset inside one snapshot and
appends the stored bytes, unparsed, to an NDJSON file that is written to the database when it
reaches `file_bytes`: memory holds one page and one file, never the population. Jobs live in
the database (`fhir_sync.store.exports`, a lease queue of `store.leases`), so a status poll at
any server process can answer, and can restart a job whose process died (its lease ran out).

The runner is a lease queue of the worker's one loop (`worker.loop`): wherever background
work runs (`fhir-sync serve`, with any FHIR_SYNC_OUTBOX_WORKERS, or `fhir-sync worker`), the
loop claims queued jobs, and jobs whose process died, and runs each on a thread (an export
reads one database snapshot synchronously). An app built without background work (tests, an
embedded app) has no loop: there the API's kick-off and status polls hand the job to a small
thread pool of the runner's own, which claims it the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from time import monotonic
from typing import Final

from sqlalchemy import Connection, Engine

from fhir_sync.store.database import snapshot_transaction, write_transaction
from fhir_sync.store.exports import (
    FileInfo,
    Lease,
    add_file,
    claim_job,
    claim_jobs,
    fail_job,
    finish_job,
    get_job,
    record_progress,
    release_job,
)
from fhir_sync.store.leases import now_utc, process_name
from fhir_sync.store.search import ResourceQuery, TimeRange, UpdatedIn, count_matches, search_page
from fhir_sync.store.tables import ExportJob

log = logging.getLogger("fhir_sync.services.export")
KEEP_FOR: Final = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ExportLimits:
    """`page`: rows read per query; `file_bytes`: an output file is closed once this big;
    `lease`: how long a silent process keeps its job before another may take it over."""

    page: int = 1000
    file_bytes: int = 4 * 2**20
    lease: timedelta = timedelta(seconds=60)
    threads: int = 2


class _JobLostError(Exception):
    """The job was cancelled or taken over while this process was writing it."""


class ExportRunner:
    """This process's export jobs: a lease queue of the worker's loop (`claim`, `handle`) when
    `looped`, else a small thread pool running the jobs the API submits."""

    def __init__(
        self, engine: Engine, limits: ExportLimits | None = None, *, looped: bool = False
    ) -> None:
        self.engine = engine
        self.limits = limits or ExportLimits()
        self.lease = Lease(process_name(), self.limits.lease)
        self.name = f"export runner {self.lease.worker}"
        self.looped = looped
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def claim(self) -> list[ExportJob]:
        """Up to `threads` unfinished jobs nobody holds (the loop's claim)."""
        if self._stopping.is_set():
            return []
        return claim_jobs(self.engine, self.lease, self.limits.threads)

    async def handle(self, item: ExportJob) -> None:
        """Run one claimed job on a thread. Cancelled (the process is stopping), the thread
        gives the job up at its next page, so another process takes it over at once."""
        try:
            await asyncio.to_thread(self.run_claimed, item)
        except asyncio.CancelledError:
            self.stop()
            raise

    def submit(self, job_id: str) -> None:
        """The API asked for the job (a kick-off, or a poll of a job nobody holds): a loop
        claims it at its next poll; without one, a pool thread claims it now (a claim decides
        races)."""
        if self.looped:
            return
        with self._lock:
            if self._stopping.is_set():
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.limits.threads, thread_name_prefix="export")
            self._pool.submit(self.run, job_id)

    def stop(self) -> None:
        """Running jobs give up their claim at the next page, so another process can take
        them over at once instead of after the lease; nothing more is claimed."""
        self._stopping.set()

    def close(self) -> None:
        """Stop, and wait for the pool's jobs to give up."""
        with self._lock:
            self.stop()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, job_id: str) -> None:
        """Claim and run one job; returns when it is done, failed, lost or released."""
        with write_transaction(self.engine) as connection:
            if not claim_job(connection, job_id, self.lease, now_utc()):
                return
            job = get_job(connection, job_id)
        assert job is not None
        self.run_claimed(job)

    def run_claimed(self, job: ExportJob) -> None:
        """Run a job this process holds until it is done, failed, lost or released."""
        job_id = job.id
        try:
            self._export(job)
        except _JobLostError:
            log.info("export %s was cancelled or taken over", job_id)
        except _StoppingError:
            with write_transaction(self.engine) as connection:
                release_job(connection, job_id, self.lease, now_utc())
        except Exception as exc:
            reference = uuid.uuid4().hex
            log.error(
                "export %s failed, reference %s: %s\n%s",
                job_id,
                reference,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            with write_transaction(self.engine) as connection:
                fail_job(
                    connection,
                    job_id,
                    self.lease,
                    now_utc(),
                    f"the export failed (reference {reference}); start a new one",
                )

    def _export(self, job: ExportJob) -> None:
        # Taken before the snapshot: every change committed by now is in the export.
        transaction_time = now_utc()
        filters: tuple[UpdatedIn, ...] = ()
        if job.since is not None:
            filters = (UpdatedIn((TimeRange("ge", job.since, job.since),)),)
        queries = [
            ResourceQuery(kind, filters=filters, payer=job.payer, limit=self.limits.page)
            for kind in job.types.split(",")
        ]
        with snapshot_transaction(self.engine) as reading:
            total = sum(count_matches(reading, query) for query in queries)
            writer = _FileWriter(self, job.id)
            writer.progress(total=total)
            for query in queries:
                self._export_type(reading, query, writer)
        with write_transaction(self.engine) as connection:
            done = finish_job(
                connection,
                job.id,
                self.lease,
                now_utc(),
                transaction_time=transaction_time,
                keep_for=KEEP_FOR,
            )
        if not done:
            raise _JobLostError

    def _export_type(self, reading: Connection, query: ResourceQuery, writer: _FileWriter) -> None:
        after: str | None = None
        while True:
            if self._stopping.is_set():
                raise _StoppingError
            rows = search_page(reading, replace(query, after=after))
            for _, body in rows:
                writer.append(query.resource_type, body)
            writer.beat()
            if len(rows) < query.limit:
                break
            after = rows[-1][0]
        writer.flush()


class _StoppingError(Exception):
    """This process is shutting down."""


class _FileWriter:
    """Collects one output file's lines and stores the file when it is big enough."""

    def __init__(self, runner: ExportRunner, job_id: str) -> None:
        self.runner = runner
        self.job_id = job_id
        self.buffer = bytearray()
        self.kind = ""
        self.count = 0
        self.seq = 0
        self.exported = 0
        self.last_beat = monotonic()

    def append(self, kind: str, body: bytes) -> None:
        if kind != self.kind:
            self.flush()
            self.kind = kind
        self.buffer += body
        self.buffer += b"\n"
        self.count += 1
        if len(self.buffer) >= self.runner.limits.file_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.count:
            return
        self.seq += 1
        self.exported += self.count
        file = FileInfo(self.seq, self.kind, self.count)
        self._write(add_file, file, bytes(self.buffer), exported=self.exported)
        self.buffer = bytearray()
        self.count = 0

    def beat(self) -> None:
        """Renew the lease when no file was stored for a while (a slow, sparse export)."""
        if monotonic() - self.last_beat > self.runner.limits.lease.total_seconds() / 4:
            self.progress()

    def progress(self, total: int | None = None) -> None:
        self._write(record_progress, exported=self.exported, total=total)

    def _write(self, store: Callable[..., bool], *args: object, **values: object) -> None:
        """One write of the job (`store`: a `store.exports` call taking the connection, the
        job, the lease and the time first), which renews the lease and re-checks the claim:
        the job is lost (cancelled, taken over) when it is not ours any more."""
        with write_transaction(self.runner.engine) as connection:
            held = store(connection, self.job_id, self.runner.lease, now_utc(), *args, **values)
        if not held:
            raise _JobLostError
        self.last_beat = monotonic()
