"""The `fhir-sync sync` command's flags; the work is in `fhir_sync.cli.sync_run`.

The setting flags are made from the settings' declarations (`fhir_sync.settings.sync`: each
key's flag, help text and panel); only the run's own options (what to sync, where to write)
are declared here. Every setting flag defaults to None so that "not given" can fall back to
the environment and then the config file (flags > env > file).
"""

from __future__ import annotations

import inspect
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console

from fhir_sync.settings.layers import Flag
from fhir_sync.settings.sync import RUN_PANEL, EndpointSection, SyncSection

#: `--help`'s order of the flags (by parameter name); a flag not listed comes last.
ORDER: Final = (
    *("ehr", "pharmacy", "target", "patient", "since", "bulk", "today", "anchor_day"),
    *("cycle_days", "closed", "lead_days", "controlled", "priming_units", "drops_per_ml"),
    *("pharmacy_location", "time_zone", "pickup_hours", "window_days", "tolerance_days"),
    *("refill_threshold", "form_threshold", "daily_limit", "keep_anchor", "dry_run", "errors"),
    *("config", "concurrency", "page_size", "token", "client_id", "private_key", "key_id"),
    *("alg", "token_url", "scope"),
)

#: The run's own options: not settings, never in the environment or the file.
RUN_OPTIONS: Final[dict[str, tuple[Any, Any]]] = {
    "patient": (
        Annotated[
            list[str] | None,
            typer.Option(
                help="Sync only this Patient id (repeatable); default: every Patient.",
                show_default=False,
            ),
        ],
        None,
    ),
    "since": (
        Annotated[
            str | None,
            typer.Option(
                help="Only patients whose orders or fills changed after this date/instant."
            ),
        ],
        None,
    ),
    "bulk": (
        Annotated[bool, typer.Option("--bulk", help="Pull the population with Bulk Data $export.")],
        False,
    ),
    "dry_run": (
        Annotated[
            Path | None,
            typer.Option(
                help="Write the transaction Bundles to this folder instead of the target.",
                rich_help_panel=RUN_PANEL,
            ),
        ],
        None,
    ),
    "errors": (
        Annotated[
            Path | None,
            typer.Option(
                help="Write rejected inputs and failed patients (NDJSON OperationOutcomes) here.",
                rich_help_panel=RUN_PANEL,
            ),
        ],
        None,
    ),
    "config": (
        Annotated[
            Path | None,
            typer.Option(
                help="TOML configuration file (also FHIR_SYNC_CONFIG).", rich_help_panel=RUN_PANEL
            ),
        ],
        None,
    ),
}


def _setting_flags() -> dict[str, tuple[str, str, Flag]]:
    """Parameter name -> (section, key, flag) of every `fhir-sync sync` setting flag."""
    found: dict[str, tuple[str, str, Flag]] = {}
    for model in (SyncSection, EndpointSection):
        for key, _, flag in model.flags():
            if flag.panel is not None:
                name = flag.name.split("/")[0].removeprefix("--").replace("-", "_")
                found[name] = (flag.section, key, flag)
    return found


SETTING_FLAGS: Final = _setting_flags()


def _parameters() -> list[inspect.Parameter]:
    declared = dict(RUN_OPTIONS)
    for name, (_, _, flag) in SETTING_FLAGS.items():
        option = typer.Option(
            flag.name, help=flag.help, rich_help_panel=flag.panel, **dict(flag.options)
        )
        declared[name] = (Annotated[flag.type | None, option], None)
    rank = {name: place for place, name in enumerate(ORDER)}
    return [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
        )
        for name, (annotation, default) in sorted(
            declared.items(), key=lambda item: rank.get(item[0], len(rank))
        )
    ]


def _layer_value(value: Any) -> Any:
    """A flag's value as the layers read it: text for paths and choices, None for no items."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple) and not value:
        return None
    return value


def sync(**given: Any) -> None:
    """Pull orders and fills from FHIR servers, plan, and write the plans back."""
    from fhir_sync.cli.sync_run import RunRequest, run

    flags = {
        (section, key): _layer_value(given[name])
        for name, (section, key, _) in SETTING_FLAGS.items()
    }
    request = RunRequest(
        flags={key: value for key, value in flags.items() if value is not None},
        config_file=given["config"],
        patients=list(given["patient"] or []),
        since=given["since"],
        bulk=given["bulk"],
        dry_run=given["dry_run"],
        errors_file=given["errors"],
    )
    code = run(request, Console(), Console(stderr=True))
    if code:
        raise typer.Exit(code)


sync.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
