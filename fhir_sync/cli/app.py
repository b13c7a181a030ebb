"""The `fhir-sync` command line. Exit codes: 0 all good, 1 some input rejected or some
patient failed (everything else still done), 2 usage errors (bad flag, unreadable path)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from fhir_sync.cli import help_text
from fhir_sync.cli.lazy_commands import LazyCommands
from fhir_sync.cli.options import setting_option
from fhir_sync.cli.output import dataset_summary, plan_summary, rich_progress
from fhir_sync.cli.values import CONTROLLED_HELP, auto_jobs, parse_closed_days, parse_today
from fhir_sync.engine import ControlledPolicy, Preferences
from fhir_sync.fill_settings import apply_fill_settings, parse_fill_settings
from fhir_sync.services.plan_terms import CYCLES_TEXT, supported_cycle
from mappings.pickup_hours import DEFAULT_PICKUP_HOURS, DEFAULT_TIME_ZONE
from mappings.pickup_hours import pickup_hours as parse_pickup

help_text.install()
app = typer.Typer(
    name="fhir-sync",
    help="Medication synchronization over FHIR R4: line up a patient's refills on one day.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyCommands,
)
out = Console()
err = Console(stderr=True)

USAGE = 2
T = TypeVar("T")


@app.command()
def plan(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="FHIR Bundle JSON or NDJSON files, or folders of them (a Bulk Data export).",
            show_default=False,
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the plans.")],
    today: Annotated[
        str | None, typer.Option(help="Plan as of this date (YYYY-MM-DD); default: today.")
    ] = None,
    anchor_day: Annotated[
        int | None,
        typer.Option(min=1, max=31, help="Preferred pickup day of month; default: automatic."),
    ] = None,
    cycle_days: Annotated[int, typer.Option(help=f"Refill cycle: {CYCLES_TEXT} days.")] = 30,
    closed: Annotated[
        str, typer.Option(help="Weekdays the pharmacy is closed, e.g. sat,sun.")
    ] = "",
    lead_days: Annotated[
        int, typer.Option(min=0, max=90, help="Days before a fill for outreach/preparation.")
    ] = 7,
    priming_units: Annotated[int | None, setting_option("priming_units")] = None,
    drops_per_ml: Annotated[int | None, setting_option("drops_per_ml")] = None,
    pharmacy: Annotated[
        str | None, typer.Option(help="The pharmacy Location reference, e.g. Location/main.")
    ] = None,
    controlled: Annotated[
        ControlledPolicy, typer.Option(help=CONTROLLED_HELP, case_sensitive=False)
    ] = ControlledPolicy.SYNC,
    strict: Annotated[
        bool, typer.Option(help="Also validate every input resource fully (slower).")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(min=0, help="Worker processes; 0: one per CPU for large inputs."),
    ] = 0,
    time_zone: Annotated[
        str,
        typer.Option(metavar="AREA/CITY", help="The pharmacy's time zone (IANA name)."),
    ] = DEFAULT_TIME_ZONE,
    pickup_hours: Annotated[
        str,
        typer.Option(metavar="HH:MM-HH:MM", help="Pickup hours on the anchor date, local time."),
    ] = DEFAULT_PICKUP_HOURS,
    window_days: Annotated[int | None, setting_option("window_days")] = None,
    tolerance_days: Annotated[int | None, setting_option("tolerance_days")] = None,
    refill_threshold: Annotated[str | None, setting_option("refill_threshold")] = None,
    form_threshold: Annotated[str | None, setting_option("form_thresholds")] = None,
    daily_limit: Annotated[int | None, setting_option("daily_limit")] = None,
) -> None:
    """Plan every patient in SOURCES; write one transaction Bundle per patient to --out."""
    from fhir_sync.planning.run import ERRORS_FILE, plan_files

    try:
        supported_cycle(cycle_days)
    except ValueError as exc:
        _usage(f"--cycle-days {exc}")
    prefs = Preferences(
        cycle_days=cycle_days,
        anchor_day=anchor_day,
        closed_weekdays=_or_usage(parse_closed_days, closed),
        lead_days=lead_days,
        controlled=controlled,
    )
    given = {
        "window_days": window_days,
        "tolerance_days": tolerance_days,
        "refill_threshold": refill_threshold,
        "form_thresholds": form_threshold,
        "daily_limit": daily_limit,
        "priming_units": priming_units,
        "drops_per_ml": drops_per_ml,
    }
    raw = {key: value for key, value in given.items() if value is not None}
    try:
        prefs = apply_fill_settings(prefs, parse_fill_settings(raw))
    except ValueError as exc:
        _usage(str(exc))
    as_of = _or_usage(parse_today, today) if today else date.today()
    pickup = _or_usage(lambda hours: parse_pickup(hours, time_zone), pickup_hours)
    _check_out_dir(out_dir)
    validate = None
    if strict:
        from mappings.validation import validate_resource

        validate = validate_resource
    try:
        with rich_progress(err) as progress:
            report = plan_files(
                sources,
                out_dir,
                as_of,
                prefs,
                pharmacy=pharmacy,
                progress=progress,
                validate=validate,
                jobs=jobs or auto_jobs(sources),
                pickup=pickup,
            )
    except OSError as exc:
        _usage(f"cannot read input: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    out.print(plan_summary(report, as_of))
    failed = False
    if report.rejected:
        err.print(
            f"[yellow]{report.rejected} input(s) rejected: see {out_dir / ERRORS_FILE}[/yellow]"
        )
        failed = True
    if report.resources == 0:
        skipped = f" ({report.skipped_files} file(s) skipped: not .json/.ndjson)"
        err.print(
            "[yellow]no FHIR resource was read from the input"
            f"{skipped if report.skipped_files else ''}[/yellow]"
        )
        failed = True
    if failed:
        raise typer.Exit(1)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the NDJSON files.")],
    patients: Annotated[int, typer.Option(min=1, help="How many patients.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
    today: Annotated[
        str | None, typer.Option(help="Histories end before this date; default: today.")
    ] = None,
    bad_records: Annotated[
        bool, typer.Option(help="Mix in a few invalid records, as real feeds have.")
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace NDJSON files already in --out.")
    ] = False,
) -> None:
    """Generate realistic synthetic patients, prescriptions and fill histories as NDJSON."""
    from fhir_sync.datagen import write_dataset
    from fhir_sync.datagen.writer import RESOURCE_TYPES

    as_of = _or_usage(parse_today, today) if today else date.today()
    _check_out_dir(out_dir)
    existing = [out_dir / f"{name}.ndjson" for name in RESOURCE_TYPES]
    existing = [path for path in existing if path.exists()]
    if existing and not overwrite:
        names = ", ".join(path.name for path in existing)
        _usage(f"--out {out_dir} already holds {names}: pass --overwrite to replace them")
    try:
        stats = write_dataset(out_dir, patients, seed, as_of, bad_records=bad_records)
    except OSError as exc:
        _usage(f"--out {out_dir}: cannot write: {exc.strerror or exc}")
    out.print(dataset_summary(stats, out_dir))


def _check_out_dir(path: Path) -> None:
    """`--out` must be a folder (or not exist yet): said before any input is read."""
    if path.exists() and not path.is_dir():
        _usage(f"--out {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _usage(f"--out {path}: cannot create the folder: {exc.strerror or exc}")


def _or_usage(parse: Callable[[str], T], value: str) -> T:
    try:
        return parse(value)
    except ValueError as exc:
        _usage(str(exc))
        raise  # unreachable: _usage exits


def _usage(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(USAGE)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="fhir-sync")
