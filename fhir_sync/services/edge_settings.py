"""The settings that decide whom the server believes about where it is and who is asking: the
proxies it trusts, the token URLs it answers to, the token endpoint's rate limits and how long
it waits for a client's keys. From the environment, like `ServerSettings`, which holds them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar
from urllib.parse import urlsplit

N = TypeVar("N", int, float)
TRUSTED_PROXIES_ENV: Final = "FHIR_SYNC_TRUSTED_PROXIES"
TOKEN_URLS_ENV: Final = "FHIR_SYNC_TOKEN_URLS"
TOKEN_RATE_CLIENT_ENV: Final = "FHIR_SYNC_TOKEN_RATE_PER_CLIENT"
TOKEN_RATE_ADDRESS_ENV: Final = "FHIR_SYNC_TOKEN_RATE_PER_ADDRESS"
JWKS_TIMEOUT_ENV: Final = "FHIR_SYNC_JWKS_TIMEOUT"
JWKS_FAILURE_CACHE_ENV: Final = "FHIR_SYNC_JWKS_FAILURE_CACHE"


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """`trusted_proxies`: addresses or networks (CIDR) whose `X-Forwarded-For` and
    `X-Forwarded-Proto` are believed; from anyone else they are ignored. The `Host` header is
    never believed: without `FHIR_SYNC_PUBLIC_URL` the server's URL is its listening address.
    `token_urls`: further URLs a client assertion's `aud` may name (the server's own token URL,
    from the public URL, is always accepted), e.g. an old host name during a move.
    `token_rate_per_client` / `token_rate_per_address`: token requests a minute allowed per
    client id and per caller address (0: no limit); past them the answer is 429.
    `jwks_timeout`: seconds to wait for a client's JWKS URL; `jwks_failure_cache`: seconds a
    failed fetch is remembered (assertions naming that client fail at once meanwhile)."""

    trusted_proxies: tuple[str, ...] = ()
    token_urls: tuple[str, ...] = ()
    token_rate_per_client: int = 30
    token_rate_per_address: int = 120
    jwks_timeout: float = 2.0
    jwks_failure_cache: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EdgeSettings:
        env = os.environ if environ is None else environ
        return cls(
            trusted_proxies=_proxies(env.get(TRUSTED_PROXIES_ENV, "")),
            token_urls=_urls(env.get(TOKEN_URLS_ENV, "")),
            token_rate_per_client=_number(env, TOKEN_RATE_CLIENT_ENV, 30, int),
            token_rate_per_address=_number(env, TOKEN_RATE_ADDRESS_ENV, 120, int),
            jwks_timeout=_number(env, JWKS_TIMEOUT_ENV, 2.0, float),
            jwks_failure_cache=_number(env, JWKS_FAILURE_CACHE_ENV, 30.0, float),
        )

    @property
    def forwarded_allow_ips(self) -> str | None:
        """What uvicorn's proxy-headers support is given (None: proxy headers off)."""
        return ",".join(self.trusted_proxies) or None


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _proxies(text: str) -> tuple[str, ...]:
    for item in _items(text):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV}: {item!r} is not an address or network"
            ) from None
    return tuple(_items(text))


def _urls(text: str) -> tuple[str, ...]:
    urls = tuple(item.rstrip("/") for item in _items(text))
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{TOKEN_URLS_ENV}: {url!r} is not an http(s) URL")
    return urls


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 or more")
    return value
