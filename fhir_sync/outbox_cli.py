"""`fhir-sync outbox status|dead|retry`: the writes to EHRs that the server owes, and those it
gave up on, for pharmacy staff to inspect and send again once the cause is fixed.

Uses the server's database (FHIR_SYNC_DATABASE_URL, else the SQLite file in the data
directory); a missing database is an error, never created here. A running server's workers
pick retried writes up within seconds.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fhir_sync.clients_cli import server_database, usage_error

outbox_app = typer.Typer(
    help="Writes to EHRs: what is queued, what was given up, send again.", no_args_is_help=True
)
out = Console()

STATES = ("pending", "done", "dead", "superseded")


@outbox_app.command("status")
def status() -> None:
    """Writes per state: pending (queued or being retried), done, dead (given up), superseded
    (a newer plan replaced them before they were sent)."""
    from fhir_sync.store.outbox_review import outbox_counts

    with server_database() as engine:
        counts = outbox_counts(engine)
    table = Table("state", "writes")
    for state in STATES:
        table.add_row(state, str(counts.get(state, 0)))
    out.print(table)


@outbox_app.command("dead")
def dead(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
) -> None:
    """Dead writes, the most recent first, with the error of their last attempt."""
    from fhir_sync.store.outbox_review import dead_writes

    with server_database() as engine:
        writes = dead_writes(engine, limit)
    if not writes:
        out.print("no dead writes")
        return
    table = Table("id", "patient", "endpoint", "attempts", "failed at (UTC)", "last error")
    for write in writes:
        table.add_row(
            str(write.id),
            write.patient_id,
            write.endpoint,
            str(write.attempts),
            write.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
            write.last_error or "",
        )
    out.print(table)


@outbox_app.command("retry")
def retry(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Ids from `fhir-sync outbox dead`.")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="Every dead write.")] = False,
) -> None:
    """Send dead writes again. One that a newer plan for the same patient and endpoint
    follows is marked superseded instead (it would overwrite the newer plan).

    Exit 1 when some ids were not dead writes."""
    from fhir_sync.store.outbox_review import retry_dead

    if bool(ids) == all_dead:
        usage_error("give the ids of dead writes, or --all")
    with server_database() as engine:
        result = retry_dead(engine, None if all_dead else ids)
    out.print(f"{len(result.requeued)} write(s) queued again")
    if result.superseded:
        shown = ", ".join(map(str, result.superseded))
        out.print(f"{len(result.superseded)} superseded by a newer write: {shown}")
    if result.not_dead:
        out.print(f"not dead writes (unknown, or not dead): {', '.join(map(str, result.not_dead))}")
        raise typer.Exit(1)
