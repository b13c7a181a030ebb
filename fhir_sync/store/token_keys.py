"""The secrets access tokens are signed with, shared by every server process.

The first key has a fixed id, so that processes starting at the same moment on an empty
database all end up with the one key that won the insert rather than each with its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import Connection, Table, select

from fhir_sync.store.idempotent import insert_if_absent
from fhir_sync.store.tables import TokenKey

TOKEN_KEY: Table = TokenKey.__table__  # type: ignore[attr-defined]
FIRST_KID: Final = "k1"


def token_keys(connection: Connection) -> list[tuple[str, str]]:
    """(kid, secret) of every key, newest first."""
    rows = connection.execute(
        select(TOKEN_KEY.c.kid, TOKEN_KEY.c.secret).order_by(
            TOKEN_KEY.c.created_at.desc(), TOKEN_KEY.c.kid.desc()
        )
    )
    return [(row[0], row[1]) for row in rows]


def create_first_key(connection: Connection, secret: str, now: datetime) -> None:
    """Store `secret` as the first key unless another process stored one already."""
    insert_if_absent(connection, TOKEN_KEY, {"kid": FIRST_KID, "secret": secret, "created_at": now})
