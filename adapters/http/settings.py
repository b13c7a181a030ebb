"""Per-endpoint settings and the vendor quirks they can declare.

Every server the client talks to gets one ``EndpointSettings``; behaviour that differs between
vendors is named by a ``Quirk`` rather than scattered as ``if vendor == ...`` checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from adapters.http.credentials import AuthConfig, NoAuth


class Quirk(StrEnum):
    """Known server behaviours that change what the client must do."""

    #: Paging links name an internal host (server behind a proxy): rewrite their origin onto
    #: ``base_url`` before following them.
    REWRITE_LINK_ORIGIN = "rewrite-link-origin"
    #: ``_sort=_lastUpdated`` is not supported: incremental pulls fall back to following next
    #: links (offset paging can then skip rows that move during the pull; see ``incremental``).
    NO_SORT_BY_LAST_UPDATED = "no-sort-by-last-updated"
    #: The server rejects ``Prefer: handling=strict``; unknown search parameters may then be
    #: silently ignored, widening a query (e.g. a misspelt ``patient`` returns everyone).
    NO_STRICT_HANDLING = "no-strict-handling"
    #: Informational, for callers: next links carry ``_offset``, so pages shift when matching
    #: resources change during a long walk. Prefer ``pull_since`` (keyset) for populations.
    OFFSET_PAGING = "offset-paging"
    #: Informational, for callers: an update with identical content still creates a new
    #: version (and fires subscriptions / simulators), so compare before writing back.
    NOOP_UPDATE_BUMPS_VERSION = "noop-update-bumps-version"


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """Connection, resilience and behaviour settings for one FHIR endpoint.

    ``max_attempts`` bounds every call (first try included). Backoff is full jitter between 0 and
    ``min(backoff_max, backoff_base * 2**(attempt-1))``; a server's ``Retry-After`` replaces it,
    capped at ``max_retry_after`` so a hostile value cannot park a worker for hours.
    ``supports_transactions`` overrides what ``/metadata`` claims (some servers advertise
    transactions they reject, others omit them). ``cursor_overlap`` is how far an incremental
    cursor stays behind the server's clock, covering writes whose ``lastUpdated`` was stamped
    before their commit became visible.
    """

    base_url: str
    auth: AuthConfig = field(default_factory=NoAuth)
    page_size: int | None = 100
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    concurrency: int = 4
    supports_transactions: bool | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    quirks: frozenset[Quirk] = frozenset()
    cursor_overlap: float = 2.0
    bulk_poll_interval: float = 2.0
    bulk_max_wait: float = 3600.0
    user_agent: str = "fhir-sync"

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("base_url must not carry a query or fragment")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.page_size is not None and self.page_size < 1:
            raise ValueError("page_size must be >= 1 or None (server default)")

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def has(self, quirk: Quirk) -> bool:
        return quirk in self.quirks

    def with_changes(self, **changes: Any) -> EndpointSettings:
        return replace(self, **changes)


def sekmet_settings(base_url: str, **overrides: Any) -> EndpointSettings:
    """Settings for sekmet-fhir 0.1.1 (the integration-test server).

    Observed: offset paging (``_count``/``_offset`` next links, 20 per page unless ``_count``,
    max 1000), ``_sort=_lastUpdated`` supported, unknown search parameters ignored with a
    warning entry unless ``Prefer: handling=strict``, identical updates create new versions,
    ``Retry-After: 1`` on bulk status polls.
    """
    quirks = frozenset({Quirk.OFFSET_PAGING, Quirk.NOOP_UPDATE_BUMPS_VERSION})
    values: dict[str, Any] = {"base_url": base_url, "quirks": quirks, "page_size": 100}
    values.update(overrides)
    return EndpointSettings(**values)
