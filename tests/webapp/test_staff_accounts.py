"""The sign-in rules on both databases: lockout, sessions that expire when idle or old,
CSRF tokens per session, a disabled user signed out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update

from fhir_sync.services.staff_accounts import (
    IDLE,
    LIFETIME,
    MAX_FAILURES,
    Role,
    add_user,
    disable_user,
    is_locked,
    session_of,
    sign_in,
    token_hash,
)
from fhir_sync.store.database import write_transaction
from fhir_sync.store.staff import SESSIONS, USERS
from tests.server.conftest import backend_engine, engine

__all__ = ["backend_engine", "engine"]
PASSWORD = "a long enough password"


def test_lockout_counts_failures_in_a_row(engine: Engine) -> None:
    add_user(engine, "anna", Role.PHARMACIST, PASSWORD)
    for _ in range(MAX_FAILURES - 1):
        assert sign_in(engine, "anna", "wrong") is None
    assert sign_in(engine, "anna", PASSWORD) is not None  # a good one resets the count
    for _ in range(MAX_FAILURES):
        assert sign_in(engine, "anna", "wrong") is None
    assert is_locked(engine, "anna")
    assert sign_in(engine, "anna", PASSWORD) is None
    with write_transaction(engine) as connection:  # the lock's time has passed
        connection.execute(
            update(USERS).values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert sign_in(engine, "anna", PASSWORD) is not None


def test_sessions_expire_idle_or_old_and_each_has_its_own_csrf(engine: Engine) -> None:
    add_user(engine, "ben", Role.TECHNICIAN, PASSWORD)
    first = sign_in(engine, "ben", PASSWORD)
    second = sign_in(engine, "ben", PASSWORD)
    assert first is not None and second is not None
    assert first.csrf != second.csrf and first.token != second.token
    found = session_of(engine, first.token)
    assert found is not None and found.staff.role is Role.TECHNICIAN
    assert not found.staff.can_change_enrollment
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        connection.execute(
            update(SESSIONS)
            .where(SESSIONS.c.token_hash == token_hash(first.token))
            .values(last_seen=now - IDLE - timedelta(seconds=1))
        )
        connection.execute(
            update(SESSIONS)
            .where(SESSIONS.c.token_hash == token_hash(second.token))
            .values(expires_at=now - timedelta(seconds=1), created_at=now - LIFETIME)
        )
    assert session_of(engine, first.token) is None
    assert session_of(engine, second.token) is None
    assert session_of(engine, "not-a-token") is None


def test_a_disabled_user_is_signed_out(engine: Engine) -> None:
    add_user(engine, "cara", Role.PHARMACIST, PASSWORD)
    signed = sign_in(engine, "cara", PASSWORD)
    assert signed is not None
    disable_user(engine, "cara")
    assert session_of(engine, signed.token) is None
    assert sign_in(engine, "cara", PASSWORD) is None
