"""Bulk export jobs and their output files.

A job is claimed with a lease (`store.leases`), like an outbox row: the process running it
renews the lease each time it stores a file, and every write it makes re-checks that it still
holds the job. So a job whose process died is taken over by the next process that notices (a
worker's loop polling the queue, or a status poll reaching an app without one), and a job
cancelled meanwhile stops at its next file instead of writing into a deleted job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, insert, select

from fhir_sync.store.database import write_transaction
from fhir_sync.store.leases import LeaseQueue, claim_one, claim_rows, now_utc, settle
from fhir_sync.store.tables import ExportFile, ExportJob

QUEUED: Final = "queued"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
JOB: Table = ExportJob.__table__  # type: ignore[attr-defined]
FILE: Table = ExportFile.__table__  # type: ignore[attr-defined]
_COLUMNS: Final = tuple(JOB.c.keys())


def _unfinished(jobs: Table, _now: datetime) -> Sequence[ColumnElement[bool]]:
    return (jobs.c.status.in_((QUEUED, RUNNING)),)


def _running(jobs: Table) -> Sequence[ColumnElement[bool]]:
    return (jobs.c.status == RUNNING,)


#: Jobs are claimed by id (the process that was asked, or the one a status poll reached).
QUEUE: Final = LeaseQueue(
    JOB, key="id", order=("created_at", "id"), ready=_unfinished, held=_running, attempts=False
)


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a job and until when it may be presumed alive."""

    worker: str
    length: timedelta

    def until(self, now: datetime) -> datetime:
        return now + self.length


@dataclass(frozen=True, slots=True)
class FileInfo:
    """An output file as the manifest lists it."""

    seq: int
    resource_type: str
    count: int


def create_job(connection: Connection, job: ExportJob) -> None:
    connection.execute(insert(JOB).values(**job.model_dump()))


def get_job(connection: Connection, job_id: str) -> ExportJob | None:
    row = connection.execute(select(JOB).where(JOB.c.id == job_id)).mappings().first()
    return None if row is None else ExportJob(**row)


def needs_worker(job: ExportJob, now: datetime) -> bool:
    """Unfinished and nobody's (never claimed, or its process stopped renewing the lease)."""
    unfinished = job.status in (QUEUED, RUNNING)
    return unfinished and (job.claimed_until is None or job.claimed_until <= now)


#: What a claim starts a job with: whatever a previous holder wrote is discarded (the export
#: restarts on a new snapshot).
_RESTARTED: Final = {"status": RUNNING, "total": 0, "exported": 0}


def claim_job(connection: Connection, job_id: str, lease: Lease, now: datetime) -> bool:
    """Take the job if it is free (the process the API asked, with no loop of its own)."""
    until = lease.until(now)
    if not claim_one(connection, QUEUE, job_id, lease.worker, until, now, **_RESTARTED):
        return False
    _discard_files(connection, (job_id,))
    return True


def claim_jobs(engine: Engine, lease: Lease, limit: int) -> list[ExportJob]:
    """Take up to `limit` unfinished jobs nobody holds, oldest first: queued ones, and those
    whose process died (its lease ran out). The worker's loop claims them this way."""
    now = now_utc()
    with write_transaction(engine) as connection:
        rows = claim_rows(
            connection, QUEUE, lease.worker, limit, lease.until(now), now, _COLUMNS, **_RESTARTED
        )
        jobs = [ExportJob(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]
        _discard_files(connection, [job.id for job in jobs])
    return sorted(jobs, key=lambda job: (job.created_at, job.id))


def _discard_files(connection: Connection, job_ids: Sequence[str]) -> None:
    if job_ids:
        connection.execute(delete(FILE).where(FILE.c.job_id.in_(job_ids)))


def record_progress(
    connection: Connection,
    job_id: str,
    lease: Lease,
    now: datetime,
    *,
    exported: int,
    total: int | None = None,
) -> bool:
    """Renew the lease and note the progress; False when the job is no longer ours."""
    values: dict[str, object] = {"exported": exported}
    if total is not None:
        values["total"] = total
    until = lease.until(now)
    return settle(connection, QUEUE, job_id, lease.worker, now, claimed_until=until, **values)


def add_file(
    connection: Connection,
    job_id: str,
    lease: Lease,
    now: datetime,
    file: FileInfo,
    body: bytes,
    *,
    exported: int,
) -> bool:
    """Store one output file, renewing the lease; False (nothing stored) when the job is no
    longer ours."""
    if not record_progress(connection, job_id, lease, now, exported=exported):
        return False
    connection.execute(
        insert(FILE).values(
            job_id=job_id,
            seq=file.seq,
            resource_type=file.resource_type,
            count=file.count,
            body=body,
        )
    )
    return True


def finish_job(
    connection: Connection,
    job_id: str,
    lease: Lease,
    now: datetime,
    *,
    transaction_time: datetime,
    keep_for: timedelta,
) -> bool:
    return settle(
        connection,
        QUEUE,
        job_id,
        lease.worker,
        now,
        status=COMPLETED,
        transaction_time=transaction_time,
        exported=JOB.c.total,
        claimed_by=None,
        claimed_until=None,
        expires_at=now + keep_for,
    )


def fail_job(connection: Connection, job_id: str, lease: Lease, now: datetime, error: str) -> None:
    """Mark the job failed; `error` is shown to the client, so it must not hold patient data."""
    settle(
        connection,
        QUEUE,
        job_id,
        lease.worker,
        now,
        status=FAILED,
        error=error,
        claimed_by=None,
        claimed_until=None,
    )
    _discard_files(connection, (job_id,))


def release_job(connection: Connection, job_id: str, lease: Lease, now: datetime) -> None:
    """Give the job up (this process is stopping): another process may take it at once."""
    settle(connection, QUEUE, job_id, lease.worker, now, claimed_until=now)


def job_files(connection: Connection, job_id: str) -> list[FileInfo]:
    rows = connection.execute(
        select(FILE.c.seq, FILE.c.resource_type, FILE.c.count)
        .where(FILE.c.job_id == job_id)
        .order_by(FILE.c.seq)
    )
    return [FileInfo(row[0], row[1], row[2]) for row in rows]


def file_body(connection: Connection, job_id: str, seq: int) -> bytes | None:
    return connection.execute(
        select(FILE.c.body).where(FILE.c.job_id == job_id, FILE.c.seq == seq)
    ).scalar_one_or_none()


def delete_job(connection: Connection, job_id: str) -> bool:
    """Remove the job and its files. The job row goes first: a worker writing a file at the
    same moment then finds the job gone and stops (it re-checks its claim in that write)."""
    deleted = connection.execute(delete(JOB).where(JOB.c.id == job_id))
    connection.execute(delete(FILE).where(FILE.c.job_id == job_id))
    return bool(deleted.rowcount)


def delete_expired(connection: Connection, now: datetime) -> int:
    expired = list(connection.scalars(select(JOB.c.id).where(JOB.c.expires_at <= now)))
    for job_id in expired:
        delete_job(connection, job_id)
    return len(expired)
