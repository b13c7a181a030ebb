"""The ASGI entry point uvicorn imports (`fhir_sync.server.asgi:app`), configured from the
environment, so that each worker process builds its own app and database pool."""

from fhir_sync.server.app import create_app

app = create_app()
