"""What routes need from the running app: the database, settings, base URLs, the clock.

Routes take them as `Annotated` dependencies (`Database`, `Settings`, `Service`,
`AsyncReadsOf`, `Today`), as FastAPI's full-stack template does with `SessionDep`; the
resolvers are `async def` so that FastAPI calls them on the event loop, not in a thread."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from fhir_sync.services.enrollment import EnrollmentService
from fhir_sync.services.server_settings import ServerSettings, today_for
from fhir_sync.store.async_reads import AsyncReads


def settings_of(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def async_reads_of(request: Request) -> AsyncReads | None:
    """The async PostgreSQL reads of the app (None on SQLite, where reads are local calls)."""
    reads: AsyncReads | None = request.app.state.async_reads
    return reads


def service_of(request: Request) -> EnrollmentService:
    service: EnrollmentService = request.app.state.enrollment
    return service


def root_url(request: Request) -> str:
    """The server's public root: `FHIR_SYNC_PUBLIC_URL`, else the address the connection
    reached (the listening socket's, with the scheme uvicorn took from a trusted proxy). Never
    the `Host` header: whoever sends the request chooses it, and client assertions' `aud` and
    paging links must not follow it."""
    configured = settings_of(request).public_url
    return configured or listening_url(request)


def listening_url(request: Request) -> str:
    scheme = request.scope.get("scheme", "http")
    server = request.scope.get("server")
    if not server:
        return f"{scheme}://localhost"
    host, port = server[0], server[1]
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def fhir_base(request: Request) -> str:
    return root_url(request) + "/fhir"


async def _settings(request: Request) -> ServerSettings:
    return settings_of(request)


async def _engine(request: Request) -> Engine:
    return engine_of(request)


async def _async_reads(request: Request) -> AsyncReads | None:
    return async_reads_of(request)


async def _service(request: Request) -> EnrollmentService:
    return service_of(request)


async def _today(request: Request) -> date:
    return today_for(settings_of(request))


Settings = Annotated[ServerSettings, Depends(_settings)]
Database = Annotated[Engine, Depends(_engine)]
AsyncReadsOf = Annotated[AsyncReads | None, Depends(_async_reads)]
Service = Annotated[EnrollmentService, Depends(_service)]
Today = Annotated[date, Depends(_today)]
