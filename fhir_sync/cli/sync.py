"""The `fhir-sync sync` command's flags; the work is in `fhir_sync.cli.sync_run`.

Every setting flag defaults to None so that "not given" can fall back to the environment and
then the config file (flags > env > file); the real defaults live in `fhir_sync.sync.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from fhir_sync.cli.values import CONTROLLED_HELP
from fhir_sync.engine.types import ControlledPolicy
from fhir_sync.fill_settings import BY_KEY
from fhir_sync.services.plan_terms import CYCLES_TEXT

ENDPOINTS_PANEL = "Endpoints"
PLAN_PANEL = "Planning"
AUTH_PANEL = "EHR authentication (SMART Backend Services or a bearer token)"
RUN_PANEL = "Run"


def sync(
    ehr: Annotated[
        str | None,
        typer.Option(
            help="EHR FHIR base URL (orders; plans go back here).", rich_help_panel=ENDPOINTS_PANEL
        ),
    ] = None,
    pharmacy: Annotated[
        str | None,
        typer.Option(
            help="Pharmacy FHIR base URL (fills); default: the EHR.",
            rich_help_panel=ENDPOINTS_PANEL,
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Where plans are written; default: the EHR.", rich_help_panel=ENDPOINTS_PANEL
        ),
    ] = None,
    patient: Annotated[
        list[str] | None,
        typer.Option(
            help="Sync only this Patient id (repeatable); default: every Patient.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only patients whose orders or fills changed after this date/instant."),
    ] = None,
    bulk: Annotated[
        bool, typer.Option("--bulk", help="Pull the population with Bulk Data $export.")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option(
            help="Plan as of this date (YYYY-MM-DD); default: today.", rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    anchor_day: Annotated[
        int | None,
        typer.Option(
            help="Preferred pickup day of month; default: automatic.", rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    cycle_days: Annotated[
        int | None,
        typer.Option(
            help=f"Refill cycle: {CYCLES_TEXT} days (default: 30).", rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    closed: Annotated[
        str | None,
        typer.Option(
            help="Weekdays the pharmacy is closed, e.g. sat,sun.", rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    lead_days: Annotated[
        int | None,
        typer.Option(
            help="Days before a fill for outreach/preparation (default: 7).",
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    controlled: Annotated[
        ControlledPolicy | None,
        typer.Option(
            help=CONTROLLED_HELP + " Default: sync.",
            case_sensitive=False,
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    priming_units: Annotated[
        int | None,
        typer.Option(
            help=BY_KEY["priming_units"].help,
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    drops_per_ml: Annotated[
        int | None,
        typer.Option(
            help=BY_KEY["drops_per_ml"].help,
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    pharmacy_location: Annotated[
        str | None,
        typer.Option(
            help="The pharmacy Location reference for Appointments, e.g. Location/main.",
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    time_zone: Annotated[
        str | None,
        typer.Option(
            metavar="AREA/CITY",
            help="The pharmacy's time zone, IANA name (default: UTC).",
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    pickup_hours: Annotated[
        str | None,
        typer.Option(
            metavar="HH:MM-HH:MM",
            help="Pickup hours on the anchor date, local time (default: 09:00-17:00).",
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    window_days: Annotated[
        int | None,
        typer.Option(
            help=BY_KEY["window_days"].help, show_default=False, rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    tolerance_days: Annotated[
        int | None,
        typer.Option(
            help=BY_KEY["tolerance_days"].help, show_default=False, rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    refill_threshold: Annotated[
        str | None,
        typer.Option(
            help=BY_KEY["refill_threshold"].help, show_default=False, rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    form_threshold: Annotated[
        str | None,
        typer.Option(
            help=BY_KEY["form_thresholds"].help, show_default=False, rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    daily_limit: Annotated[
        int | None,
        typer.Option(
            help=BY_KEY["daily_limit"].help, show_default=False, rich_help_panel=PLAN_PANEL
        ),
    ] = None,
    keep_anchor: Annotated[
        bool | None,
        typer.Option(
            "--keep-anchor/--reanchor",
            help="Keep a synced patient's anchor date, or choose again (default: keep).",
            show_default=False,
            rich_help_panel=PLAN_PANEL,
        ),
    ] = None,
    dry_run: Annotated[
        Path | None,
        typer.Option(
            help="Write the transaction Bundles to this folder instead of the target.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = None,
    errors: Annotated[
        Path | None,
        typer.Option(
            help="Write rejected inputs and failed patients (NDJSON OperationOutcomes) here.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML configuration file (also FHIR_SYNC_CONFIG).", rich_help_panel=RUN_PANEL
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Patients synced at once and requests per endpoint (default: 8).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = None,
    page_size: Annotated[
        int | None,
        typer.Option(help="Search page size (_count) (default: 100).", rich_help_panel=RUN_PANEL),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Static bearer token (prefer FHIR_SYNC_EHR_TOKEN).", rich_help_panel=AUTH_PANEL
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(help="SMART client_id registered at the EHR.", rich_help_panel=AUTH_PANEL),
    ] = None,
    private_key: Annotated[
        Path | None,
        typer.Option(
            help="PEM private key signing the client assertion.", rich_help_panel=AUTH_PANEL
        ),
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option(help="The key's kid in the registered JWKS.", rich_help_panel=AUTH_PANEL),
    ] = None,
    alg: Annotated[
        str | None,
        typer.Option(help="RS384 or ES384 (default: RS384).", rich_help_panel=AUTH_PANEL),
    ] = None,
    token_url: Annotated[
        str | None,
        typer.Option(
            help="Token endpoint; default: from .well-known/smart-configuration.",
            rich_help_panel=AUTH_PANEL,
        ),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="Scope to request (repeatable); default: read orders/fills, write plans.",
            show_default=False,
            rich_help_panel=AUTH_PANEL,
        ),
    ] = None,
) -> None:
    """Pull orders and fills from FHIR servers, plan, and write the plans back."""
    from fhir_sync.cli.sync_run import RunRequest, run

    given: dict[tuple[str, str], Any] = {
        ("ehr", "url"): ehr,
        ("pharmacy", "url"): pharmacy,
        ("target", "url"): target,
        ("ehr", "token"): token,
        ("ehr", "client_id"): client_id,
        ("ehr", "private_key"): str(private_key) if private_key is not None else None,
        ("ehr", "key_id"): key_id,
        ("ehr", "alg"): alg,
        ("ehr", "token_url"): token_url,
        ("ehr", "scopes"): scope or None,
        ("sync", "today"): today,
        ("sync", "anchor_day"): anchor_day,
        ("sync", "cycle_days"): cycle_days,
        ("sync", "closed"): closed,
        ("sync", "lead_days"): lead_days,
        ("sync", "controlled"): controlled.value if controlled is not None else None,
        ("sync", "priming_units"): priming_units,
        ("sync", "drops_per_ml"): drops_per_ml,
        ("sync", "location"): pharmacy_location,
        ("sync", "keep_anchor"): keep_anchor,
        ("sync", "time_zone"): time_zone,
        ("sync", "pickup_hours"): pickup_hours,
        ("sync", "concurrency"): concurrency,
        ("sync", "page_size"): page_size,
        ("sync", "window_days"): window_days,
        ("sync", "tolerance_days"): tolerance_days,
        ("sync", "refill_threshold"): refill_threshold,
        ("sync", "form_thresholds"): form_threshold,
        ("sync", "daily_limit"): daily_limit,
    }
    request = RunRequest(
        flags={key: value for key, value in given.items() if value is not None},
        config_file=config,
        patients=list(patient or []),
        since=since,
        bulk=bulk,
        dry_run=dry_run,
        errors_file=errors,
    )
    code = run(request, Console(), Console(stderr=True))
    if code:
        raise typer.Exit(code)
