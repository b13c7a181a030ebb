"""The settings that decide whom the server believes about where it is and who is asking: the
proxies it trusts, the token URLs it answers to, the token endpoint's rate limits and how long
it waits for a client's keys. Declared and checked in the settings tree (settings/sections.py,
`EdgeSection`); this is the value `ServerSettings` holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fhir_sync.settings import EdgeSection

_DEFAULT = EdgeSection.defaults()


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

    trusted_proxies: tuple[str, ...] = _DEFAULT["trusted_proxies"]
    token_urls: tuple[str, ...] = _DEFAULT["token_urls"]
    token_rate_per_client: int = _DEFAULT["token_rate_per_client"]
    token_rate_per_address: int = _DEFAULT["token_rate_per_address"]
    jwks_timeout: float = _DEFAULT["jwks_timeout"]
    jwks_failure_cache: float = _DEFAULT["jwks_failure_cache"]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EdgeSettings:
        return cls.of(EdgeSection.from_env(environ))

    @classmethod
    def of(cls, section: EdgeSection) -> EdgeSettings:
        return cls(**section.model_dump())

    @property
    def forwarded_allow_ips(self) -> str | None:
        """What uvicorn's proxy-headers support is given (None: proxy headers off)."""
        return ",".join(self.trusted_proxies) or None
