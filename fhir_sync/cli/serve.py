"""`fhir-sync serve` and `fhir-sync db upgrade|current|check`, registered on the main CLI."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

db_app = typer.Typer(
    help="The server database: create or migrate its schema.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (share one PostgreSQL database).")
    ] = 1,
    outbox_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Write-back loops per process (default FHIR_SYNC_OUTBOX_WORKERS, else 2; "
            "0: leave the outbox to `fhir-sync worker` processes).",
        ),
    ] = None,
) -> None:
    """Run the FHIR server (database from FHIR_SYNC_DATABASE_URL; default a SQLite file)."""
    import os

    import uvicorn

    from fhir_sync.server.live_settings import OUTBOX_WORKERS_ENV

    if outbox_workers is not None:
        os.environ[OUTBOX_WORKERS_ENV] = str(outbox_workers)  # read by each server process

    from fhir_sync.server.settings import ServerSettings
    from fhir_sync.store.database import open_engine
    from fhir_sync.store.migrate import upgrade

    settings = ServerSettings.from_env()
    if settings.migrate_on_start:
        # Once here rather than in every worker process (each would wait on the lock anyway).
        engine = open_engine(settings.database_url)
        upgrade(engine)
        engine.dispose()
    uvicorn.run(
        "fhir_sync.server.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # request lines name patients in URLs: no PHI in logs
        proxy_headers=True,
    )


@db_app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create the schema or migrate it to the newest revision (safe to run again)."""
    from fhir_sync.store.database import database_url, open_engine
    from fhir_sync.store.migrate import current_revision
    from fhir_sync.store.migrate import upgrade as run_upgrade

    engine = open_engine(database_url())
    try:
        run_upgrade(engine, revision)
        out.print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command()
def current() -> None:
    """Print the schema revision of the database (none when it was never migrated)."""
    from fhir_sync.store.database import database_url, open_engine
    from fhir_sync.store.migrate import current_revision, head_revision

    engine = open_engine(database_url())
    try:
        out.print(f"current {current_revision(engine) or 'none'}, newest {head_revision()}")
    finally:
        engine.dispose()


@db_app.command()
def check() -> None:
    """Exit 1 when the database schema differs from what this version expects."""
    from fhir_sync.store.database import database_url, open_engine
    from fhir_sync.store.migrate import schema_differences

    engine = open_engine(database_url())
    try:
        with engine.connect() as connection:
            differences = schema_differences(connection)
    finally:
        engine.dispose()
    for difference in differences:
        err.print(str(difference))
    if differences:
        raise typer.Exit(1)
    out.print("schema matches the models")
