"""SMART Backend Services: a client_credentials grant authenticated by a signed JWT assertion.

Signing is PyJWT's; nothing here touches cryptographic primitives. One token is shared by all
requests of an endpoint and fetched under a lock, so a burst of concurrent calls costs a single
token request, and a 401 storm invalidates the token once rather than once per request.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt

from adapters.http.credentials import SmartBackendServices
from adapters.http.errors import FhirError
from adapters.http.media import FORM_URLENCODED, load_json_object

if TYPE_CHECKING:
    from adapters.http.transport import Transport

log = logging.getLogger("adapters.http.smart")

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Used when a token response omits expires_in (it SHALL NOT, but some do): short and safe.
DEFAULT_TOKEN_LIFETIME = 300.0


@dataclass(frozen=True, slots=True)
class _Token:
    header: str
    refresh_at: float


def client_assertion(config: SmartBackendServices, token_url: str, now: float) -> str:
    """A fresh signed assertion; a new ``jti`` every call, as servers reject replays."""
    claims: dict[str, Any] = {
        "iss": config.client_id,
        "sub": config.client_id,
        "aud": token_url,
        "iat": int(now),
        "exp": int(now + config.assertion_lifetime),
        "jti": uuid.uuid4().hex,
    }
    headers: dict[str, Any] = {"kid": config.key_id, "typ": "JWT"}
    if config.jku:
        headers["jku"] = config.jku
    return jwt.encode(claims, config.private_key_pem, algorithm=config.algorithm, headers=headers)


class SmartBackendAuthenticator:
    def __init__(
        self, config: SmartBackendServices, base_url: str, clock: Callable[[], float]
    ) -> None:
        self._config = config
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._token_url = config.token_url
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SmartBackendAuthenticator(client_id={self._config.client_id!r})"

    async def authorization(self, transport: Transport) -> str | None:
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.header
        async with self._lock:
            token = self._token
            if token is None or self._clock() >= token.refresh_at:
                token = await self._fetch(transport)
                self._token = token
            return token.header

    async def invalidate(self, used: str) -> bool:
        if self._token is not None and self._token.header == used:
            self._token = None
        return True

    async def token_url(self, transport: Transport) -> str:
        if self._token_url is None:
            self._token_url = await self._discover(transport)
        return self._token_url

    async def _discover(self, transport: Transport) -> str:
        url = f"{self._base_url}/.well-known/smart-configuration"
        response = await transport.request(
            "GET", url, headers={"Accept": "application/json"}, authenticate=False, limited=False
        )
        doc = load_json_object(response.content) or {}
        endpoint = doc.get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise FhirError(
                "SMART discovery failed: smart-configuration has no token_endpoint",
                status=response.status_code,
                method="GET",
                path="/.well-known/smart-configuration",
            )
        return endpoint

    async def _fetch(self, transport: Transport) -> _Token:
        token_url = await self.token_url(transport)

        def form() -> bytes:
            # Built per attempt: a retried token request needs a new jti.
            fields = {
                "grant_type": "client_credentials",
                "scope": " ".join(self._config.scopes),
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": client_assertion(self._config, token_url, self._clock()),
            }
            return urlencode(fields).encode()

        requested_at = self._clock()
        response = await transport.request(
            "POST",
            token_url,
            content=form,
            headers={"Content-Type": FORM_URLENCODED, "Accept": "application/json"},
            idempotent=True,
            authenticate=False,
            limited=False,
            check=False,
        )
        doc = load_json_object(response.content) or {}
        if response.status_code != 200:
            # The OAuth error code is a fixed vocabulary; error_description is not echoed.
            code = doc.get("error") if isinstance(doc.get("error"), str) else "no error code"
            raise FhirError(
                f"SMART token request failed with HTTP {response.status_code} ({code})",
                status=response.status_code,
                method="POST",
                path=response.request.url.path,
            )
        access_token = doc.get("access_token")
        token_type = str(doc.get("token_type", "bearer"))
        if not isinstance(access_token, str) or token_type.lower() != "bearer":
            raise FhirError(
                "SMART token response has no bearer access_token",
                status=response.status_code,
                method="POST",
                path=response.request.url.path,
            )
        lifetime = _lifetime(doc.get("expires_in"))
        # Refresh `refresh_margin` early, but never sooner than half-way for short-lived tokens.
        ahead = max(lifetime - self._config.refresh_margin, lifetime / 2)
        log.debug("SMART token obtained, valid for %.0f s", lifetime)
        return _Token(header=f"Bearer {access_token}", refresh_at=requested_at + ahead)


def _lifetime(value: Any) -> float:
    if isinstance(value, bool):
        return DEFAULT_TOKEN_LIFETIME
    if isinstance(value, int | float) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return DEFAULT_TOKEN_LIFETIME
        return parsed if parsed > 0 else DEFAULT_TOKEN_LIFETIME
    return DEFAULT_TOKEN_LIFETIME
