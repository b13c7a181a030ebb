"""Replay protection for client assertions: each `jti` is claimed once per client.

An id is kept only until its assertion expires (after that the assertion is refused as expired
anyway), so the table stays as small as the number of assertions of the last few minutes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete

from fhir_sync.store.idempotent import insert_if_absent
from fhir_sync.store.tables import AssertionId

ASSERTION_ID: Table = AssertionId.__table__  # type: ignore[attr-defined]


def claim_assertion_id(
    connection: Connection, client_id: str, jti: str, *, expires_at: datetime, now: datetime
) -> bool:
    """True for the first use of (`client_id`, `jti`), False for a replay."""
    connection.execute(delete(ASSERTION_ID).where(ASSERTION_ID.c.expires_at < now))
    return insert_if_absent(
        connection, ASSERTION_ID, {"client_id": client_id, "jti": jti, "expires_at": expires_at}
    )
