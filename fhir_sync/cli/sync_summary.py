"""What `fhir-sync sync` prints and files: the summary table and the errors NDJSON.

The table shows counts only; failures are grouped by reason (reasons carry no patient data).
Which patient failed goes to the errors file, as `fhir-sync plan` names rejected inputs there:
a file the operator asked for, not a log line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

from rich.markup import escape
from rich.table import Table

from fhir_sync.cli.output import add_plan_rows
from fhir_sync.services.collect import rejection_outcome
from fhir_sync.sync.report import PatientResult, SyncReport
from mappings.outcome import operation_outcome

TOP_REASONS = 5


def sync_summary(report: SyncReport, today: date, *, dry_run: bool) -> Table:
    table = Table(title=f"fhir-sync sync as of {today.isoformat()}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("patients pulled", str(report.pulled))
    table.add_row("patients planned", str(report.planned))
    table.add_row("plans written to files" if dry_run else "plans written", str(report.written))
    table.add_row("plans unchanged (not written)", str(report.unchanged))
    table.add_row("patients failed", str(report.failed))
    reasons = Counter(r.reason or "unknown" for r in report.failures)
    for reason, count in reasons.most_common(TOP_REASONS):
        table.add_row(f"  {escape(reason)}", str(count))
    if len(reasons) > TOP_REASONS:
        table.add_row(
            "  (other reasons)",
            str(sum(reasons.values()) - sum(c for _, c in reasons.most_common(TOP_REASONS))),
        )
    if report.replanned:
        table.add_row("re-planned after a version conflict", str(report.replanned))
    table.add_row("inputs rejected", str(report.rejected))
    # Only the active and on-hold orders are pulled (the rest cannot be refilled), so unlike
    # `fhir-sync plan` over files no order is left out as inactive here.
    add_plan_rows(table, report.plans)
    if report.ignored:
        table.add_row("resources ignored (not for a synced patient)", str(report.ignored))
    if report.cursors:
        table.add_row("next --since", report.next_since() or "(unchanged)")
    return table


def error_outcomes(report: SyncReport) -> Iterator[dict[str, Any]]:
    """One OperationOutcome per rejected input, then one per failed patient."""
    for rejection in report.rejections:
        yield rejection_outcome(rejection)
    for failure in report.failures:
        yield _failure_outcome(failure)


def _failure_outcome(failure: PatientResult) -> dict[str, Any]:
    return operation_outcome(
        "error",
        "exception",
        f"Patient/{failure.patient_id}: not synced: {failure.reason or 'unknown'}",
        expression="Patient",
    )
