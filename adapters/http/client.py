"""``FhirClient``: the FHIR interactions fhir-sync needs, over one endpoint's ``Transport``.

One client per endpoint, on an injected ``httpx.AsyncClient`` (connection pooling, keep-alive),
shared by everything that talks to that server so the concurrency limit and the token cache
are per endpoint, not per caller.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Unpack
from urllib.parse import parse_qsl, quote, urlencode

import httpx

from adapters.http.auth import Authenticator, build_authenticator
from adapters.http.bulk import BulkExporter, ExportScope, ExportSession
from adapters.http.capability import Capabilities, parse_capabilities
from adapters.http.errors import FhirError
from adapters.http.incremental import IncrementalPull
from adapters.http.media import (
    FHIR_JSON,
    ParamPairs,
    Resource,
    SearchParams,
    dumps,
    format_instant,
    load_json_object,
    param_pairs,
    version_id,
)
from adapters.http.paging import SearchPage, parse_search_bundle, resolve_link
from adapters.http.redaction import install_httpx_log_redaction
from adapters.http.settings import EndpointSettings, Quirk
from adapters.http.transport import Sleep, Transport

_ETAG = re.compile(r'^(?:W/)?"([^"]*)"$')
_LOCATION = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/(?P<vid>[^/]+))?/?$"
)


@dataclass(frozen=True, slots=True)
class VersionedResource:
    """A resource with the version a later ``update(if_match=...)`` must name."""

    resource: Resource
    version_id: str | None
    etag: str | None


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: int
    resource: Resource | None
    resource_type: str | None
    resource_id: str | None
    version_id: str | None
    etag: str | None
    location: str | None
    outcome: Resource | None = None

    @property
    def created(self) -> bool:
        """False when a conditional create found a match or an update replaced a version."""
        return self.status == 201


def version_from_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    match = _ETAG.match(etag.strip())
    return match.group(1) if match else None


def if_match_value(version: str) -> str:
    """Accepts a bare versionId or an ETag as read from a response."""
    text = version.strip()
    return text if text.startswith(('W/"', '"')) else f'W/"{text}"'


def transaction_is_idempotent(bundle: Resource) -> bool:
    """True when repeating the whole transaction cannot create duplicates.

    Reads, PUTs (by id or conditional) and DELETEs converge on the same state; a POST does only
    when it is a conditional create (``ifNoneExist``). PATCH may not be repeatable.
    """
    for entry in bundle.get("entry") or []:
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            return False
        method = str(request.get("method", "")).upper()
        if method in ("GET", "HEAD", "PUT", "DELETE"):
            continue
        if method == "POST" and request.get("ifNoneExist"):
            continue
        return False
    return True


def new_http_client(settings: EndpointSettings) -> httpx.AsyncClient:
    """An HTTP/1.1 keep-alive pool sized for the endpoint's concurrency plus streams/tokens."""
    size = settings.concurrency + 2
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        follow_redirects=False,
    )


class FhirClient:
    def __init__(
        self,
        settings: EndpointSettings,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        authenticator: Authenticator | None = None,
    ) -> None:
        """``sleep``, ``rng`` and ``clock`` (wall time, seconds) are injectable for tests."""
        install_httpx_log_redaction()
        self._settings = settings
        self._clock = clock
        auth = authenticator or build_authenticator(settings.auth, settings.base_url, clock)
        self._transport = Transport(http, settings, auth, sleep=sleep, rng=rng)
        self._bulk = BulkExporter(self._transport)
        self._capabilities: Capabilities | None = None
        self._capabilities_lock = asyncio.Lock()

    @property
    def settings(self) -> EndpointSettings:
        return self._settings

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def bulk(self) -> BulkExporter:
        return self._bulk

    def url(self, *segments: str) -> str:
        return "/".join([self._settings.base_url, *(quote(s, safe="$") for s in segments)])

    # ---------------------------------------------------------------- capabilities

    async def capabilities(self) -> Capabilities:
        """The server's CapabilityStatement, fetched once per client."""
        if self._capabilities is None:
            async with self._capabilities_lock:
                if self._capabilities is None:
                    response = await self._transport.request("GET", self.url("metadata"))
                    doc = self._json(response, "GET")
                    self._capabilities = parse_capabilities(doc)
        return self._capabilities

    async def supports_transactions(self) -> bool:
        if self._settings.supports_transactions is not None:
            return self._settings.supports_transactions
        return (await self.capabilities()).supports_transaction

    # ---------------------------------------------------------------- reads and writes

    async def read(self, resource_type: str, resource_id: str) -> VersionedResource:
        response = await self._transport.request("GET", self.url(resource_type, resource_id))
        resource = self._json(response, "GET")
        etag = response.headers.get("ETag")
        return VersionedResource(resource, version_from_etag(etag) or version_id(resource), etag)

    async def create(self, resource: Resource) -> WriteResult:
        """Plain create: not idempotent, so never repeated once it may have reached the server."""
        return await self._write(
            "POST", self.url(self._type_of(resource)), resource, {}, None, False
        )

    async def conditional_create(
        self, resource: Resource, if_none_exist: str | SearchParams
    ) -> WriteResult:
        """Create unless ``if_none_exist`` matches (200 with the match): safe to retry."""
        query = (
            if_none_exist
            if isinstance(if_none_exist, str)
            else urlencode(param_pairs(if_none_exist))
        )
        headers = {"If-None-Exist": query}
        return await self._write(
            "POST", self.url(self._type_of(resource)), resource, headers, None, True
        )

    async def update(self, resource: Resource, *, if_match: str | None = None) -> WriteResult:
        """Update by id; with ``if_match`` a concurrent change raises ``PreconditionFailedError``.

        A retried update whose first attempt did land also sees 412: re-read and compare.
        """
        resource_id = resource.get("id")
        if not isinstance(resource_id, str) or not resource_id:
            raise ValueError("update needs resource.id")
        headers = {"If-Match": if_match_value(if_match)} if if_match else {}
        url = self.url(self._type_of(resource), resource_id)
        return await self._write("PUT", url, resource, headers, None, True)

    async def conditional_update(
        self,
        resource_type: str,
        identifier_query: str | SearchParams,
        resource: Resource,
        *,
        if_match: str | None = None,
    ) -> WriteResult:
        """PUT ``[type]?query``: updates the single match or creates (412 on several matches)."""
        if self._type_of(resource) != resource_type:
            raise ValueError("resource.resourceType does not match resource_type")
        params = (
            parse_qsl(identifier_query, keep_blank_values=True, strict_parsing=True)
            if isinstance(identifier_query, str)
            else param_pairs(identifier_query)
        )
        if not params:
            raise ValueError("conditional_update needs search criteria")
        headers = {"If-Match": if_match_value(if_match)} if if_match else {}
        return await self._write("PUT", self.url(resource_type), resource, headers, params, True)

    async def transaction(self, bundle: Resource, *, idempotent: bool | None = None) -> Resource:
        """POSTs a transaction Bundle; returns the transaction-response Bundle.

        Retried after an ambiguous failure only when ``idempotent`` (default: inferred by
        ``transaction_is_idempotent``), as re-running plain creates would duplicate them.
        """
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("transaction needs a Bundle of type transaction")
        safe = transaction_is_idempotent(bundle) if idempotent is None else idempotent
        response = await self._transport.request(
            "POST",
            self._settings.base_url,
            content=dumps(bundle),
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
            idempotent=safe,
        )
        result = self._json(response, "POST")
        if result.get("resourceType") != "Bundle" or result.get("type") != "transaction-response":
            raise FhirError(
                "POST / did not return a transaction-response Bundle",
                status=response.status_code,
                method="POST",
                path=response.request.url.path,
            )
        return result

    # ---------------------------------------------------------------- search

    async def search_pages(
        self, resource_type: str, params: SearchParams | None = None, *, count: int | None = None
    ) -> AsyncIterator[SearchPage]:
        """Every page of a search, following ``next`` links to the end, one page in memory."""
        query = self._with_count(param_pairs(params), count)
        page = await self._search_query(resource_type, query)
        followed: set[str] = set()
        while True:
            yield page
            if page.next_url is None:
                return
            if page.next_url in followed:
                raise FhirError(f"search of {resource_type}: server repeated a next link")
            followed.add(page.next_url)
            page = await self._search_link(resource_type, page.next_url)

    async def search(
        self, resource_type: str, params: SearchParams | None = None, *, count: int | None = None
    ) -> AsyncIterator[Resource]:
        """The matches of a search, streamed (included resources are in ``search_pages``)."""
        async for page in self.search_pages(resource_type, params, count=count):
            for resource in page.matches:
                yield resource

    def medication_requests(
        self,
        patient: str,
        *,
        statuses: Sequence[str] = ("active", "on-hold"),
        include_medication: bool = True,
        count: int | None = None,
    ) -> AsyncIterator[SearchPage]:
        """A patient's orders; referenced Medications arrive as ``page.included``."""
        params: ParamPairs = [("status", ",".join(statuses))] if statuses else []
        return self._patient_pages("MedicationRequest", patient, params, include_medication, count)

    def medication_dispenses(
        self,
        patient: str,
        *,
        handed_over_since: date | datetime | str | None = None,
        include_medication: bool = False,
        count: int | None = None,
    ) -> AsyncIterator[SearchPage]:
        """A patient's fills, optionally only those handed over on/after a date."""
        params: ParamPairs = []
        if handed_over_since is not None:
            since = (
                handed_over_since
                if isinstance(handed_over_since, str)
                else format_instant(handed_over_since)
                if isinstance(handed_over_since, datetime)
                else handed_over_since.isoformat()
            )
            params.append(("whenhandedover", f"ge{since}"))
        return self._patient_pages("MedicationDispense", patient, params, include_medication, count)

    def _patient_pages(
        self,
        resource_type: str,
        patient: str,
        params: ParamPairs,
        include_medication: bool,
        count: int | None,
    ) -> AsyncIterator[SearchPage]:
        """A search of one patient's `resource_type`: `patient` first, then `params`, then
        the `_include` of the referenced Medications when asked for."""
        pairs: ParamPairs = [("patient", patient), *params]
        if include_medication:
            pairs.append(("_include", f"{resource_type}:medication"))
        return self.search_pages(resource_type, pairs, count=count)

    def pull_since(
        self,
        resource_type: str,
        since: str | None,
        params: SearchParams | None = None,
        *,
        count: int | None = None,
    ) -> IncrementalPull:
        """Pages of ``resource_type`` changed after ``since``; ``.cursor`` when exhausted.

        See ``adapters.http.incremental`` for why the cursor never skips a resource.
        """
        return IncrementalPull(
            params=param_pairs(params),
            since=since,
            page_size=count or self._settings.page_size,
            keyset=not self._settings.has(Quirk.NO_SORT_BY_LAST_UPDATED),
            overlap=self._settings.cursor_overlap,
            fetch_query=lambda query: self._search_query(resource_type, query),
            fetch_link=lambda url: self._search_link(resource_type, url),
            clock=lambda: datetime.fromtimestamp(self._clock(), UTC),
        )

    # ---------------------------------------------------------------- bulk

    def bulk_export(
        self,
        *,
        on_progress: Callable[[str], None] | None = None,
        **scope: Unpack[ExportScope],
    ) -> AbstractAsyncContextManager[ExportSession]:
        """``async with client.bulk_export(types=[...]) as export: async for t, line in
        export.lines(): ...``; the job is deleted on exit."""
        return self._bulk.export(on_progress=on_progress, **scope)

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _type_of(resource: Resource) -> str:
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or not kind:
            raise ValueError("resource has no resourceType")
        return kind

    @staticmethod
    def _json(response: httpx.Response, method: str) -> dict[str, Any]:
        doc = load_json_object(response.content)
        if doc is None:
            raise FhirError(
                f"{method} {response.request.url.path} returned no FHIR JSON",
                status=response.status_code,
                method=method,
                path=response.request.url.path,
            )
        return doc

    def _with_count(self, query: ParamPairs, count: int | None) -> ParamPairs:
        size = count or self._settings.page_size
        if size is None or any(name == "_count" for name, _ in query):
            return query
        return [*query, ("_count", str(size))]

    def _search_headers(self) -> dict[str, str]:
        if self._settings.has(Quirk.NO_STRICT_HANDLING):
            return {}
        return {"Prefer": "handling=strict"}

    async def _search_query(self, resource_type: str, query: ParamPairs) -> SearchPage:
        response = await self._transport.request(
            "GET", self.url(resource_type), params=query, headers=self._search_headers()
        )
        return self._page(response, resource_type)

    async def _search_link(self, resource_type: str, url: str) -> SearchPage:
        target = resolve_link(
            url,
            self._settings.base_url,
            rewrite_origin=self._settings.has(Quirk.REWRITE_LINK_ORIGIN),
        )
        response = await self._transport.request("GET", target, headers=self._search_headers())
        return self._page(response, resource_type)

    def _page(self, response: httpx.Response, resource_type: str) -> SearchPage:
        return parse_search_bundle(
            self._json(response, "GET"), resource_type, server_time=_date_header(response)
        )

    async def _write(
        self,
        method: str,
        url: str,
        resource: Resource,
        headers: dict[str, str],
        params: ParamPairs | None,
        idempotent: bool,
    ) -> WriteResult:
        response = await self._transport.request(
            method,
            url,
            params=params,
            content=dumps(resource),
            headers={
                "Content-Type": FHIR_JSON,
                "Prefer": "return=representation",
                **headers,
            },
            idempotent=idempotent,
        )
        return _write_result(response)


def _date_header(response: httpx.Response) -> str | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return format_instant(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None


def _write_result(response: httpx.Response) -> WriteResult:
    body = load_json_object(response.content)
    resource = body if body is not None and body.get("resourceType") != "OperationOutcome" else None
    outcome = body if body is not None and resource is None else None
    location = response.headers.get("Location") or response.headers.get("Content-Location")
    match = _LOCATION.search(location.split("?")[0]) if location else None
    etag = response.headers.get("ETag")
    kind = match.group("type") if match else (resource or {}).get("resourceType")
    rid = match.group("id") if match else (resource or {}).get("id")
    vid = version_from_etag(etag) or (match.group("vid") if match else None)
    if vid is None and resource is not None:
        vid = version_id(resource)
    return WriteResult(
        status=response.status_code,
        resource=resource,
        resource_type=kind if isinstance(kind, str) else None,
        resource_id=rid if isinstance(rid, str) else None,
        version_id=vid,
        etag=etag,
        location=location,
        outcome=outcome,
    )


@asynccontextmanager
async def open_fhir_client(settings: EndpointSettings, **kwargs: Any) -> AsyncIterator[FhirClient]:
    """A client owning its own pool, closed on exit (for CLIs and scripts)."""
    async with new_http_client(settings) as http:
        yield FhirClient(settings, http, **kwargs)
