"""Web app users and their sessions, as rows; hashing and the sign-in rules are in
services/staff_accounts.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete, select, update

from fhir_sync.store.tables import StaffSession, StaffUser

USERS: Table = StaffUser.__table__  # type: ignore[attr-defined]
SESSIONS: Table = StaffSession.__table__  # type: ignore[attr-defined]


def get_user(
    connection: Connection, username: str, *, for_update: bool = False
) -> StaffUser | None:
    statement = select(USERS).where(USERS.c.username == username)
    if for_update and connection.dialect.name != "sqlite":
        statement = statement.with_for_update()
    row = connection.execute(statement).mappings().first()
    return StaffUser(**row) if row is not None else None


def list_users(connection: Connection) -> list[StaffUser]:
    rows = connection.execute(select(USERS).order_by(USERS.c.username)).mappings()
    return [StaffUser(**row) for row in rows]


def insert_user(connection: Connection, user: StaffUser) -> None:
    connection.execute(USERS.insert().values(**user.model_dump()))


def update_user(connection: Connection, username: str, **values: object) -> int:
    result = connection.execute(update(USERS).where(USERS.c.username == username).values(**values))
    return int(result.rowcount)


def insert_session(connection: Connection, session: StaffSession) -> None:
    connection.execute(SESSIONS.insert().values(**session.model_dump()))


def get_session(connection: Connection, token_hash: str) -> StaffSession | None:
    row = (
        connection.execute(select(SESSIONS).where(SESSIONS.c.token_hash == token_hash))
        .mappings()
        .first()
    )
    return StaffSession(**row) if row is not None else None


def update_session(connection: Connection, token_hash: str, **values: object) -> None:
    connection.execute(update(SESSIONS).where(SESSIONS.c.token_hash == token_hash).values(**values))


def delete_session(connection: Connection, token_hash: str) -> None:
    connection.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == token_hash))


def delete_user_sessions(connection: Connection, username: str) -> None:
    connection.execute(delete(SESSIONS).where(SESSIONS.c.username == username))


def delete_expired_sessions(connection: Connection, now: datetime) -> None:
    connection.execute(delete(SESSIONS).where(SESSIONS.c.expires_at <= now))
