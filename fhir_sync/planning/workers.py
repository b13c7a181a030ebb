"""Sharing `fhir-sync plan` between processes, by patient.

Every worker reads every input line but parses only the lines of its own patients: a cheap
byte search finds a line's patient id (the `subject` reference, or a Patient's own `id`), and
`crc32(id) % workers` names the worker that owns it. The byte search is only a guess, so each
worker checks the patient id the mappings really found; a resource that landed with the wrong
worker (an unusual `subject` layout, a `_history` reference...) goes back to the parent, which
hands it to its owner before anyone plans. So every patient is planned by exactly one worker
from all of its inputs, and nothing mapped crosses a process boundary except those strays
and the small reports: pickling mapped records cost as much as mapping them.
"""

from __future__ import annotations

import multiprocessing
import traceback
import zlib
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from adapters.files import (
    CORRUPT_GZIP,
    InputError,
    RawResource,
    corrupt_gzip_message,
    gzip_problem,
    is_ndjson,
    open_input,
    parse_line,
    read_resources,
)
from fhir_sync.engine.planner import Candidates
from fhir_sync.planning.run import (
    PlanReport,
    PlanSettings,
    Progress,
    anchor_choices,
    pick_anchors,
    plan_collected,
    validated,
)
from fhir_sync.services.collect import (
    Collected,
    Mapped,
    Rejection,
    add,
    map_deferred,
    map_record,
    reject_orphans,
    remember_medication,
)

PROGRESS_EVERY = 20_000  # lines between progress messages


def shard_of(patient_id: str, jobs: int) -> int:
    """The worker that owns a patient; stable across processes (unlike `hash`)."""
    return zlib.crc32(patient_id.encode()) % jobs


def route_key(line: bytes) -> bytes:
    """A guess at the patient id of one NDJSON line, without parsing it."""
    at = line.find(b'"subject"')
    if at < 0:
        at = line.find(b'"id"')
        return _string_value(line, at + 4) if at >= 0 else b""
    at = line.find(b'"reference"', at)
    if at < 0:
        return b""
    return _string_value(line, at + 11).rpartition(b"/")[2]


def _string_value(line: bytes, after_key: int) -> bytes:
    start = line.find(b'"', line.find(b":", after_key) + 1)
    end = line.find(b'"', start + 1) if start >= 0 else -1
    return line[start + 1 : end] if end > start else b""


def plan_in_workers(
    files: list[Path], settings: PlanSettings, jobs: int, ui: Progress
) -> tuple[PlanReport, list[Rejection]]:
    """Run the plan in `jobs` forked worker processes and merge what they report."""
    context = multiprocessing.get_context("fork")
    total_bytes = sum(f.stat().st_size for f in files)
    conns: list[Connection] = []
    procs = []
    for worker in range(jobs):
        parent, child = context.Pipe()
        proc = context.Process(
            target=_worker, args=(worker, jobs, files, settings, child), daemon=True
        )
        proc.start()
        child.close()
        conns.append(parent)
        procs.append(proc)
    try:
        read_done = [0] * jobs
        planned = [0] * jobs

        def on_progress(worker: int, stage: str, value: int) -> None:
            if stage == "reading":
                read_done[worker] = value
                ui.reading(sum(read_done) // jobs, total_bytes)
            else:
                planned[worker] = value
                ui.planning(sum(planned), max(sum(planned), patients))

        patients = 0
        first = _gather(conns, "mapped", on_progress)
        any_declared = any(declared for _, declared, _ in first)
        patients = sum(count for _, _, count in first)
        inbox: list[list[Mapped]] = [[] for _ in range(jobs)]
        for strays, _, _ in first:
            for mapped in strays:
                inbox[shard_of(mapped.patient_id, jobs)].append(mapped)
        for worker, conn in enumerate(conns):
            conn.send((inbox[worker], any_declared))
        choices: dict[str, Candidates] = {}
        for part in _gather(conns, "choices", on_progress):
            choices.update(part)
        chosen = pick_anchors(choices, settings.prefs)
        for worker, conn in enumerate(conns):
            conn.send({p: d for p, d in chosen.items() if shard_of(p, jobs) == worker})
        report = PlanReport()
        rejections: list[Rejection] = []
        for part, rejected in _gather(conns, "done", on_progress):
            report.merge(part)
            rejections.extend(rejected)
        return report, rejections
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        for conn in conns:
            conn.close()


def _gather(
    conns: list[Connection], tag: str, on_progress: Callable[[int, str, int], None]
) -> list[Any]:
    """Each worker's `tag` message, in worker order, handling progress messages meanwhile."""
    results: dict[int, Any] = {}
    index = {id(conn): worker for worker, conn in enumerate(conns)}
    pending = list(conns)
    while pending:
        for ready in wait(pending):
            assert isinstance(ready, Connection)
            worker = index[id(ready)]
            try:
                kind, payload = ready.recv()
            except EOFError:
                raise RuntimeError(f"plan worker {worker} stopped unexpectedly") from None
            if kind == "progress":
                on_progress(worker, *payload)
            elif kind == "error":
                raise RuntimeError(f"plan worker {worker} failed:\n{payload}")
            elif kind == tag:
                results[worker] = payload
                pending.remove(ready)
    return [results[worker] for worker in range(len(conns))]


def _worker(
    worker: int, jobs: int, files: list[Path], settings: PlanSettings, conn: Connection
) -> None:
    try:
        collected = Collected(medications={})
        strays: list[Mapped] = []
        done_bytes = 0

        def read_progress(size: int) -> None:
            nonlocal done_bytes
            done_bytes += size
            conn.send(("progress", ("reading", done_bytes)))

        for file_index, path in enumerate(files):
            records = _records_of(path, worker, jobs, read_progress, collected.medications)
            records = validated(records, settings.validate, collected, file_index)
            for record in records:
                mapped = map_record(record, collected, file_index)
                if mapped is not None:
                    _keep(collected, strays, mapped, worker, jobs)
        for mapped in map_deferred(collected):
            _keep(collected, strays, mapped, worker, jobs)
        conn.send(("mapped", (strays, bool(collected.declared), len(collected.patients))))

        inbox, any_declared = conn.recv()
        for mapped in inbox:
            add(collected, mapped)
        reject_orphans(collected, any_declared)

        def planned(done: int, _total: int) -> None:
            conn.send(("progress", ("planning", done)))

        # The pharmacy's daily limit spans every worker's patients: the parent picks the
        # automatic anchors in patient id order, as one process would.
        choices, prepared = anchor_choices(collected, settings)
        conn.send(("choices", choices))
        chosen = conn.recv()
        report = plan_collected(collected, settings, planned, chosen, prepared)
        conn.send(("done", (report, collected.rejections)))
    except BaseException:  # the parent reports it; a worker never dies silently
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _keep(
    collected: Collected, strays: list[Mapped], mapped: Mapped, worker: int, jobs: int
) -> None:
    """File a mapped record here when this worker owns its patient, else send it on."""
    if shard_of(mapped.patient_id, jobs) == worker:
        add(collected, mapped)
    else:
        strays.append(mapped)


def _records_of(
    path: Path,
    worker: int,
    jobs: int,
    progress: Callable[[int], None],
    medications: dict[str, Any] | None = None,
) -> Iterator[RawResource | InputError]:
    """The records of one file that this worker should map.

    NDJSON lines are split by their patient; other JSON documents go whole to worker 0.
    A Medication line belongs to no patient and any worker's orders may name it: its owner
    maps (and counts) it, every other worker only remembers it in `medications`.
    """
    if not is_ndjson(path):
        if worker == 0:
            yield from read_resources(path)
        progress(path.stat().st_size)
        return
    source = str(path)
    problem = gzip_problem(path)
    if problem is not None:
        if worker == 0:  # one rejection for the file, not one per worker
            yield InputError(source, "file", problem)
        progress(path.stat().st_size)
        return
    unreported = 0
    try:
        with open_input(path) as stream:
            for number, line in enumerate(stream, start=1):
                unreported += len(line)
                if number % PROGRESS_EVERY == 0:
                    progress(unreported)
                    unreported = 0
                if not line.strip():
                    continue
                if zlib.crc32(route_key(line)) % jobs != worker:
                    if medications is not None and _may_be_medication(line):
                        _remember_line(line, medications)
                    continue
                yield from parse_line(line, source, number)
    except CORRUPT_GZIP as exc:
        if worker == 0:
            yield InputError(source, "file", corrupt_gzip_message(exc))
    progress(unreported)


def _may_be_medication(line: bytes) -> bool:
    """Cheap test before parsing: a Medication names no subject."""
    return b'"Medication"' in line and b'"subject"' not in line


def _remember_line(line: bytes, medications: dict[str, Any]) -> None:
    for record in parse_line(line, "", 0):
        if isinstance(record, RawResource) and record.resource.get("resourceType") == "Medication":
            remember_medication(medications, record.resource)
