"""The ASGI application: `create_app(settings)` wires the database, the routes and the error
handlers. `fhir-sync serve` runs it under uvicorn; tests run it in-process or under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from functools import partial

from fastapi import FastAPI
from sqlalchemy import Engine

from fhir_sync import __version__
from fhir_sync.api import (
    cycle_routes,
    export_routes,
    operation_routes,
    read_routes,
    task_routes,
)
from fhir_sync.api.audit import install_audit
from fhir_sync.api.body_limit import BodyLimit
from fhir_sync.api.errors import ErrorBoundary, install_error_handlers
from fhir_sync.api.gc_pauses import freeze_startup_objects
from fhir_sync.api.notifications import router as notifications_router
from fhir_sync.api.openapi import docs_url, install_openapi
from fhir_sync.api.security import install_security
from fhir_sync.api.staff_app import mount_staff_app
from fhir_sync.services import cycle_resources
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.services.enrollment import EnrollmentService
from fhir_sync.services.exports import ExportRunner
from fhir_sync.services.live_pull import LivePull
from fhir_sync.services.live_settings import LiveSettings
from fhir_sync.services.log_privacy import protect_logs
from fhir_sync.services.server_settings import ServerSettings, today_for
from fhir_sync.store.async_reads import AsyncReads
from fhir_sync.store.database import is_sqlite, open_engine
from fhir_sync.store.migrate import upgrade

# The background work a serving process runs for the app's lifespan: the database, the
# enrollment service, the endpoint clients, the export runner (a queue of its loop) and the
# settings it runs with.
Workers = Callable[
    [Engine, EnrollmentService, EndpointClients, ExportRunner, ServerSettings],
    AbstractAsyncContextManager[None],
]


def create_app(
    settings: ServerSettings | None = None,
    *,
    engine: Engine | None = None,
    live_pull: LivePull | None = None,
    clients: EndpointClients | None = None,
    workers: Workers | None = None,
    freeze_gc: bool = False,
) -> FastAPI:
    """The app; `engine` lets tests share a database, `live_pull` plugs in live FHIR pulls,
    `clients` the endpoints they and the workers use, `workers` runs the background work
    (`fhir_sync.worker`, handed in by the process that serves: the API never imports it), and
    `freeze_gc` keeps what startup made out of garbage collection (a server process's own
    app; see gc_pauses.py)."""
    settings = settings or ServerSettings.from_env()
    protect_logs()
    owned = engine is None
    database = engine if engine is not None else open_engine(settings.database_url)
    # With background work the exports are a queue of its loop; without, the runner's pool.
    exports = ExportRunner(database, looped=workers is not None)
    async_reads = None if is_sqlite(database) else AsyncReads(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            upgrade(database)
        cycle_resources.ensure_questionnaire(database)
        running = (
            workers(database, enrollment, endpoint_clients, exports, settings) if workers else None
        )
        async with running or nullcontext():
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
    enrollment = app.state.enrollment
    install_error_handlers(app)
    install_openapi(app)
    install_security(app, settings, database)
    audit = install_audit(app, database)
    app.include_router(read_routes.router)
    app.include_router(operation_routes.router)
    app.include_router(cycle_routes.router)
    app.include_router(task_routes.router)
    cycle_resources.install()
    app.include_router(notifications_router)
    app.include_router(export_routes.router)
    mount_staff_app(app, settings, database, app.state.enrollment)
    # Outermost last: the body limit before anything reads the request, then the boundary
    # that turns any exception into a 500 outcome without dropping the connection.
    app.add_middleware(ErrorBoundary)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
