"""The database a command works on, opened the same way by `serve`, `worker`, `db`, `clients`
and `outbox`: one line and exit 2 when it cannot be used, never a driver traceback, and a
command that only reads never creates one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from fhir_sync.services.server_settings import ServerSettings

USAGE: Final = 2


def command_settings() -> ServerSettings:
    from fhir_sync.services.server_settings import ServerSettings

    try:
        return ServerSettings.from_env()
    except ValueError as exc:
        fail(str(exc))


@contextmanager
def command_database(
    *, create: bool, migrate: bool = True, require_schema: bool = True
) -> Iterator[Engine]:
    """The server's database. `create`: the command may create it (`serve`, `worker`,
    `db upgrade`, `clients add`); otherwise a missing one is an error. `migrate`: bring the
    schema up to date first when the server would (FHIR_SYNC_MIGRATE_ON_START).
    `require_schema`: a database never migrated is an error (unless this command migrates)."""
    engine = open_command_database(
        command_settings(), create=create, migrate=migrate, require_schema=require_schema
    )
    try:
        yield engine
    finally:
        engine.dispose()


def open_command_database(
    settings: ServerSettings, *, create: bool, migrate: bool = True, require_schema: bool = True
) -> Engine:
    from sqlalchemy.exc import SQLAlchemyError

    from fhir_sync.store.migrate import upgrade
    from fhir_sync.store.opening import DatabaseProblemError, describe_database, open_database

    will_migrate = migrate and settings.migrate_on_start
    try:
        engine = open_database(
            settings.database_url,
            create=create,
            require_schema=require_schema and not (create and will_migrate),
        )
    except DatabaseProblemError as exc:
        fail(str(exc))
    if will_migrate:
        try:
            upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            shown = describe_database(settings.database_url)
            fail(f"cannot migrate the database {shown}: {reason}")
    return engine


def startup_report(settings: ServerSettings, engine: Engine) -> list[str]:
    """What `serve` and `worker` say when they start: the database (no credentials) and
    whether the API enforces access tokens."""
    from fhir_sync.services.server_settings import AUTH_ENV
    from fhir_sync.store.clients import any_client_registered
    from fhir_sync.store.database import read_transaction
    from fhir_sync.store.opening import describe_database

    lines = [f"database: {describe_database(settings.database_url)}"]
    if settings.auth_required is True:
        lines.append(f"access tokens: enforced ({AUTH_ENV}=1)")
    elif settings.auth_required is False:
        lines.append(
            f"access tokens: NOT enforced ({AUTH_ENV}=0): every caller acts as the pharmacy"
        )
    else:
        with read_transaction(engine) as connection:
            registered = any_client_registered(connection)
        if registered:
            lines.append(f"access tokens: enforced (clients are registered; {AUTH_ENV}=auto)")
        else:
            lines.append(
                f"access tokens: not enforced yet ({AUTH_ENV}=auto): enforced within seconds "
                "of the first `fhir-sync clients add` on this database, no restart needed"
            )
    return lines


def database_name() -> str:
    """The configured database for messages (no credentials)."""
    from fhir_sync.store.opening import describe_database

    return describe_database(command_settings().database_url)


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(USAGE)
