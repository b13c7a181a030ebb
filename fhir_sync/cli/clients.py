"""`fhir-sync clients add|list|remove|rotate`: who may call the server's API, and in which role.

Uses the same database as `fhir-sync serve` (FHIR_SYNC_DATABASE_URL, else the SQLite file in
the data directory) and migrates it first when the server would (FHIR_SYNC_MIGRATE_ON_START), so
clients can be registered before the first start. A running server notices a registration or a
removal within seconds: no restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, NoReturn

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

clients_app = typer.Typer(
    help="API clients (SMART Backend Services): register, list, remove.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

CLIENT_ID: Final = re.compile(r"[A-Za-z0-9._~:@-]{1,128}")
ORGANIZATION_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
USAGE: Final = 2


class Role(StrEnum):
    ehr = "ehr"
    prescriber = "prescriber"
    payer = "payer"
    pharmacy = "pharmacy"


@clients_app.command("add")
def add(
    client_id: Annotated[
        str, typer.Option("--id", help="The client id (its assertions' iss and sub).")
    ],
    role: Annotated[
        Role, typer.Option(help="ehr or prescriber (read plans), payer (its members), pharmacy.")
    ],
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="A file with the client's public JWKS.")
    ] = None,
    jwks_url: Annotated[
        str | None, typer.Option("--jwks-url", help="Where the client publishes its JWKS.")
    ] = None,
    payer: Annotated[
        str | None,
        typer.Option(help="For payers: the Organization whose members it sees (Organization/ID)."),
    ] = None,
    name: Annotated[str, typer.Option(help="A description for people.")] = "",
) -> None:
    """Register a client (a removed client's id may be registered again)."""
    from fhir_sync.cli.database import database_name
    from fhir_sync.store.clients import ClientExistsError, add_client, any_client_registered
    from fhir_sync.store.database import write_transaction
    from fhir_sync.store.tables import RegisteredClient

    if not CLIENT_ID.fullmatch(client_id):
        usage_error("--id: 1-128 letters, digits and . _ ~ : @ -")
    organization = _payer(payer, role)
    jwks_text = _checked_keys(jwks, jwks_url)
    client = RegisteredClient(
        client_id=client_id,
        name=name[:200],
        role=role.value,
        jwks=jwks_text,
        jwks_url=jwks_url,
        payer=organization,
        created_at=datetime.now(UTC),
    )
    with server_database(create=True) as engine, write_transaction(engine) as connection:
        first = not any_client_registered(connection)
        try:
            add_client(connection, client)
        except ClientExistsError:
            err.print(f"[red]error:[/red] client {client_id} exists; remove it first")
            raise typer.Exit(1) from None
    typer.echo(
        f"registered client {client_id} ({role.value}{', ' + organization if organization else ''})"
        f" in the database {database_name()}"
    )
    if first:
        out.print(
            "the first client: with FHIR_SYNC_AUTH=auto (the default) every API call to a server "
            "on this database needs an access token (a running server notices within seconds)"
        )


def _checked_keys(jwks: Path | None, jwks_url: str | None) -> str | None:
    """The JWKS text of `--jwks` (None for `--jwks-url`), checked; exactly one is given."""
    from fhir_sync.api.security.jwks import JwksError, JwksFetcher, check_jwks_url, parse_jwks

    if (jwks is None) == (jwks_url is None):
        usage_error("give exactly one of --jwks FILE and --jwks-url URL")
    jwks_text = None
    try:
        if jwks is not None:
            jwks_text = jwks.read_text(encoding="utf-8")
            parse_jwks(jwks_text)
        elif jwks_url is not None:
            check_jwks_url(jwks_url)
    except OSError as exc:
        usage_error(f"cannot read {jwks}: {exc.strerror or exc}")
    except JwksError as exc:
        usage_error(f"unusable JWKS: {exc}")
    if jwks_url is not None:
        try:
            JwksFetcher().keys(jwks_url)
        except JwksError as exc:
            err.print(f"[yellow]warning:[/yellow] {exc}; registered anyway")
    return jwks_text


@clients_app.command("list")
def list_(
    include_removed: Annotated[bool, typer.Option("--all", help="Also removed clients.")] = False,
) -> None:
    """The registered clients."""
    from fhir_sync.store.clients import list_clients
    from fhir_sync.store.database import read_transaction

    with server_database() as engine, read_transaction(engine) as connection:
        clients = list_clients(connection, include_removed=include_removed)
    table = Table("id", "role", "payer", "keys", "registered", "status")
    for client in clients:
        table.add_row(
            client.client_id,
            client.role,
            client.payer or "",
            client.jwks_url or _kids(client.jwks),
            client.created_at.strftime("%Y-%m-%d %H:%M"),
            "removed" if client.disabled else "active",
        )
    out.print(table)


@clients_app.command("rotate")
def rotate(
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="A file with the client's new public JWKS.")
    ] = None,
    jwks_url: Annotated[
        str | None, typer.Option("--jwks-url", help="Where the client now publishes its JWKS.")
    ] = None,
    overlap: Annotated[
        int,
        typer.Option(
            min=0,
            max=7 * 24 * 3600,
            help="Seconds the old keys (and tokens issued before) keep working.",
        ),
    ] = 3600,
) -> None:
    """Give a client new keys. During the overlap the old keys still sign valid assertions and
    tokens issued before stay valid; after it both are refused (0: at once)."""
    from datetime import timedelta

    from fhir_sync.store.clients import rotate_client
    from fhir_sync.store.database import write_transaction

    jwks_text = _checked_keys(jwks, jwks_url)
    until = datetime.now(UTC) + timedelta(seconds=overlap)
    with server_database() as engine, write_transaction(engine) as connection:
        generation = rotate_client(
            connection, client_id, jwks=jwks_text, jwks_url=jwks_url, overlap_until=until
        )
    if generation is None:
        err.print(f"[red]error:[/red] no active client {client_id[:128]}")
        raise typer.Exit(1)
    out.print(
        f"rotated the keys of client {client_id} (generation {generation}); the old keys and "
        f"tokens work until {until.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    )


@clients_app.command("remove")
def remove(client_id: Annotated[str, typer.Argument(help="The client id.")]) -> None:
    """Remove a client: no new tokens; its current tokens stop working within seconds."""
    from fhir_sync.store.clients import remove_client
    from fhir_sync.store.database import write_transaction

    with server_database() as engine, write_transaction(engine) as connection:
        removed = remove_client(connection, client_id)
    if not removed:
        err.print(f"[red]error:[/red] no active client {client_id[:128]}")
        raise typer.Exit(1)
    out.print(f"removed client {client_id}")


def _payer(payer: str | None, role: Role) -> str | None:
    if role is not Role.payer:
        if payer is not None:
            usage_error("--payer is for payer clients only")
        return None
    if payer is None:
        usage_error("payer clients need --payer Organization/ID: the members they may see")
    organization = payer.removeprefix("Organization/")
    if not ORGANIZATION_ID.fullmatch(organization):
        usage_error("--payer must be Organization/ID")
    return f"Organization/{organization}"


def _kids(jwks: str | None) -> str:
    from fhir_sync.api.security.jwks import JwksError, parse_jwks

    try:
        return ", ".join(key["kid"] for key in parse_jwks(jwks or ""))
    except JwksError:
        return "(unusable JWKS)"


@contextmanager
def server_database(*, create: bool = False) -> Iterator[Engine]:
    """The server's database, migrated first when the server would (shared by the commands
    that manage what `fhir-sync serve` uses). Only `create` commands may make a new one."""
    from fhir_sync.cli.database import command_database

    with command_database(create=create) as engine:
        yield engine


def usage_error(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(USAGE)
