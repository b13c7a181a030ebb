"""`fhir-sync plan` end to end: files in, one transaction Bundle per patient out.

Reading and mapping stream; planning and writing go patient by patient, each patient's file
written once from its own inputs, so the output is byte-identical for the same input and
`today` whatever order the files list things in and however many worker processes share the
work (see `workers.py`).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from adapters.files import (
    InputError,
    RawResource,
    find_inputs,
    read_resources,
    write_json_file,
    write_ndjson,
)
from fhir_sync.engine import (
    PatientPlan,
    Preferences,
    pick_anchor,
)
from fhir_sync.engine.planner import Candidates, Prepared, prepared_candidates
from fhir_sync.planning.stale_plans import earlier_plans, remove_stale
from fhir_sync.services.collect import (
    Collected,
    Rejection,
    add,
    collect,
    map_deferred,
    reject_orphans,
    rejection_outcome,
)
from fhir_sync.services.plan_one import plan_in_turn
from mappings.pickup_hours import PickupHours

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
    transition_visits: int = 0
    anchors: Counter[date] = field(default_factory=Counter)
    pickups: Counter[date] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    # synced orders by where their daily use in a dispense unit came from
    sources: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    ignored: int = 0
    duplicates: int = 0
    skipped_files: int = 0  # files in the folders given that are not FHIR files, by name
    stale_removed: int = 0  # earlier plans in the output folder for patients not planned now

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
        self.transition_visits += len(plan.transition_visits)
        if plan.anchor is not None:
            self.anchors[plan.anchor] += 1
            if plan.anchor_fills:
                self.pickups[plan.anchor] += 1

    def merge(self, other: PlanReport) -> None:
        """Add a worker's counts (files are counted once, by the caller)."""
        for name in (
            "resources", "patients", "synced", "not_synced", "short_fills", "renewals",
            "transition_visits", "rejected", "ignored", "duplicates",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.anchors.update(other.anchors)
        self.pickups.update(other.pickups)
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
    pickup: PickupHours = field(default_factory=PickupHours)


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
    pickup: PickupHours | None = None,
) -> PlanReport:
    """Plan every patient found in `sources` and write `out_dir/<patient id>.json`.

    `validate`, when given, checks each input resource fully (e.g. with fhir.resources) and
    a resource with problems is rejected. `jobs` > 1 shares the work between that many
    processes (by patient). Raises OSError only for paths that cannot be read at all
    (checked before any work is done). Plans an earlier run left in `out_dir` for patients
    not planned now are removed (counted in `stale_removed`).
    """
    inputs = find_inputs(sources)
    files = inputs.files
    settings = PlanSettings(out_dir, today, prefs, pharmacy, validate, pickup or PickupHours())
    ui = progress or Progress()
    out_dir.mkdir(parents=True, exist_ok=True)
    read = {path.resolve() for path in files}
    earlier = {p: ino for p, ino in earlier_plans(out_dir).items() if p.resolve() not in read}
    with gc_paused():
        if jobs > 1:
            from fhir_sync.planning.workers import plan_in_workers

            report, rejections = plan_in_workers(files, settings, jobs, ui)
        else:
            report, rejections = _plan_here(files, settings, ui)
    report.files = len(files)
    report.skipped_files = inputs.skipped
    rejections.sort(key=lambda r: r.rank)
    report.rejected = len(rejections)
    write_ndjson(out_dir / ERRORS_FILE, (rejection_outcome(r) for r in rejections))
    report.stale_removed = remove_stale(earlier)
    return report


def _plan_here(
    files: list[Path], settings: PlanSettings, ui: Progress
) -> tuple[PlanReport, list[Rejection]]:
    collected = Collected(medications={})
    total = sum(f.stat().st_size for f in files)
    done = 0
    for index, path in enumerate(files):
        records = validated(read_resources(path), settings.validate, collected, index)
        collect(records, collected, file_index=index)
        done += path.stat().st_size
        ui.reading(done, total)
    for mapped in map_deferred(collected):
        add(collected, mapped)
    reject_orphans(collected)
    report = plan_collected(collected, settings, ui.planning)
    return report, collected.rejections


def plan_collected(
    collected: Collected,
    settings: PlanSettings,
    on_planned: Callable[[int, int], None],
    chosen: Mapping[str, date] | None = None,
    prepared: dict[str, Prepared] | None = None,
) -> PlanReport:
    """Plan and write every patient in `collected` (consumed as it goes, to free memory).

    Patients are planned in id order and each automatic anchor sees the pickups the patients
    before it took (the pharmacy's daily limit); `chosen` gives the anchors a parent process
    already picked that way (see `workers.py`), so any number of processes writes the same.
    `prepared`: the reconciled orders `anchor_choices` made (consumed too).
    """
    report = PlanReport(
        resources=collected.resources, ignored=collected.ignored, duplicates=collected.duplicates
    )
    load: Counter[date] = Counter()
    patient_ids = sorted(collected.patients)
    for index, patient_id in enumerate(patient_ids, start=1):
        planned = plan_in_turn(
            patient_id,
            collected.patients.pop(patient_id),
            settings.today,
            settings.prefs,
            load,
            anchor=chosen.get(patient_id) if chosen is not None else None,
            pharmacy=settings.pharmacy,
            pickup=settings.pickup,
            stamp_digest=False,
            prepared=prepared.pop(patient_id, None) if prepared is not None else None,
        )
        write_json_file(settings.out_dir / f"{patient_id}.json", planned.bundle)
        report.add(planned.plan)
        if index % 500 == 0 or index == len(patient_ids):
            on_planned(index, len(patient_ids))
    return report


def anchor_choices(
    collected: Collected, settings: PlanSettings
) -> tuple[dict[str, Candidates], dict[str, Prepared]]:
    """What each patient's anchor may be (for a parent that picks them in id order), and
    each patient's reconciled orders, which `plan_collected` reuses."""
    choices: dict[str, Candidates] = {}
    prepared: dict[str, Prepared] = {}
    for patient_id, inputs in collected.patients.items():
        choices[patient_id], prepared[patient_id] = prepared_candidates(
            [o.order for o in inputs.orders.values()],
            inputs.fills.values(),
            settings.today,
            settings.prefs,
        )
    return choices, prepared


def pick_anchors(choices: Mapping[str, Candidates], prefs: Preferences) -> dict[str, date]:
    """Each patient's anchor, in patient id order, each seeing the pickups planned before."""
    load: Counter[date] = Counter()
    chosen: dict[str, date] = {}
    for patient_id in sorted(choices):
        candidates = choices[patient_id]
        if not candidates:
            continue
        day = pick_anchor(candidates, prefs.daily_limit, load)
        chosen[patient_id] = day
        if next(busy for _, d, busy in candidates if d == day):
            load[day] += 1
    return chosen


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
