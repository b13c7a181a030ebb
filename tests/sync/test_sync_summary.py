"""`fhir-sync sync`'s summary breaks the orders down as `fhir-sync plan`'s does: not-synced
orders by reason, in words, and the busiest anchor date with its unit."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table

from fhir_sync.clihelp import plan_summary
from fhir_sync.engine.types import Exclusion, OrderPlan, PatientPlan
from fhir_sync.planning.run import PlanReport
from fhir_sync.sync.report import SyncReport
from fhir_sync.sync.summary import sync_summary

TODAY = date(2026, 11, 22)
ANCHOR = date(2026, 11, 29)


def _rows(table: Table) -> dict[str, str]:
    console = Console(width=200, record=True)
    console.print(table)
    rows: dict[str, str] = {}
    for line in console.export_text().splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def _plan(patient: str, *orders: OrderPlan) -> PatientPlan:
    return PatientPlan(patient, TODAY, 30, ANCHOR, orders)


def test_sync_and_plan_summaries_break_orders_down_alike() -> None:
    synced = OrderPlan("mr-1", synced=True, reason="refills on the anchor date")
    prn = OrderPlan("mr-2", synced=False, reason="as needed", exclusion=Exclusion.AS_NEEDED)
    acute = OrderPlan("mr-3", synced=False, reason="acute", exclusion=Exclusion.ACUTE)
    plans = [_plan("p1", synced, prn), _plan("p2", synced, prn, acute)]
    report = SyncReport()
    files = PlanReport()
    for plan in plans:
        report.plans.add(plan)
        files.add(plan)
    sync_rows = _rows(sync_summary(report, TODAY, dry_run=False))
    plan_rows = _rows(plan_summary(files, TODAY))
    # 2 patients: 2 synced orders, 3 not (2 PRN, 1 acute), both anchored on the 29th.
    expected = {
        "orders synced": "2",
        "orders not synced": "3",
        "As needed (PRN)": "2",
        "Acute course": "1",
        "busiest: 2026-11-29": "2 patients",
    }
    for label, value in expected.items():
        assert sync_rows[label] == value, label
        assert plan_rows[label] == value, label
