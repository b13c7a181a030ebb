"""Sign-in state, CSRF and the security headers of every web app answer.

The session cookie is HttpOnly, SameSite=Strict, Path=/app and Secure unless the server runs
on plain HTTP for development (FHIR_SYNC_APP_INSECURE_COOKIES, set by the demo). Every POST
carries the session's CSRF token (or, on the sign-in form, a double-submit token in its own
cookie). Forms are read as application/x-www-form-urlencoded only: a multipart or JSON body
is not a form this app sends."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qsl

from fastapi import Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware

from fhir_sync.services.staff_accounts import ActiveSession, csrf_matches, session_of

SESSION_COOKIE: Final = "fhir_sync_session"
LOGIN_CSRF_COOKIE: Final = "fhir_sync_login_csrf"
MAX_FORM: Final = 64 * 1024
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class SignInRequiredError(Exception):
    """No good session: the answer is a redirect to the sign-in page."""


class ForbiddenError(Exception):
    """Signed in, but the role may not do this (403), or the CSRF token is wrong."""


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if not request.url.path.startswith("/app/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response


async def current_session(request: Request, engine: Engine) -> ActiveSession:
    token = request.cookies.get(SESSION_COOKIE)
    session = await run_in_threadpool(session_of, engine, token)
    if session is None:
        raise SignInRequiredError
    return session


async def read_form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ForbiddenError("forms are sent as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise ForbiddenError("the form is too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def check_csrf(session: ActiveSession, form: dict[str, str]) -> None:
    if not csrf_matches(session.csrf, form.get("csrf")):
        raise ForbiddenError("the form's security token is missing or out of date; reload the page")


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/app",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
