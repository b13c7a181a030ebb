"""The ASGI entry point uvicorn imports (`fhir_sync.asgi:app`), configured from the environment,
so that each worker process builds its own app, database pool and background workers."""

from fhir_sync.serving import create_serving_app

app = create_serving_app()
