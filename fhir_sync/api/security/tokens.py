"""The server's access tokens: short-lived JWTs signed with HMAC-SHA256 (HS256).

Why HMAC and not a key pair: this server is both the authorization server and the only
resource server that ever checks these tokens, so a public key would have no one to verify
with; and every API request verifies a token, where HMAC costs microseconds against tens of
microseconds for an RSA or EC signature check. The secret is generated on first use and kept
in the database (`token_key`), so every server process, on any host, shares it with no
configuration, and a fresh install needs no secret set up; whoever can read that database can
already read every plan in it.

Tokens carry the client's id, role, payer and granted scopes. They are checked strictly: HS256
only (so `alg: none` or a token signed with some public key cannot pass), our `typ`, issuer
and audience, a known key id, and expiry without leeway (every process issues and checks
against the same clocks within NTP's accuracy).
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import jwt
from sqlalchemy import Engine

from fhir_sync.api.auth import Caller
from fhir_sync.api.security.scopes import ROLES
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.tables import RegisteredClient
from fhir_sync.store.token_keys import create_first_key, token_keys

TOKEN_LIFETIME: Final = 300  # seconds: SMART recommends at most five minutes
ISSUER: Final = "fhir-sync"
AUDIENCE: Final = "fhir-sync/fhir"
TOKEN_TYPE: Final = "at+jwt"  # RFC 9068: an access token, never mistaken for another JWT
_ALGORITHM: Final = "HS256"
_RELOAD_INTERVAL: Final = 10.0  # seconds between key reloads caused by unknown key ids
_VERIFIED_CACHE: Final = 4096  # tokens remembered as verified, per process


class RejectedTokenError(Exception):
    """The bearer token cannot be trusted; the message is safe to send back."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


class TokenKeys:
    """The signing secrets, loaded once and reloaded when a token names a key not yet seen
    (another process created or rotated it), at most every few seconds."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._keys: list[tuple[str, bytes]] = []
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def current(self) -> tuple[str, bytes]:
        """(kid, secret) to sign with: the newest key, created when there is none."""
        with self._lock:
            if not self._keys:
                self._load(create=True)
            return self._keys[0]

    def get(self, kid: str) -> bytes | None:
        with self._lock:
            if self._loaded_at is None:
                self._load(create=False)
            found = dict(self._keys).get(kid)
            recently = self._loaded_at is not None and (
                self._clock() - self._loaded_at < _RELOAD_INTERVAL
            )
            if found is None and not recently:
                self._load(create=False)
                found = dict(self._keys).get(kid)
            return found

    def _load(self, *, create: bool) -> None:
        with read_transaction(self._engine) as connection:
            keys = token_keys(connection)
        if not keys and create:
            with write_transaction(self._engine) as connection:
                create_first_key(connection, secrets.token_hex(32), datetime.now(UTC))
            with read_transaction(self._engine) as connection:
                keys = token_keys(connection)
        self._keys = [(kid, bytes.fromhex(secret)) for kid, secret in keys]
        self._loaded_at = self._clock()


class TokenService:
    """Issues and verifies access tokens. A verified token is remembered until it expires: a
    client uses one token for all its requests for minutes, and checking the signature and
    claims again (about 100 us with PyJWT) would cost a noticeable share of a read."""

    def __init__(self, keys: TokenKeys, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock
        self._verified: dict[str, tuple[Caller, int]] = {}

    def issue(
        self, client: RegisteredClient, scopes: tuple[str, ...], *, lifetime: int = TOKEN_LIFETIME
    ) -> IssuedToken:
        now = int(self._clock())
        kid, secret = self._keys.current()
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": client.client_id,
            "client_id": client.client_id,
            "role": client.role,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            "gen": client.generation,
        }
        if client.payer is not None:
            claims["payer"] = client.payer
        token = jwt.encode(
            claims, secret, algorithm=_ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE}
        )
        return IssuedToken(token, lifetime, claims["scope"])

    def verify(self, token: str) -> Caller:
        """The caller the token was issued to; RejectedTokenError when it is not one of ours, has
        been tampered with or has expired."""
        known = self._verified.get(token)
        if known is not None:
            caller, expires = known
            if self._clock() < expires:
                return caller
            self._verified.pop(token, None)
            raise RejectedTokenError("the access token has expired")
        caller, expires = self._check(token)
        if len(self._verified) >= _VERIFIED_CACHE:
            self._verified.clear()  # a crude bound; the clients' next requests refill it
        self._verified[token] = (caller, expires)
        return caller

    def _check(self, token: str) -> tuple[Caller, int]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise RejectedTokenError("the access token is not a JWT") from None
        kid = header.get("kid")
        if header.get("alg") != _ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise RejectedTokenError("the access token was not issued by this server")
        secret = self._keys.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise RejectedTokenError("the access token was not issued by this server")
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=[_ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise RejectedTokenError("the access token has expired") from None
        except jwt.InvalidTokenError:
            raise RejectedTokenError("the access token is invalid") from None
        return _caller(claims), int(claims["exp"])


def _caller(claims: dict[str, Any]) -> Caller:
    client_id, role, scope = claims.get("sub"), claims.get("role"), claims.get("scope")
    payer, generation = claims.get("payer"), claims.get("gen")
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise RejectedTokenError("the access token is invalid")
    if not isinstance(client_id, str) or role not in ROLES or not isinstance(scope, str):
        raise RejectedTokenError("the access token is invalid")
    if not (payer is None or isinstance(payer, str)) or (role == "payer") != (payer is not None):
        # A payer token without its payer would see every patient: never accept one.
        raise RejectedTokenError("the access token is invalid")
    return Caller(
        client_id=client_id,
        role=str(role),
        scopes=frozenset(scope.split()),
        payer=payer,
        generation=generation,
    )
