"""Registered SMART Backend Services clients: what `fhir-sync clients` manages and the token
endpoint and the authorizer read.

Removing a client disables it rather than deleting the row: audit events keep naming a client
that exists, and "no client was ever registered" (which leaves authorization off in the
default mode) cannot become true again by removing the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete, exists, insert, select, update

from fhir_sync.store.tables import RegisteredClient

CLIENT: Table = RegisteredClient.__table__  # type: ignore[attr-defined]


class ClientExistsError(Exception):
    """An active client already has this id (remove it first to register it again)."""


@dataclass(frozen=True, slots=True)
class ActiveClient:
    """What a valid access token's client must still be: registered, enabled, same role."""

    role: str
    payer: str | None


def get_client(connection: Connection, client_id: str) -> RegisteredClient | None:
    row = connection.execute(select(CLIENT).where(CLIENT.c.client_id == client_id)).mappings()
    found = row.first()
    return None if found is None else RegisteredClient(**found)


def add_client(connection: Connection, client: RegisteredClient) -> None:
    """Register `client`; a removed (disabled) client of the same id is replaced."""
    existing = get_client(connection, client.client_id)
    if existing is not None and not existing.disabled:
        raise ClientExistsError(client.client_id)
    if existing is not None:
        connection.execute(delete(CLIENT).where(CLIENT.c.client_id == client.client_id))
    connection.execute(insert(CLIENT).values(**client.model_dump()))


def list_clients(connection: Connection, *, include_removed: bool) -> list[RegisteredClient]:
    statement = select(CLIENT).order_by(CLIENT.c.client_id)
    if not include_removed:
        statement = statement.where(CLIENT.c.disabled.is_(False))
    return [RegisteredClient(**row) for row in connection.execute(statement).mappings()]


def remove_client(connection: Connection, client_id: str) -> bool:
    """Disable the client; False when no active client has this id."""
    changed = connection.execute(
        update(CLIENT)
        .where(CLIENT.c.client_id == client_id, CLIENT.c.disabled.is_(False))
        .values(disabled=True)
    )
    return changed.rowcount == 1


def active_clients(connection: Connection) -> dict[str, ActiveClient]:
    rows = connection.execute(
        select(CLIENT.c.client_id, CLIENT.c.role, CLIENT.c.payer).where(
            CLIENT.c.disabled.is_(False)
        )
    )
    return {row[0]: ActiveClient(row[1], row[2]) for row in rows}


def any_client_registered(connection: Connection) -> bool:
    """Whether a client was ever registered (removed ones count)."""
    return bool(connection.execute(select(exists().select_from(CLIENT))).scalar())
