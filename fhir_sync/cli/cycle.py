"""`fhir-sync worklist` and `fhir-sync cycle run`: the monthly cycle for a pharmacy without
the web app. Both work on the server's database (FHIR_SYNC_DATABASE_URL, as `serve`)."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from enum import StrEnum
from typing import Annotated

import typer

from fhir_sync.cli.database import command_database, command_settings, fail
from fhir_sync.cli.options import setting_option

cycle_app = typer.Typer(help="The monthly med-sync cycle (calls, preparation, pickups).")


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    NDJSON = "ndjson"


def _day(text: str | None) -> date:
    from fhir_sync.services.cycle_run import pharmacy_today

    if text is None:
        settings = command_settings()
        return settings.today or pharmacy_today(settings.pickup.time_zone)
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--date: {text!r} is not a date (YYYY-MM-DD)")


DateOption = Annotated[
    str | None,
    typer.Option(
        "--date",
        help="The pharmacy's day (YYYY-MM-DD); default today in its time zone.",
        show_default=False,
    ),
]


_FOR_ENROLLMENTS = " For enrollments that give none."


@cycle_app.command("run")
def cycle_run(
    date_text: DateOption = None,
    prep_days: Annotated[
        int | None, setting_option("prep_days", help_suffix=_FOR_ENROLLMENTS)
    ] = None,
    call_retries: Annotated[
        int | None, setting_option("call_retries", help_suffix=_FOR_ENROLLMENTS)
    ] = None,
    renewal_follow_up_days: Annotated[
        int | None, setting_option("renewal_follow_up_business_days", help_suffix=_FOR_ENROLLMENTS)
    ] = None,
    renewal_escalation_days: Annotated[
        int | None, setting_option("renewal_escalation_business_days", help_suffix=_FOR_ENROLLMENTS)
    ] = None,
    return_to_stock_days: Annotated[
        int | None, setting_option("return_to_stock_days", help_suffix=_FOR_ENROLLMENTS)
    ] = None,
    unconfirmed_pickup_days: Annotated[
        int | None, setting_option("unconfirmed_pickup_days", help_suffix=_FOR_ENROLLMENTS)
    ] = None,
) -> None:
    """Derive and store the day's cycle items for every active enrollment, once.

    Days missed since the last run are caught up; running a day again creates nothing twice.
    The worker does this on its own every FHIR_SYNC_CYCLE_INTERVAL seconds."""
    from fhir_sync.engine.cycle_types import CycleSettings
    from fhir_sync.fill_settings import cycle_values, parse_fill_settings
    from fhir_sync.services import cycle_resources
    from fhir_sync.services.cycle_run import run_cycle_day

    cycle_resources.install()
    raw = {
        "prep_days": prep_days,
        "call_retries": call_retries,
        "renewal_follow_up_business_days": renewal_follow_up_days,
        "renewal_escalation_business_days": renewal_escalation_days,
        "return_to_stock_days": return_to_stock_days,
        "unconfirmed_pickup_days": unconfirmed_pickup_days,
    }
    try:
        given = cycle_values(parse_fill_settings({k: v for k, v in raw.items() if v is not None}))
        defaults = CycleSettings(**given)
    except ValueError as exc:
        fail(str(exc))
    day = _day(date_text)
    with command_database(create=False) as engine:
        summary = run_cycle_day(
            engine,
            day,
            defaults=defaults,
            progress=lambda n: typer.echo(f"  {n} enrollments", err=True),
        )
    typer.echo(
        f"cycle {summary.day.isoformat()}: {summary.enrollments} active enrollments, "
        f"{summary.items_created} new items, {summary.days_caught_up} missed days caught up"
    )


def worklist(
    date_text: DateOption = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Only these groups: calls, preparations, pickups, renewals, reviews.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TABLE,
    open_only: Annotated[bool, typer.Option("--open", help="Leave out items done.")] = False,
) -> None:
    """Print the day's worklist: whom to call, what to prepare, who picks up, which renewals
    are late, what changed. Run `fhir-sync cycle run` (or the worker) first."""
    from fhir_sync.services.worklist import ActionRefusedError, day_worklist

    day = _day(date_text)
    with command_database(create=False) as engine:
        try:
            found = day_worklist(engine, day, groups=kind or None, open_only=open_only)
        except ActionRefusedError as exc:
            fail(str(exc))
    rows = [
        {
            "group": e.group,
            "kind": e.kind,
            "patient": e.patient_id,
            "pickup": e.pickup.isoformat() if e.pickup else "",
            "state": e.task_status or e.state,
            "action": e.action,
            "fills": "; ".join(
                f"{f.medication} {f.quantity:g} {f.unit} ({f.days_supply} d)" for f in e.fills
            ),
            "item": e.item_id,
            "resource": e.resource or "",
        }
        for e in found.entries
    ]
    if output is Format.NDJSON:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    if output is Format.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["group"])
        writer.writeheader()
        writer.writerows(rows)
        return
    typer.echo(f"Worklist for {day.isoformat()}")
    for group in found.groups:
        typer.echo(f"\n{group.name} ({len(group.entries)})")
        for e in group.entries:
            state = e.task_status or e.state
            typer.echo(f"  [{state}] {e.patient_id}: {e.action}")
            for f in e.fills:
                typer.echo(f"      {f.medication}: {f.quantity:g} {f.unit}, {f.days_supply} days")
