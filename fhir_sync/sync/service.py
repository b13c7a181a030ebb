"""`sync_patients`: pull, plan and write back a set of patients, concurrently and safely.

The unit of work is one patient: pull their orders and fills (and the stored CarePlan, at the
same time), plan with the engine, build the sync-plan Bundle, and write it unless the stored
CarePlan already carries the same plan digest. A bounded pool of workers runs patients
concurrently; each endpoint's own limit (in its client) bounds the requests it receives.
Patients are fed from a stream (a list, the EHR's Patient search, a change feed), so the
population is never held.

A patient that fails is reported with a reason and the others go on. A version conflict on
the CarePlan (HTTP 412: someone wrote it since we read it, or a retried write of ours already
landed) re-reads it and re-plans once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from adapters.http import FhirClient, FhirError, PreconditionFailedError
from fhir_sync.engine import PatientPlan, Preferences
from fhir_sync.services.collect import Collected, PatientInputs
from fhir_sync.services.plan_one import plan_in_turn
from fhir_sync.settings.sync import DEFAULT_CONCURRENCY
from fhir_sync.sync.bulk_pull import bulk_collect
from fhir_sync.sync.changes import changed_patients
from fhir_sync.sync.concurrency import both
from fhir_sync.sync.pull import Endpoint, Sources, population, pull_patient
from fhir_sync.sync.report import Outcome, PatientResult, SyncReport
from fhir_sync.sync.stored_plan import StoredPlan, read_stored_plan
from fhir_sync.sync.writeback import FhirPlanWriter, PlanWriter
from mappings.fhir_literals import JsonObject
from mappings.pickup_hours import PickupHours

log = logging.getLogger("fhir_sync.sync")

ResultCallback = Callable[[PatientResult], None]
DEFAULT_WORKERS = DEFAULT_CONCURRENCY  # declared with `[sync] concurrency`


@dataclass(frozen=True, slots=True)
class SyncTargets:
    """Where a run reads from and writes to.

    `dispenses` defaults to the EHR; `target` (where the stored CarePlan is read) to the EHR;
    `writer` to a `FhirPlanWriter` on the target (a dry run passes a `DirectoryPlanWriter`).
    """

    ehr: Endpoint
    dispenses: Endpoint | None = None
    target: Endpoint | None = None
    writer: PlanWriter | None = None

    @property
    def sources(self) -> Sources:
        return Sources(orders=self.ehr, dispenses=self.dispenses or self.ehr)

    @property
    def store(self) -> Endpoint:
        return self.target or self.ehr


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How to plan: the engine's inputs besides the patient's data.

    `keep_anchor` re-plans a synced patient on the anchor date their CarePlan already has
    (moving a patient's pickup day needs a reason; pass False after changing the preferences).
    `load` counts the pickups per day of the plans made or kept in this run, so that the
    pharmacy's daily limit spreads the patients whose anchor is chosen now (in the order their
    inputs arrive, which concurrency makes vary between runs).
    """

    today: date
    prefs: Preferences = field(default_factory=Preferences)
    location: str | None = None
    keep_anchor: bool = True
    workers: int = DEFAULT_WORKERS
    pickup: PickupHours = field(default_factory=PickupHours)
    load: Counter[date] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be >= 1")


@dataclass(frozen=True, slots=True)
class _Job:
    patient_id: str
    #: Already pulled (bulk); None means pull them now.
    inputs: PatientInputs | None = None
    #: The id did not come from the EHR's own Patient list (given by the caller, or named by
    #: a changed order or fill): check the Patient exists before writing a plan for it.
    verify: bool = False


async def sync_patients(
    targets: SyncTargets,
    patient_ids: Iterable[str] | AsyncIterable[str] | None,
    options: SyncOptions,
    *,
    on_result: ResultCallback | None = None,
) -> SyncReport:
    """Syncs the given patients, or every Patient on the EHR when `patient_ids` is None."""
    if patient_ids is None:
        jobs = _jobs(population(targets.ehr.client), verify=False)
    else:
        jobs = _jobs(_aiter(patient_ids), verify=True)
    return await _run(targets, jobs, options, SyncReport(), on_result)


async def sync_changed(
    targets: SyncTargets,
    since: str,
    options: SyncOptions,
    *,
    on_result: ResultCallback | None = None,
) -> SyncReport:
    """Syncs patients whose orders or fills changed after `since` (a FHIR instant).

    `report.cursors` holds each feed's next cursor, and `report.next_since()` one value safe
    for all of them; both are None/absent when the run was cut short.
    """
    report = SyncReport()
    feed = changed_patients(targets.sources, since, report.cursors)
    return await _run(targets, _jobs(feed, verify=True), options, report, on_result)


async def sync_bulk(
    targets: SyncTargets, options: SyncOptions, *, on_result: ResultCallback | None = None
) -> SyncReport:
    """Syncs the whole population pulled with Bulk Data `$export` instead of searches."""
    report = SyncReport()
    try:
        collected = await bulk_collect(targets.sources)
    except FhirError as exc:
        report.aborted = f"bulk export failed: {exc.message}"
        return report
    report.rejections.extend(collected.rejections)
    report.ignored += collected.ignored
    return await _run(targets, _collected_jobs(collected), options, report, on_result)


async def _aiter(ids: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    if isinstance(ids, AsyncIterable):
        async for patient_id in ids:
            yield patient_id
    else:
        for patient_id in ids:
            yield patient_id


async def _jobs(ids: AsyncIterator[str], *, verify: bool) -> AsyncIterator[_Job]:
    async for patient_id in ids:
        yield _Job(patient_id, verify=verify)


async def _collected_jobs(collected: Collected) -> AsyncIterator[_Job]:
    # Popped one by one so planned patients' inputs are freed as the run goes.
    for patient_id in sorted(collected.patients):
        yield _Job(patient_id, collected.patients.pop(patient_id))


async def _run(
    targets: SyncTargets,
    jobs: AsyncIterator[_Job],
    options: SyncOptions,
    report: SyncReport,
    on_result: ResultCallback | None,
) -> SyncReport:
    writer = targets.writer or FhirPlanWriter(targets.store.client)
    queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=options.workers * 2)

    async def worker() -> None:
        while (job := await queue.get()) is not None:
            sync = _sync_patient(targets, writer, options, job, report)
            result = await _or_failure(job.patient_id, sync)
            report.add(result)
            if on_result is not None:
                on_result(result)

    workers = [asyncio.create_task(worker()) for _ in range(options.workers)]
    try:
        async for job in jobs:
            await queue.put(job)
    except FhirError as exc:
        report.aborted = f"listing patients failed: {exc.message}"
        report.cursors.clear()
    finally:
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    return report


async def _or_failure(patient_id: str, sync: Awaitable[PatientResult]) -> PatientResult:
    """`sync`'s result; never raises: whatever goes wrong becomes this patient's failure."""
    try:
        return await sync
    except FhirError as exc:
        return PatientResult(patient_id, Outcome.FAILED, failure_reason(exc))
    except Exception as exc:  # a bug or a broken resource must not stop the other patients
        log.debug("patient sync failed unexpectedly", exc_info=True)
        return PatientResult(patient_id, Outcome.FAILED, f"internal error: {type(exc).__name__}")


async def _sync_patient(
    targets: SyncTargets,
    writer: PlanWriter,
    options: SyncOptions,
    job: _Job,
    report: SyncReport,
) -> PatientResult:
    patient_id = job.patient_id
    store = targets.store.client
    if job.verify and not await _patient_exists(targets.ehr.client, patient_id):
        return PatientResult(patient_id, Outcome.FAILED, "no such Patient on the EHR")
    if job.inputs is None:
        collected, stored = await both(
            pull_patient(targets.sources, patient_id), read_stored_plan(store, patient_id)
        )
        inputs = collected.patients.pop(patient_id, PatientInputs())
        report.ignored += sum(len(i.orders) + len(i.fills) for i in collected.patients.values())
        report.rejections.extend(collected.rejections)
        rejected = len(collected.rejections)
    else:
        inputs, stored, rejected = job.inputs, await read_stored_plan(store, patient_id), 0
    report.pulled += 1

    replanned = False
    while True:
        plan, bundle, digest = _plan(patient_id, inputs, stored, options)
        if stored is not None and stored.digest == digest:
            outcome = Outcome.WRITTEN if replanned else Outcome.UNCHANGED
            return PatientResult(patient_id, outcome, None, plan, digest, rejected, replanned)
        try:
            await writer.write(patient_id, bundle, stored)
        except PreconditionFailedError as exc:
            if replanned:
                reason = f"the CarePlan kept changing during the sync: {failure_reason(exc)}"
                return PatientResult(
                    patient_id, Outcome.FAILED, reason, plan, digest, rejected, True
                )
            # Someone else wrote it, or our own retried write landed: re-read and re-plan once.
            replanned = True
            stored = await read_stored_plan(store, patient_id)
            continue
        return PatientResult(patient_id, Outcome.WRITTEN, None, plan, digest, rejected, replanned)


async def _patient_exists(client: FhirClient, patient_id: str) -> bool:
    try:
        await client.read("Patient", patient_id)
    except FhirError as exc:
        if exc.status in (404, 410):
            return False
        raise
    return True


_INSTANCE_PATH = re.compile(r"/([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}")


def failure_reason(exc: FhirError) -> str:
    """The error's message with resource ids taken out of URL paths (`/Patient/{id}`).

    The message already holds no query or body; an id in a read's path would still name the
    patient in the summary, and would split one cause into as many rows as patients.
    """
    return _INSTANCE_PATH.sub(r"/\1/{id}", exc.message)


def _plan(
    patient_id: str, inputs: PatientInputs, stored: StoredPlan | None, options: SyncOptions
) -> tuple[PatientPlan, JsonObject, str]:
    kept = stored.anchor if options.keep_anchor and stored is not None else None
    planned = plan_in_turn(
        patient_id,
        inputs,
        options.today,
        options.prefs,
        options.load,
        anchor=kept,
        pharmacy=options.location,
        pickup=options.pickup,
    )
    assert planned.digest is not None
    return planned.plan, planned.bundle, planned.digest
