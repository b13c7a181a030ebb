"""Writing audit rows off the request path, in batches.

A read must not wait for its audit row: in the read's own transaction it would turn every read
into a write (on SQLite, one at a time behind the write lock), and a separate write per request
would cost a commit each. Requests hand their `Access` to a queue; one thread per server process
writes what has queued up during `linger` (100 ms) as one transaction, so a busy server commits
about ten times a second however many requests it serves, and an idle one writes each access
within 100 ms. `flush` writes at once and waits for everything queued so far (the AuditEvent
search uses it, so a pharmacy sees its process's latest events).

Measured (bench/audit_overhead.py): the writer spends about 45 us of CPU per row on SQLite
(the insert and its five indexes) and 35 us on PostgreSQL (one `unnest` INSERT per batch; an
executemany cost 60 us), against roughly a millisecond for the read that caused it.

What this trades: an access is answered before its row is committed, so a process killed with
SIGKILL loses the accesses of its last batch (a normal shutdown writes them all). If the
database refuses writes for long, the queue is bounded and further accesses are dropped with an
error logged, rather than the server running out of memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Final

from sqlalchemy import Connection, Engine

from fhir_sync.api.audit.access import Access
from fhir_sync.store.audit import insert_audit_rows, patients_of
from fhir_sync.store.database import write_transaction
from mappings.kinds import AUDIT_PATIENT_TYPES

log = logging.getLogger("fhir_sync.api.audit")

PATIENT_TYPES: Final = AUDIT_PATIENT_TYPES  # stored with their patient's id
_ATTEMPTS: Final = 3


class AuditWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        batch: int = 1000,
        linger: float = 0.1,
        capacity: int = 100_000,
        retry: float = 1.0,
    ) -> None:
        self._engine = engine
        self._batch = batch
        self._linger = linger
        self._flushing = 0
        self._capacity = capacity
        self._retry = retry
        self._pending: deque[Access] = deque()
        self._submitted = 0
        self._done = 0
        self._dropped = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()

    def submit(self, access: Access) -> None:
        with self._changed:
            self._submitted += 1
            if len(self._pending) >= self._capacity or self._closing:
                self._done += 1
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    log.error("audit queue full or closed: %d accesses not audited", self._dropped)
                return
            self._pending.append(access)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fhir-sync-audit", daemon=True
                )
                self._thread.start()
            if len(self._pending) in (1, self._batch):  # wakes the writer: idle, or batch full
                self._changed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every access submitted before this call is written (or given up)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            target = self._submitted
            self._flushing += 1
            self._changed.notify_all()
            try:
                while self._done < target:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._changed.wait(remaining)
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (the app's shutdown)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closing:
                    self._changed.wait()
                if not self._pending:
                    return
                gather_until = time.monotonic() + self._linger
                while len(self._pending) < self._batch and not (self._flushing or self._closing):
                    remaining = gather_until - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                batch = [
                    self._pending.popleft() for _ in range(min(self._batch, len(self._pending)))
                ]
            self._write(batch)
            with self._changed:
                self._done += len(batch)
                self._changed.notify_all()

    def _write(self, batch: Sequence[Access]) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with write_transaction(self._engine) as connection:
                    insert_audit_rows(connection, _rows(connection, batch))
                return
            except Exception as exc:  # the writer must survive any database trouble
                log.error(
                    "writing %d audit accesses failed (attempt %d): %s",
                    len(batch),
                    attempt,
                    type(exc).__name__,
                )
                if attempt < _ATTEMPTS and not self._closing:
                    time.sleep(self._retry * attempt)
        log.error("%d accesses not audited after %d attempts", len(batch), _ATTEMPTS)


def _rows(connection: Connection, batch: Sequence[Access]) -> list[dict[str, object]]:
    """One row per access and patient it disclosed (plans, appointments and tasks name their
    patient in the store, looked up here for the whole batch at once)."""
    wanted: dict[str, set[str]] = {}
    for access in batch:
        for kind, ids in access.disclosed:
            if kind in PATIENT_TYPES:
                wanted.setdefault(kind, set()).update(ids)
    owners = {kind: patients_of(connection, kind, list(ids)) for kind, ids in wanted.items()}
    rows: list[dict[str, object]] = []
    for access in batch:
        patients = {access.patient_id} if access.patient_id else set()
        for kind, ids in access.disclosed:
            if kind == "Patient":
                patients.update(ids)
            elif kind in owners:
                patients.update(owners[kind][rid] for rid in ids if rid in owners[kind])
        named: list[str | None] = [*sorted(patients)] or [None]
        rows += [_row(access, patient) for patient in named]
    return rows


def _row(access: Access, patient_id: str | None) -> dict[str, object]:
    return {
        "recorded": access.recorded,
        "client_id": access.client_id,
        "role": access.role,
        "action": access.action,
        "interaction": access.interaction,
        "resource_type": access.resource_type,
        "resource_id": access.resource_id,
        "patient_id": patient_id,
        "outcome": access.outcome,
        "status": access.status,
        "query": access.query,
    }
