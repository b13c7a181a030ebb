"""Parsing of CLI values and the rich output (progress bars, summary tables) of commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from fhir_sync.datagen.writer import DatasetStats
from fhir_sync.planning.run import PlanReport, Progress
from mappings.exclusion_codes import exclusion_words

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def parse_closed_days(text: str) -> frozenset[int]:
    """`sat,sun` -> {5, 6}; full names and any case accepted."""
    days: set[int] = set()
    for part in text.split(","):
        word = part.strip().lower()[:3]
        if not word:
            continue
        if word not in WEEKDAYS:
            raise ValueError(f"--closed: unknown weekday {part.strip()!r} (use mon,tue,...,sun)")
        days.add(WEEKDAYS[word])
    if len(days) == 7:
        raise ValueError("--closed: the pharmacy must be open at least one day a week")
    return frozenset(days)


AUTO_JOBS_MIN_BYTES = 32 * 2**20


def auto_jobs(sources: list[Path]) -> int:
    """One worker per CPU when the input is large enough to repay starting them."""
    size = 0
    for source in sources:
        if source.is_file():
            size += source.stat().st_size
        elif source.is_dir():
            size += sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    return max(1, os.cpu_count() or 1) if size >= AUTO_JOBS_MIN_BYTES else 1


def parse_today(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--today: {text!r} is not a date (YYYY-MM-DD)") from None


class _Bars(Progress):
    def __init__(self, bars: RichProgress) -> None:
        self._bars = bars
        self._reading: TaskID | None = None
        self._planning: TaskID | None = None

    def reading(self, done_bytes: int, total_bytes: int) -> None:
        if self._reading is None:
            self._reading = self._bars.add_task("reading", total=total_bytes)
        self._bars.update(self._reading, completed=done_bytes)

    def planning(self, done: int, total: int) -> None:
        if self._planning is None:
            self._planning = self._bars.add_task("planning", total=total)
        self._bars.update(self._planning, completed=done)


@contextmanager
def rich_progress(console: Console) -> Iterator[Progress]:
    """Progress bars on `console` (stderr), drawn only when it is a terminal."""
    bars = RichProgress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bars:
        yield _Bars(bars)


def plan_summary(report: PlanReport, today: date) -> Table:
    table = Table(title=f"fhir-sync plan as of {today.isoformat()}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files read", str(report.files))
    if report.skipped_files:
        table.add_row("files skipped (not FHIR: .json, .ndjson, .jsonl)", str(report.skipped_files))
    table.add_row("resources read", str(report.resources))
    table.add_row("patients planned", str(report.patients))
    add_plan_rows(table, report)
    table.add_row("inputs rejected", str(report.rejected))
    table.add_row("duplicate copies skipped", str(report.duplicates))
    table.add_row("other resources ignored", str(report.ignored))
    if report.stale_removed:
        table.add_row(
            "earlier plans removed (patients not in this input)", str(report.stale_removed)
        )
    return table


def add_source_rows(table: Table, report: PlanReport) -> None:
    """Synced orders by where their daily use in a dispense unit came from (see
    docs/dispensing-rules.md), and the orders left out for want of a dispense unit."""
    for source, count in sorted(report.sources.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  planned from {source}", str(count))
    missing = report.reasons.get("no-dispense-unit", 0)
    table.add_row("  left out for want of a dispense unit", str(missing))


def add_plan_rows(table: Table, report: PlanReport) -> None:
    """The rows `plan` and `sync` share: orders synced and not (by reason, in words), short
    fills, renewals and the anchor dates with the busiest one."""
    table.add_row("orders synced", str(report.synced))
    add_source_rows(table, report)
    table.add_row("orders not synced", str(report.not_synced))
    for reason, count in sorted(report.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  {exclusion_words(reason)}", str(count))
    table.add_row("short fills", str(report.short_fills))
    table.add_row("visits before the anchor", str(report.transition_visits))
    table.add_row("renewal requests", str(report.renewals))
    if report.anchors:
        first, last = min(report.anchors), max(report.anchors)
        busiest, count = max(report.anchors.items(), key=lambda kv: (kv[1], -kv[0].toordinal()))
        table.add_row("anchor dates", f"{first.isoformat()} to {last.isoformat()}")
        noun = "patient" if count == 1 else "patients"
        table.add_row(f"  busiest: {busiest.isoformat()}", f"{count} {noun}")
    if report.pickups:
        table.add_row("pickups per day", "")
        for day, pickups in sorted(report.pickups.items()):
            table.add_row(f"  {day.isoformat()} {day:%a}", str(pickups))


def dataset_summary(stats: DatasetStats, out_dir: Path) -> Table:
    """What `fhir-sync generate` wrote."""
    table = Table(title=f"fhir-sync generate: {out_dir}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("patients (Patient.ndjson)", str(stats.patients))
    table.add_row("prescriptions (MedicationRequest.ndjson)", str(stats.medication_requests))
    table.add_row("fills (MedicationDispense.ndjson)", str(stats.medication_dispenses))
    table.add_row("  of these lines, invalid on purpose", str(stats.bad_lines))
    table.add_row("bytes written", f"{stats.bytes:,}")
    return table
