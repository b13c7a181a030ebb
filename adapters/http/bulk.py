"""FHIR Bulk Data export: kick-off, status polling, NDJSON download, job clean-up.

Output is streamed as ``(resourceType, raw line bytes)``, exactly what reading an NDJSON file
from disk yields, so a population pulled from a server and one loaded from files go through the
same parsing pipeline; no line is parsed here, and no file is held in memory.

The manifest's ``transactionTime`` is the ``_since`` for the next export: the server guarantees
the export contains every change up to that instant.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from adapters.http.errors import FhirError
from adapters.http.media import FHIR_NDJSON, ParamPairs, load_json_object
from adapters.http.retry import parse_retry_after
from adapters.http.transport import Transport

log = logging.getLogger("adapters.http.bulk")


class ExportScope(TypedDict, total=False):
    """What an export asks for, as keyword arguments (all optional): the resource types, the
    changes since an instant, type filters, and the level (a Group, all Patients, or the
    whole system when neither is given)."""

    types: Sequence[str] | None
    since: str | None
    type_filters: Sequence[str] | None
    group_id: str | None
    patient_level: bool


@dataclass(frozen=True, slots=True)
class ExportFile:
    type: str
    url: str
    count: int | None = None


@dataclass(frozen=True, slots=True)
class ExportManifest:
    transaction_time: str
    requires_access_token: bool
    output: tuple[ExportFile, ...]
    error: tuple[ExportFile, ...] = ()


def _files(items: Any) -> tuple[ExportFile, ...]:
    out = []
    for item in items if isinstance(items, list) else []:
        if (
            isinstance(item, dict)
            and isinstance(item.get("type"), str)
            and isinstance(item.get("url"), str)
        ):
            count = item.get("count")
            out.append(
                ExportFile(item["type"], item["url"], count if isinstance(count, int) else None)
            )
    return tuple(out)


def parse_manifest(doc: dict[str, Any]) -> ExportManifest:
    time = doc.get("transactionTime")
    if not isinstance(time, str):
        raise FhirError("bulk export manifest has no transactionTime")
    return ExportManifest(
        transaction_time=time,
        requires_access_token=doc.get("requiresAccessToken") is True,
        output=_files(doc.get("output")),
        error=_files(doc.get("error")),
    )


async def ndjson_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Splits a byte stream on newlines without decoding; blank lines are skipped."""
    tail = b""
    async for chunk in chunks:
        *complete, tail = (tail + chunk).split(b"\n")
        for line in complete:
            line = line.rstrip(b"\r")
            if line.strip():
                yield line
    tail = tail.rstrip(b"\r")
    if tail.strip():
        yield tail


class BulkExporter:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._settings = transport.settings

    async def kick_off(self, **scope: Unpack[ExportScope]) -> str:
        """Starts an export and returns its status URL (system, Patient or Group level)."""
        base = self._settings.base_url
        group_id = scope.get("group_id")
        if group_id is not None:
            url = f"{base}/Group/{group_id}/$export"
        elif scope.get("patient_level", False):
            url = f"{base}/Patient/$export"
        else:
            url = f"{base}/$export"
        params: ParamPairs = []
        types = scope.get("types")
        if types:
            params.append(("_type", ",".join(types)))
        since = scope.get("since")
        if since:
            params.append(("_since", since))
        params.extend(("_typeFilter", f) for f in scope.get("type_filters") or ())
        response = await self._transport.request(
            "GET", url, params=params, headers={"Prefer": "respond-async"}
        )
        status_url = response.headers.get("Content-Location")
        if response.status_code != 202 or not status_url:
            raise FhirError(
                f"GET {response.request.url.path} answered HTTP {response.status_code} without"
                " a Content-Location status URL",
                status=response.status_code,
                method="GET",
                path=response.request.url.path,
            )
        return str(status_url)

    async def wait(
        self, status_url: str, *, on_progress: Callable[[str], None] | None = None
    ) -> ExportManifest:
        """Polls until the manifest is ready, sleeping as long as the server's Retry-After asks.

        Bounded by ``bulk_max_wait`` of accumulated sleep (not wall time, so tests with an
        instant sleep stay deterministic).
        """
        waited = 0.0
        while True:
            response = await self._transport.request(
                "GET", status_url, headers={"Accept": "application/json"}
            )
            if response.status_code == 200:
                doc = load_json_object(response.content)
                if doc is None:
                    raise FhirError("bulk export manifest is not a JSON object", status=200)
                return parse_manifest(doc)
            if response.status_code != 202:
                raise FhirError(
                    f"bulk status answered unexpected HTTP {response.status_code}",
                    status=response.status_code,
                )
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = self._settings.bulk_poll_interval if retry_after is None else retry_after
            delay = min(delay, self._settings.max_retry_after)
            if waited + delay > self._settings.bulk_max_wait:
                raise FhirError(
                    f"bulk export not complete after {waited:.0f} s (limit"
                    f" {self._settings.bulk_max_wait:.0f} s)",
                    status=202,
                )
            progress = response.headers.get("X-Progress", "in progress")
            log.debug("bulk export %s, next poll in %.1f s", progress, delay)
            if on_progress is not None:
                on_progress(progress)
            await self._transport.sleep(delay)
            waited += delay

    async def lines(
        self, manifest: ExportManifest, *, include_errors: bool = False
    ) -> AsyncIterator[tuple[str, bytes]]:
        """Every NDJSON line of every output file, file by file, as ``(type, line)``.

        The access token goes along only when the manifest says the files require it (they are
        often on a storage host that must not see it).
        """
        files = manifest.output + (manifest.error if include_errors else ())
        for file in files:
            async with self._transport.stream(
                "GET",
                file.url,
                headers={"Accept": FHIR_NDJSON},
                authenticate=manifest.requires_access_token,
            ) as response:
                async for line in ndjson_lines(response.aiter_bytes()):
                    yield file.type, line

    async def delete(self, status_url: str) -> None:
        """Deletes the job and its files; best-effort, as the export itself already succeeded."""
        try:
            await self._transport.request(
                "DELETE", status_url, headers={"Accept": "application/json"}
            )
        except FhirError as exc:
            log.warning("bulk export clean-up failed: %s", exc.message)

    @asynccontextmanager
    async def export(
        self,
        *,
        on_progress: Callable[[str], None] | None = None,
        **scope: Unpack[ExportScope],
    ) -> AsyncIterator[ExportSession]:
        """Kick-off, wait, hand the session over, then delete the job whatever happened."""
        status_url = await self.kick_off(**scope)
        try:
            manifest = await self.wait(status_url, on_progress=on_progress)
            yield ExportSession(status_url, manifest, self)
        finally:
            await self.delete(status_url)


@dataclass(frozen=True, slots=True)
class ExportSession:
    status_url: str
    manifest: ExportManifest
    exporter: BulkExporter

    def lines(self, *, include_errors: bool = False) -> AsyncIterator[tuple[str, bytes]]:
        return self.exporter.lines(self.manifest, include_errors=include_errors)
