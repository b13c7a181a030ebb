"""The rich output of commands: progress bars and summary tables (value parsing is in
values.py)."""

from __future__ import annotations

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


def progress_bars(console: Console) -> RichProgress:
    """Every command's progress bars: drawn on `console` only when it is a terminal, and gone
    when done."""
    return RichProgress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@contextmanager
def rich_progress(console: Console) -> Iterator[Progress]:
    """Progress bars on `console` (stderr), drawn only when it is a terminal."""
    with progress_bars(console) as bars:
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
