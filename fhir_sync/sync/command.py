"""`fhir-sync sync` behind its flags: settings -> clients -> sync -> summary and exit code.

Kept apart from the typer signature (`fhir_sync.sync_cli`) so that `fhir-sync plan` and
`--help` do not pay for importing the HTTP stack.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from adapters.files import write_ndjson
from adapters.http import EndpointSettings, FhirClient, new_http_client
from fhir_sync.sync.config import (
    ConfigError,
    SyncConfig,
    check_patient_ids,
    load_config,
    parse_since,
)
from fhir_sync.sync.pull import Endpoint
from fhir_sync.sync.report import PatientResult, SyncReport
from fhir_sync.sync.service import (
    SyncOptions,
    SyncTargets,
    sync_bulk,
    sync_changed,
    sync_patients,
)
from fhir_sync.sync.summary import error_outcomes, sync_summary
from fhir_sync.sync.writeback import DirectoryPlanWriter

ERRORS_FILE = "errors.ndjson"
OK, SOME_FAILED, USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What to sync, as the flags said (settings come from `load_config`)."""

    flags: dict[tuple[str, str], Any]
    config_file: Path | None
    patients: list[str]
    since: str | None
    bulk: bool
    dry_run: Path | None
    errors_file: Path | None


class UsageError(Exception):
    pass


def run(request: RunRequest, out: Console, err: Console) -> int:
    """Runs the command; returns the exit code. Usage problems are reported, never raised."""
    try:
        config = load_config(request.flags, config_file=request.config_file)
        patients = check_patient_ids(request.patients)
        since = parse_since(request.since) if request.since is not None else None
        _check_modes(patients, since, request.bulk)
        errors_file = request.errors_file
        if request.dry_run is not None:
            request.dry_run.mkdir(parents=True, exist_ok=True)
            errors_file = errors_file or request.dry_run / ERRORS_FILE
    except (ConfigError, UsageError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        return USAGE
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot create the --dry-run folder: {exc.strerror or exc}")
        return USAGE

    with _ProgressBar(out, len(patients) or None) as advance:
        report = asyncio.run(_sync(config, patients, since, request.bulk, request.dry_run, advance))
    out.print(sync_summary(report, config.today, dry_run=request.dry_run is not None))
    if errors_file is not None:
        write_ndjson(errors_file, error_outcomes(report))
    if report.aborted:
        err.print(f"[red]the run stopped early:[/red] {escape(report.aborted)}")
    problems = report.failed + report.rejected
    if problems:
        where = (
            f": see {escape(str(errors_file))}" if errors_file else " (--errors FILE lists them)"
        )
        err.print(
            f"[yellow]{report.failed} patient(s) failed, {report.rejected} input(s)"
            f" rejected{where}[/yellow]"
        )
    return OK if report.complete else SOME_FAILED


def _check_modes(patients: tuple[str, ...], since: str | None, bulk: bool) -> None:
    if patients and (since or bulk):
        raise UsageError("--patient cannot be combined with --since or --bulk")
    if since and bulk:
        raise UsageError(
            "--bulk exports the whole population; --since pulls what changed: use one of them"
        )


async def _sync(
    config: SyncConfig,
    patients: tuple[str, ...],
    since: str | None,
    bulk: bool,
    dry_run: Path | None,
    on_result: Callable[[PatientResult], None],
) -> SyncReport:
    async with _clients(config) as (ehr, pharmacy, target):
        targets = SyncTargets(
            ehr=Endpoint("ehr", ehr),
            dispenses=Endpoint("pharmacy", pharmacy) if pharmacy is not None else None,
            target=Endpoint("target", target) if target is not None else None,
            writer=DirectoryPlanWriter(dry_run) if dry_run is not None else None,
        )
        options = SyncOptions(
            today=config.today,
            prefs=config.prefs,
            location=config.location,
            keep_anchor=config.keep_anchor,
            workers=config.concurrency,
            pickup=config.pickup,
        )
        if bulk:
            return await sync_bulk(targets, options, on_result=on_result)
        if since is not None:
            return await sync_changed(targets, since, options, on_result=on_result)
        return await sync_patients(targets, patients or None, options, on_result=on_result)


@asynccontextmanager
async def _clients(
    config: SyncConfig,
) -> AsyncIterator[tuple[FhirClient, FhirClient | None, FhirClient | None]]:
    """One client (pool, concurrency limit, token cache) per distinct endpoint."""
    async with AsyncExitStack() as stack:

        async def open_client(settings: EndpointSettings) -> FhirClient:
            http = await stack.enter_async_context(new_http_client(settings))
            return FhirClient(settings, http)

        ehr = await open_client(config.ehr)
        pharmacy = await open_client(config.pharmacy) if config.pharmacy else None
        target = await open_client(config.target) if config.target else None
        yield ehr, pharmacy, target


class _ProgressBar:
    """A bar on stdout while patients finish, drawn only on a terminal."""

    def __init__(self, console: Console, total: int | None) -> None:
        self._bars = RichProgress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._bars.add_task("syncing patients", total=total)

    def __enter__(self) -> Callable[[PatientResult], None]:
        self._bars.__enter__()
        return self._advance

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(None, None, None)

    def _advance(self, result: PatientResult) -> None:
        self._bars.advance(self._task)
