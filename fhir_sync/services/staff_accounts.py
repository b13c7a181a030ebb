"""Pharmacy staff accounts for the web app: passwords, sign-in with lockout, sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed when those move on).
After `MAX_FAILURES` wrong passwords in a row an account is locked for `LOCKOUT`; the answer to
a locked, disabled or unknown user is the same "not signed in" as to a wrong password, so the
sign-in form does not tell an attacker which user names exist. A session is a random token in
an HttpOnly cookie; the database keeps only its SHA-256 and the session's CSRF token, and the
session ends after `IDLE` without use or `LIFETIME` in all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from fhir_sync.services.errors import StateConflictError
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.staff import (
    delete_expired_sessions,
    delete_session,
    delete_user_sessions,
    get_session,
    get_user,
    insert_session,
    insert_user,
    list_users,
    update_session,
    update_user,
)
from fhir_sync.store.tables import StaffSession, StaffUser

MAX_FAILURES: Final = 5
LOCKOUT: Final = timedelta(minutes=15)
IDLE: Final = timedelta(hours=8)
LIFETIME: Final = timedelta(hours=12)
MIN_PASSWORD: Final = 10
USERNAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")

_hasher = PasswordHasher()
# Verified against when the user does not exist, so that the answer takes as long either way.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    PHARMACIST = "pharmacist"
    TECHNICIAN = "technician"


class AccountError(ValueError):
    """A user name, role or password that cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class Staff:
    username: str
    role: Role

    @property
    def can_change_enrollment(self) -> bool:
        return self.role is Role.PHARMACIST


@dataclass(frozen=True, slots=True)
class SignedIn:
    staff: Staff
    token: str  # for the cookie; never stored
    csrf: str


@dataclass(frozen=True, slots=True)
class ActiveSession:
    staff: Staff
    token_hash: str
    csrf: str
    flash: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise AccountError("a user name is 1-64 of a-z, 0-9, '.', '_' and '-'")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AccountError("a password is at most 1024 characters")
    return password


def add_user(engine: Engine, username: str, role: Role, password: str) -> Staff:
    name = check_username(username)
    now = _now()
    user = StaffUser(
        username=name,
        role=role.value,
        password_hash=_hasher.hash(check_password(password)),
        created_at=now,
        password_changed_at=now,
    )
    try:
        with write_transaction(engine) as connection:
            insert_user(connection, user)
    except IntegrityError:
        raise StateConflictError(f"user {name} exists already") from None
    return Staff(name, role)


def users(engine: Engine) -> list[StaffUser]:
    with read_transaction(engine) as connection:
        return list_users(connection)


def disable_user(engine: Engine, username: str) -> None:
    """Disable the account and end its sessions at once."""
    name = check_username(username)
    with write_transaction(engine) as connection:
        if not update_user(connection, name, disabled=True):
            raise AccountError(f"no user {name}")
        delete_user_sessions(connection, name)


def set_password(engine: Engine, username: str, password: str) -> None:
    """A new password; it also unlocks the account and ends its sessions."""
    name = check_username(username)
    hashed = _hasher.hash(check_password(password))
    with write_transaction(engine) as connection:
        changed = update_user(
            connection,
            name,
            password_hash=hashed,
            password_changed_at=_now(),
            failed_attempts=0,
            locked_until=None,
        )
        if not changed:
            raise AccountError(f"no user {name}")
        delete_user_sessions(connection, name)


def sign_in(engine: Engine, username: str, password: str) -> SignedIn | None:
    """A new session, or None (wrong password, unknown, disabled or locked user)."""
    now = _now()
    try:
        name = check_username(username)
    except AccountError:
        name = ""
    with write_transaction(engine) as connection:
        user = get_user(connection, name, for_update=True) if name else None
        if user is None or user.disabled:
            _verify(_DUMMY_HASH, password)
            return None
        if user.locked_until is not None and _aware(user.locked_until) > now:
            _verify(_DUMMY_HASH, password)
            return None
        if not _verify(user.password_hash, password):
            failures = user.failed_attempts + 1
            locked = now + LOCKOUT if failures >= MAX_FAILURES else None
            update_user(
                connection,
                name,
                failed_attempts=0 if locked else failures,
                locked_until=locked,
            )
            return None
        values: dict[str, object] = {"failed_attempts": 0, "locked_until": None}
        if _hasher.check_needs_rehash(user.password_hash):
            values["password_hash"] = _hasher.hash(password)
        update_user(connection, name, **values)
        delete_expired_sessions(connection, now)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        insert_session(
            connection,
            StaffSession(
                token_hash=token_hash(token),
                username=name,
                csrf=csrf,
                created_at=now,
                last_seen=now,
                expires_at=now + LIFETIME,
            ),
        )
    return SignedIn(Staff(name, Role(user.role)), token, csrf)


def is_locked(engine: Engine, username: str) -> bool:
    with read_transaction(engine) as connection:
        user = get_user(connection, username)
    return bool(user and user.locked_until and _aware(user.locked_until) > _now())


def session_of(engine: Engine, token: str | None) -> ActiveSession | None:
    """The session a cookie names, if it is still good; its idle clock restarts, and its
    flash message is handed over once."""
    if not token or len(token) > 128:
        return None
    hashed = token_hash(token)
    now = _now()
    with write_transaction(engine) as connection:
        session = get_session(connection, hashed)
        if session is None:
            return None
        user = get_user(connection, session.username)
        expired = _aware(session.expires_at) <= now or _aware(session.last_seen) + IDLE <= now
        if expired or user is None or user.disabled:
            delete_session(connection, hashed)
            return None
        update_session(connection, hashed, last_seen=now, flash=None)
    return ActiveSession(Staff(user.username, Role(user.role)), hashed, session.csrf, session.flash)


def set_flash(engine: Engine, hashed: str, message: str) -> None:
    with write_transaction(engine) as connection:
        update_session(connection, hashed, flash=message[:2000])


def sign_out(engine: Engine, hashed: str) -> None:
    with write_transaction(engine) as connection:
        delete_session(connection, hashed)


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
