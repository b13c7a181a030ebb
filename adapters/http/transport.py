"""One HTTP exchange with a FHIR endpoint, made resilient: the only place that calls httpx.

Everything above (reads, searches, bulk) goes through ``Transport.request`` or
``Transport.stream`` and so inherits the same timeouts, bounded retries with full-jitter backoff,
Retry-After handling, per-endpoint concurrency limit, one-shot auth refresh on 401 and error
mapping to ``FhirError``.

The concurrency permit is held per attempt, not across backoff sleeps, so a retrying request
does not starve the others. A streamed response gives its permit back once the headers are in:
its body is read at the caller's pace, and a caller that makes other requests to the same
endpoint while reading (write-back during a Bulk download) must not deadlock on its own permit.
Streams are bounded by the connection pool instead (``new_http_client`` sizes it above the
concurrency limit).

Logs carry method, URL path (never the query, which holds patient ids), status and attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import httpx

from adapters.http.errors import error_from_response, transport_error
from adapters.http.media import FHIR_JSON, ParamPairs
from adapters.http.retry import (
    RetryPolicy,
    backoff_delay,
    exception_is_retryable,
    parse_retry_after,
    status_is_retryable,
)
from adapters.http.settings import EndpointSettings

if TYPE_CHECKING:
    from adapters.http.auth import Authenticator

log = logging.getLogger("adapters.http")

Sleep: TypeAlias = Callable[[float], Awaitable[None]]
Body: TypeAlias = bytes | Callable[[], bytes] | None

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class _Exchange:
    response: httpx.Response
    attempts: int


class Transport:
    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: EndpointSettings,
        authenticator: Authenticator,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._auth = authenticator
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            max_retry_after=settings.max_retry_after,
        )
        self._permits = asyncio.Semaphore(settings.concurrency)
        self._timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        self._headers = {
            "Accept": FHIR_JSON,
            "User-Agent": settings.user_agent,
            **settings.extra_headers,
        }

    @property
    def settings(self) -> EndpointSettings:
        return self._settings

    @property
    def sleep(self) -> Sleep:
        return self._sleep

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: ParamPairs | None = None,
        headers: Mapping[str, str] | None = None,
        content: Body = None,
        idempotent: bool | None = None,
        authenticate: bool | None = None,
        limited: bool = True,
        check: bool = True,
    ) -> httpx.Response:
        """Sends a request and returns the response with its body read.

        ``idempotent`` defaults to what the method implies; pass True for POSTs that are safe
        to repeat (conditional create, search, transactions of conditional entries).
        ``authenticate`` defaults to "only for URLs on the endpoint's own origin", so a paging
        link to a foreign host never receives our token. ``limited=False`` bypasses the
        concurrency limit (token requests, which other requests may be waiting on).
        ``check=False`` returns non-2xx responses instead of raising.
        """
        exchange = await self._exchange(
            method, url, params, headers, content, idempotent, authenticate, limited, check, False
        )
        return exchange.response

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        authenticate: bool | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A response whose body is read by the caller (large NDJSON files).

        Retries happen only until the response headers arrive; a connection dropped mid-body
        surfaces as ``FhirError`` because the caller has already consumed part of it.
        """
        exchange = await self._exchange(
            method, url, None, headers, None, None, authenticate, True, True, True
        )
        try:
            yield exchange.response
        except httpx.HTTPError as exc:
            raise transport_error(method, httpx.URL(url).path, exc, attempts=1) from exc
        finally:
            await exchange.response.aclose()

    def _authenticates(self, url: str, authenticate: bool | None) -> bool:
        if authenticate is not None:
            return authenticate
        target = httpx.URL(url)
        base = httpx.URL(self._settings.base_url)
        return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)

    async def _exchange(
        self,
        method: str,
        url: str,
        params: ParamPairs | None,
        headers: Mapping[str, str] | None,
        content: Body,
        idempotent: bool | None,
        authenticate: bool | None,
        limited: bool,
        check: bool,
        stream: bool,
    ) -> _Exchange:
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        try:
            path = httpx.URL(url).path
            send_auth = self._authenticates(url, authenticate)
        except httpx.InvalidURL as exc:
            raise transport_error(method, "<invalid URL>", exc, attempts=0) from exc
        refreshed = False
        while True:
            auth_header = await self._auth.authorization(self) if send_auth else None
            exchange = await self._with_retries(
                method, url, path, params, headers, content, safe, auth_header, limited, stream
            )
            status = exchange.response.status_code
            if (
                status == 401
                and auth_header is not None
                and not refreshed
                and await self._auth.invalidate(auth_header)
            ):
                refreshed = True
                log.info("%s %s -> 401, refreshing credentials once", method, path)
                await exchange.response.aclose()
                continue
            break
        if check and not 200 <= status < 300:
            body = await exchange.response.aread() if stream else exchange.response.content
            await exchange.response.aclose()
            raise error_from_response(method, path, status, body, attempts=exchange.attempts)
        return exchange

    async def _with_retries(
        self,
        method: str,
        url: str,
        path: str,
        params: ParamPairs | None,
        headers: Mapping[str, str] | None,
        content: Body,
        idempotent: bool,
        auth_header: str | None,
        limited: bool,
        stream: bool,
    ) -> _Exchange:
        merged = dict(self._headers)
        if headers:
            merged.update(headers)
        if auth_header is not None:
            merged["Authorization"] = auth_header
        max_attempts = self._policy.max_attempts
        attempt = 0
        while True:
            attempt += 1
            body = content() if callable(content) else content
            try:
                request = self._http.build_request(
                    method,
                    url,
                    params=tuple(params) if params else None,
                    headers=merged,
                    content=body,
                    timeout=self._timeout,
                )
            except httpx.InvalidURL as exc:
                raise transport_error(method, path, exc, attempts=attempt) from exc
            started = time.monotonic()
            try:
                response = await self._send(request, stream=stream, limited=limited)
            except httpx.HTTPError as exc:
                if attempt < max_attempts and exception_is_retryable(exc, idempotent=idempotent):
                    delay = backoff_delay(self._policy, attempt, self._rng)
                    log.warning(
                        "%s %s: %s, retry in %.2f s (attempt %d/%d)",
                        method,
                        path,
                        type(exc).__name__,
                        delay,
                        attempt,
                        max_attempts,
                    )
                    await self._sleep(delay)
                    continue
                raise transport_error(method, path, exc, attempts=attempt) from exc
            status = response.status_code
            log.debug(
                "%s %s -> %d in %.0f ms (attempt %d)",
                method,
                path,
                status,
                (time.monotonic() - started) * 1000,
                attempt,
            )
            if attempt < max_attempts and status_is_retryable(status, idempotent=idempotent):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                await response.aclose()
                delay = backoff_delay(self._policy, attempt, self._rng, retry_after)
                log.warning(
                    "%s %s -> %d, retry in %.2f s (attempt %d/%d)",
                    method,
                    path,
                    status,
                    delay,
                    attempt,
                    max_attempts,
                )
                await self._sleep(delay)
                continue
            return _Exchange(response, attempt)

    async def _send(self, request: httpx.Request, *, stream: bool, limited: bool) -> httpx.Response:
        if not limited:
            return await self._http.send(request, stream=stream)
        async with self._permits:
            return await self._http.send(request, stream=stream)
