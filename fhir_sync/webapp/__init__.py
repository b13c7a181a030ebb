"""The pharmacy staff web app, mounted at /app: its own room beside the FHIR API.

It reads through the store and changes enrollments only through the `EnrollmentActions` the
server's app factory hands in, so nothing here imports the API and nothing imports this but
the factory that mounts it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine
from starlette.staticfiles import StaticFiles

from fhir_sync.webapp.actions import ActionRefusedError, EnrollChoice, EnrollmentActions
from fhir_sync.webapp.pages import AppContext, render, router
from fhir_sync.webapp.security import ForbiddenError, SecurityHeaders, SignInRequiredError

__all__ = ["ActionRefusedError", "EnrollChoice", "EnrollmentActions", "staff_app"]
MOUNT = "/app"


def staff_app(
    engine: Engine,
    actions: EnrollmentActions,
    today: Callable[[], date],
    *,
    secure_cookies: bool = True,
) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    context = AppContext(engine, actions, today, secure_cookies)
    app.include_router(router(context))
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(SignInRequiredError)
    async def to_sign_in(_request: Request, _exc: SignInRequiredError) -> Response:
        return RedirectResponse(f"{MOUNT}/login", status_code=303)

    @app.exception_handler(ForbiddenError)
    async def forbidden(_request: Request, exc: ForbiddenError) -> Response:
        return render("error.html", http_status=403, message=str(exc), staff=None)

    return app
