"""The ASGI application: `create_app(settings)` wires the database, the routes and the error
handlers. `fhir-sync serve` runs it under uvicorn; tests run it in-process or under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from functools import partial

from fastapi import FastAPI
from sqlalchemy import Engine

from fhir_sync import __version__
from fhir_sync.server import cycle_routes, export_routes, operation_routes, read_routes
from fhir_sync.server.audit import install_audit
from fhir_sync.server.background import BackgroundWork
from fhir_sync.server.body_limit import BodyLimit
from fhir_sync.server.context import today_for
from fhir_sync.server.endpoint_clients import EndpointClients
from fhir_sync.server.enrollment_service import EnrollmentService
from fhir_sync.server.errors import ErrorBoundary, install_error_handlers
from fhir_sync.server.export_runner import ExportRunner
from fhir_sync.server.gc_pauses import freeze_startup_objects
from fhir_sync.server.live_pull import LivePull
from fhir_sync.server.live_settings import LiveSettings
from fhir_sync.server.live_sync import FhirLivePull
from fhir_sync.server.log_privacy import protect_logs
from fhir_sync.server.notifications import router as notifications_router
from fhir_sync.server.openapi import docs_url, install_openapi
from fhir_sync.server.security import install_security
from fhir_sync.server.settings import ServerSettings
from fhir_sync.server.staff_app import mount_staff_app
from fhir_sync.store.async_reads import AsyncReads
from fhir_sync.store.database import is_sqlite, open_engine
from fhir_sync.store.migrate import upgrade


def create_app(
    settings: ServerSettings | None = None,
    *,
    engine: Engine | None = None,
    live_pull: LivePull | None = None,
    clients: EndpointClients | None = None,
    background: bool = False,
    freeze_gc: bool = False,
) -> FastAPI:
    """The app; `engine` lets tests share a database, `live_pull` plugs in live FHIR pulls,
    `clients` the endpoints they and the workers use, `background` runs the workers, and
    `freeze_gc` keeps what startup made out of garbage collection (a server process's own
    app; see gc_pauses.py)."""
    settings = settings or ServerSettings.from_env()
    protect_logs()
    owned = engine is None
    database = engine if engine is not None else open_engine(settings.database_url)
    exports = ExportRunner(database)
    async_reads = None if is_sqlite(database) else AsyncReads(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            upgrade(database)
        async with work.running() if background else nullcontext():
            if freeze_gc:
                freeze_startup_objects()
            yield
        await endpoint_clients.aclose()
        if async_reads is not None:
            await async_reads.close()
        exports.close()
        audit.close()
        if owned:
            database.dispose()

    app = FastAPI(
        title="fhir-sync",
        version=__version__,
        description="Medication synchronization over FHIR R4: enrollment and sync plans.",
        lifespan=lifespan,
        openapi_url=docs_url(settings, "/openapi.json"),
        docs_url=docs_url(settings, "/docs"),
        redoc_url=docs_url(settings, "/redoc"),
    )
    app.state.settings = settings
    app.state.engine = database
    app.state.async_reads = async_reads
    app.state.live_pull = live_pull
    app.state.exports = exports
    app.state.enrollment = EnrollmentService(
        database, today=partial(today_for, settings), live=live_pull, pickup=settings.pickup
    )
    endpoint_clients = clients or EndpointClients(LiveSettings())
    app.state.clients = endpoint_clients
    work = BackgroundWork(
        database, app.state.enrollment, endpoint_clients, fixed_day=settings.today
    )
    install_error_handlers(app)
    install_openapi(app)
    install_security(app, settings, database)
    audit = install_audit(app, database)
    app.include_router(read_routes.router)
    app.include_router(operation_routes.router)
    app.include_router(cycle_routes.router)
    app.include_router(notifications_router)
    app.include_router(export_routes.router)
    mount_staff_app(app, settings, database, app.state.enrollment)
    # Outermost last: the body limit before anything reads the request, then the boundary
    # that turns any exception into a 500 outcome without dropping the connection.
    app.add_middleware(ErrorBoundary)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def create_serving_app(
    settings: ServerSettings | None = None, live: LiveSettings | None = None
) -> FastAPI:
    """What `fhir-sync serve` runs: plans pulled from the enrollments' live endpoints, and the
    write-back workers, requested syncs and hold checks running in the background."""
    clients = EndpointClients(live or LiveSettings.from_env())
    return create_app(
        settings,
        live_pull=FhirLivePull(clients),
        clients=clients,
        background=True,
        freeze_gc=True,
    )
