"""Registered SMART Backend Services clients: what `fhir-sync clients` manages and the token
endpoint and the authorizer read.

Removing a client disables it rather than deleting the row: audit events keep naming a client
that exists, and "no client was ever registered" (which leaves authorization off in the
default mode) cannot become true again by removing the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
    generation: int = 1
    previous_until: datetime | None = None

    def accepts(self, generation: int | None, now: datetime) -> bool:
        """Whether a token of `generation` is still good: the current one, or the one before
        while a rotation's overlap lasts."""
        if generation == self.generation:
            return True
        overlapping = self.previous_until is not None and now < self.previous_until
        return overlapping and generation == self.generation - 1


def get_client(connection: Connection, client_id: str) -> RegisteredClient | None:
    row = connection.execute(select(CLIENT).where(CLIENT.c.client_id == client_id)).mappings()
    found = row.first()
    return None if found is None else RegisteredClient(**found)


def add_client(connection: Connection, client: RegisteredClient) -> None:
    """Register `client`; a removed (disabled) client of the same id is replaced."""
    existing = get_client(connection, client.client_id)
    if existing is not None and not existing.disabled:
        raise ClientExistsError(client.client_id)
    values = client.model_dump()
    if existing is not None:
        # A new generation: tokens of the removed registration stay refused.
        values["generation"] = existing.generation + 1
        values["previous_jwks"] = values["previous_until"] = None
        connection.execute(delete(CLIENT).where(CLIENT.c.client_id == client.client_id))
    connection.execute(insert(CLIENT).values(**values))


def rotate_client(
    connection: Connection,
    client_id: str,
    *,
    jwks: str | None,
    jwks_url: str | None,
    overlap_until: datetime,
) -> int | None:
    """Replace an active client's keys; its old inline keys and the tokens of the old
    generation stay valid until `overlap_until`. The new generation, None when no active
    client has this id."""
    existing = get_client(connection, client_id)
    if existing is None or existing.disabled:
        return None
    generation = existing.generation + 1
    connection.execute(
        update(CLIENT)
        .where(CLIENT.c.client_id == client_id)
        .values(
            jwks=jwks,
            jwks_url=jwks_url,
            previous_jwks=existing.jwks,
            previous_until=overlap_until,
            generation=generation,
        )
    )
    return generation


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
        select(
            CLIENT.c.client_id,
            CLIENT.c.role,
            CLIENT.c.payer,
            CLIENT.c.generation,
            CLIENT.c.previous_until,
        ).where(CLIENT.c.disabled.is_(False))
    )
    return {row[0]: ActiveClient(row[1], row[2], row[3], _aware(row[4])) for row in rows}


def active_client(client: RegisteredClient) -> ActiveClient:
    return ActiveClient(client.role, client.payer, client.generation, _aware(client.previous_until))


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives stored UTC times back without their offset."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def any_client_registered(connection: Connection) -> bool:
    """Whether a client was ever registered (removed ones count)."""
    return bool(connection.execute(select(exists().select_from(CLIENT))).scalar())
