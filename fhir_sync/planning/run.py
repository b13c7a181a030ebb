"""`fhir-sync plan` end to end: files in, one transaction Bundle per patient out.

Reading and mapping stream; planning and writing go patient by patient, each patient's file
written once from its own inputs, so the output is byte-identical for the same input and
`today` whatever order the files list things in and however many worker processes share the
work (see `workers.py`).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from adapters.files import (
    InputError,
    RawResource,
    discover,
    read_resources,
    write_json_file,
    write_ndjson,
)
from fhir_sync.engine import PatientPlan, Preferences, plan_patient
from fhir_sync.planning.collect import (
    Collected,
    Rejection,
    collect,
    reject_orphans,
    rejection_outcome,
)
from mappings.bundle import plan_bundle

ERRORS_FILE = "errors.ndjson"
Validator = Callable[[dict[str, Any]], list[str]]


@dataclass(slots=True)
class PlanReport:
    """What a run did, for the summary table and the exit code."""

    files: int = 0
    resources: int = 0
    patients: int = 0
    synced: int = 0
    not_synced: int = 0
    short_fills: int = 0
    renewals: int = 0
    anchors: Counter[date] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    # synced orders by where their daily use in a dispense unit came from
    sources: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    ignored: int = 0
    duplicates: int = 0

    def add(self, plan: PatientPlan) -> None:
        self.patients += 1
        for order in plan.orders:
            if order.synced:
                self.synced += 1
                self.sources[order.sources[0][1] if order.sources else "unknown"] += 1
            else:
                self.not_synced += 1
                self.reasons[str(order.exclusion)] += 1
        self.short_fills += len(plan.short_fills)
        self.renewals += len(plan.renewals)
        if plan.anchor is not None:
            self.anchors[plan.anchor] += 1

    def merge(self, other: PlanReport) -> None:
        """Add a worker's counts (files are counted once, by the caller)."""
        for name in (
            "resources", "patients", "synced", "not_synced", "short_fills", "renewals",
            "rejected", "ignored", "duplicates",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.anchors.update(other.anchors)
        self.reasons.update(other.reasons)
        self.sources.update(other.sources)


class Progress:
    """Callbacks for long runs; the CLI draws bars, tests and libraries pass nothing."""

    def reading(self, done_bytes: int, total_bytes: int) -> None:  # pragma: no cover - UI
        return None

    def planning(self, done: int, total: int) -> None:  # pragma: no cover - UI
        return None


@dataclass(frozen=True, slots=True)
class PlanSettings:
    """Everything a run needs besides its inputs; plain data, so workers can share it."""

    out_dir: Path
    today: date
    prefs: Preferences
    pharmacy: str | None = None
    validate: Validator | None = None


def plan_files(
    sources: Sequence[Path],
    out_dir: Path,
    today: date,
    prefs: Preferences,
    *,
    pharmacy: str | None = None,
    progress: Progress | None = None,
    validate: Validator | None = None,
    jobs: int = 1,
) -> PlanReport:
    """Plan every patient found in `sources` and write `out_dir/<patient id>.json`.

    `validate`, when given, checks each input resource fully (e.g. with fhir.resources) and
    a resource with problems is rejected. `jobs` > 1 shares the work between that many
    processes (by patient). Raises OSError only for paths that cannot be read at all
    (checked before any work is done).
    """
    files = discover(sources)
    settings = PlanSettings(out_dir, today, prefs, pharmacy, validate)
    ui = progress or Progress()
    out_dir.mkdir(parents=True, exist_ok=True)
    with gc_paused():
        if jobs > 1:
            from fhir_sync.planning.workers import plan_in_workers

            report, rejections = plan_in_workers(files, settings, jobs, ui)
        else:
            report, rejections = _plan_here(files, settings, ui)
    report.files = len(files)
    rejections.sort(key=lambda r: r.rank)
    report.rejected = len(rejections)
    write_ndjson(out_dir / ERRORS_FILE, (rejection_outcome(r) for r in rejections))
    return report


def _plan_here(
    files: list[Path], settings: PlanSettings, ui: Progress
) -> tuple[PlanReport, list[Rejection]]:
    collected = Collected()
    total = sum(f.stat().st_size for f in files)
    done = 0
    for index, path in enumerate(files):
        records = validated(read_resources(path), settings.validate, collected, index)
        collect(records, collected, file_index=index)
        done += path.stat().st_size
        ui.reading(done, total)
    reject_orphans(collected)
    report = plan_collected(collected, settings, ui.planning)
    return report, collected.rejections


def plan_collected(
    collected: Collected, settings: PlanSettings, on_planned: Callable[[int, int], None]
) -> PlanReport:
    """Plan and write every patient in `collected` (consumed as it goes, to free memory)."""
    report = PlanReport(
        resources=collected.resources, ignored=collected.ignored, duplicates=collected.duplicates
    )
    patient_ids = sorted(collected.patients)
    for index, patient_id in enumerate(patient_ids, start=1):
        inputs = collected.patients.pop(patient_id)
        orders = inputs.orders
        plan = plan_patient(
            patient_id,
            [o.order for o in orders.values()],
            inputs.fills.values(),
            settings.today,
            settings.prefs,
        )
        bundle = plan_bundle(plan, orders, pharmacy=settings.pharmacy)
        write_json_file(settings.out_dir / f"{patient_id}.json", bundle)
        report.add(plan)
        if index % 500 == 0 or index == len(patient_ids):
            on_planned(index, len(patient_ids))
    return report


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk run.

    A run keeps hundreds of thousands of small objects alive until it plans; the collector
    would scan them all again and again (a quarter of the run time in measurements) while
    they hold no reference cycles to find. Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def validated(
    records: Iterator[RawResource | InputError],
    validate: Validator | None,
    collected: Collected,
    file_index: int,
) -> Iterator[RawResource | InputError]:
    """`records` without those that full validation rejects (recorded in `collected`)."""
    if validate is None:
        yield from records
        return
    for record in records:
        if isinstance(record, RawResource):
            problems = validate(record.resource)
            if problems:
                res = record.resource
                rid = res.get("id")
                collected.rejections.append(
                    Rejection(
                        record.source,
                        record.position,
                        "; ".join(problems),
                        resource_type=str(res.get("resourceType")),
                        resource_id=rid if isinstance(rid, str) else None,
                        rank=(file_index, *record.rank),
                    )
                )
                continue
        yield record
