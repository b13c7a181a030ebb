"""Authenticators: what goes in the Authorization header, and whether a 401 is worth a retry.

The transport asks for a header before each attempt and calls ``invalidate`` once on a 401 with
the header it sent; an authenticator that can obtain a fresh credential answers True, and the
request is repeated once. A second 401 surfaces as an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from adapters.http.credentials import AuthConfig, NoAuth, SmartBackendServices, StaticBearer
from adapters.http.smart import SmartBackendAuthenticator

if TYPE_CHECKING:
    from adapters.http.transport import Transport


class Authenticator(Protocol):
    async def authorization(self, transport: Transport) -> str | None:
        """The Authorization header value to send, or None for none."""
        ...

    async def invalidate(self, used: str) -> bool:
        """Forget ``used`` after a 401; True if asking again may yield a working credential."""
        ...


class NoAuthenticator:
    async def authorization(self, transport: Transport) -> str | None:
        return None

    async def invalidate(self, used: str) -> bool:
        return False


class StaticBearerAuthenticator:
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "StaticBearerAuthenticator(<redacted>)"

    async def authorization(self, transport: Transport) -> str | None:
        return self._header

    async def invalidate(self, used: str) -> bool:
        return False


def build_authenticator(
    config: AuthConfig, base_url: str, clock: Callable[[], float]
) -> Authenticator:
    if isinstance(config, StaticBearer):
        return StaticBearerAuthenticator(config.token)
    if isinstance(config, SmartBackendServices):
        return SmartBackendAuthenticator(config, base_url, clock)
    if isinstance(config, NoAuth):
        return NoAuthenticator()
    raise TypeError(f"unsupported auth config {type(config).__name__}")
