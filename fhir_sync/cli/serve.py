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
    """Run the FHIR server (database from FHIR_SYNC_DATABASE_URL; default the SQLite file in
    the data directory, FHIR_SYNC_DATA_DIR)."""
    import os

    import uvicorn

    from fhir_sync.cli.database import command_settings, open_command_database, startup_report
    from fhir_sync.services.live_settings import OUTBOX_WORKERS_ENV

    if outbox_workers is not None:
        os.environ[OUTBOX_WORKERS_ENV] = str(outbox_workers)  # read by each server process

    from fhir_sync.api.http_protocol import FhirHttpProtocol
    from fhir_sync.services.log_privacy import uvicorn_log_config

    settings = command_settings()
    # Migrated once here rather than in every worker process (each would wait on the lock).
    # An unusable database is the one line this prints (exit 2), so it is opened first.
    engine = open_command_database(settings, create=True)
    try:
        for line in startup_report(settings, engine):
            typer.echo(f"fhir-sync serve: {line}", err=True)
    finally:
        engine.dispose()
    _check_public_url(settings.public_url, host, port)
    uvicorn.run(
        "fhir_sync.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # request lines name patients in URLs: no PHI in logs
        http=FhirHttpProtocol,  # unreadable requests answered as OperationOutcomes too
        log_config=uvicorn_log_config(),  # and no exception messages (log_privacy.py)
        # X-Forwarded-For/-Proto only from the proxies FHIR_SYNC_TRUSTED_PROXIES names.
        proxy_headers=settings.edge.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.edge.forwarded_allow_ips,
    )


def _check_public_url(public_url: str | None, host: str, port: int) -> None:
    """Say at start whom token assertions must be addressed to; refuse to run a declared
    production server (FHIR_SYNC_ENV=production) that does not know its public URL."""
    from fhir_sync.settings import ServerSection

    if public_url is not None:
        err.print(f"public URL {public_url}: client assertions must name {public_url}/auth/token")
        return
    if ServerSection.from_env().declared_production:
        err.print("FHIR_SYNC_PUBLIC_URL must be set in production (FHIR_SYNC_ENV=production)")
        raise typer.Exit(2)
    err.print(
        f"FHIR_SYNC_PUBLIC_URL is not set: links and the token URL are the listening address "
        f"(http://{host}:{port} when reached there), never the request's Host; set it in "
        "production."
    )


@db_app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create the schema or migrate it to the newest revision (safe to run again)."""
    from fhir_sync.cli.database import command_database
    from fhir_sync.store.migrate import current_revision
    from fhir_sync.store.migrate import upgrade as run_upgrade
    from fhir_sync.store.opening import describe_database

    with command_database(create=True, migrate=False, require_schema=False) as engine:
        run_upgrade(engine, revision)
        shown = describe_database(engine.url.render_as_string(hide_password=False))
        typer.echo(f"database {shown} at revision {current_revision(engine)}")


@db_app.command()
def current() -> None:
    """Print the schema revision of the database (none when it was never migrated)."""
    from fhir_sync.cli.database import command_database
    from fhir_sync.store.migrate import current_revision, head_revision

    with command_database(create=False, migrate=False, require_schema=False) as engine:
        out.print(f"current {current_revision(engine) or 'none'}, newest {head_revision()}")


@db_app.command()
def check() -> None:
    """Exit 1 when the database schema differs from what this version expects."""
    from fhir_sync.cli.database import command_database
    from fhir_sync.store.migrate import schema_differences

    with (
        command_database(create=False, migrate=False, require_schema=False) as engine,
        engine.connect() as connection,
    ):
        differences = schema_differences(connection)
    for difference in differences:
        err.print(str(difference))
    if differences:
        raise typer.Exit(1)
    out.print("schema matches the models")
