"""Every error as an OperationOutcome with the right status, and nothing internal in a 500.

Route code raises `FhirError`; the use cases raise the domain errors of services/errors.py,
answered from one table (`DOMAIN_ERRORS`); framework errors (unknown route, wrong method, malformed
request) and unexpected exceptions are turned into outcomes here. A 500's outcome carries only
a reference that is also logged with the exception's type and stack, never its message, which
might hold patient data.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_sync.api.fhirjson import fhir_response
from fhir_sync.services.errors import (
    DomainError,
    InputsRejectedError,
    NotAvailableError,
    NotEnrolledError,
    StateConflictError,
    UpstreamFailedError,
    UpstreamTimeoutError,
    VersionMismatchError,
)
from mappings.outcome import operation_outcome

log = logging.getLogger("fhir_sync.api")

_STATUS_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    501: "not-supported",
}


# The one table from what a use case raises to what the API answers: status and issue type.
# A class not listed answers as its nearest listed base class.
DOMAIN_ERRORS: Final[Mapping[type[DomainError], tuple[int, str]]] = {
    NotEnrolledError: (404, "not-found"),
    StateConflictError: (409, "conflict"),
    VersionMismatchError: (412, "conflict"),
    InputsRejectedError: (422, "processing"),
    NotAvailableError: (501, "not-supported"),
    UpstreamFailedError: (502, "transient"),
    UpstreamTimeoutError: (504, "timeout"),
    DomainError: (422, "processing"),
}


class FhirError(Exception):
    """An error answered with `status` and an OperationOutcome.

    `outcome` replaces the one-issue outcome built from `code` and `diagnostics` when the
    caller has several issues to report (rejected input resources).
    """

    def __init__(
        self,
        status: int,
        diagnostics: str,
        *,
        code: str | None = None,
        expression: str | Sequence[str] | None = None,
        outcome: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code or _STATUS_CODES.get(status, "processing")
        self.expression = expression
        self.outcome = outcome
        self.headers = headers

    def response(self) -> Response:
        outcome = self.outcome or operation_outcome(
            "error", self.code, self.diagnostics, expression=self.expression
        )
        return fhir_response(outcome, self.status, self.headers)


def api_error(error: DomainError) -> FhirError:
    """The answer to a use case's error, from DOMAIN_ERRORS."""
    status, code = next(DOMAIN_ERRORS[cls] for cls in type(error).__mro__ if cls in DOMAIN_ERRORS)
    outcome = None
    if error.issues is not None:
        outcome = {"resourceType": "OperationOutcome", "issue": error.issues}
    return FhirError(
        status,
        error.diagnostics,
        code=error.code or code,
        expression=error.expression,
        outcome=outcome,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FhirError, _fhir_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


async def _fhir_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return exc.response()


async def _domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return api_error(exc).response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    if status == 404:
        detail = "no such resource type, resource or operation"
    headers = dict(exc.headers) if exc.headers else None
    return FhirError(status, detail, headers=headers).response()


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    where = [".".join(str(p) for p in error.get("loc", ())) for error in exc.errors()]
    return FhirError(400, "malformed request: " + ", ".join(where)).response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "internal error %s: %s on %s %s\n%s",
        reference,
        type(exc).__name__,
        request.method,
        request.scope.get("route").path if request.scope.get("route") else "?",  # type: ignore[union-attr]
        stack,
    )
    return FhirError(500, f"internal error (reference {reference})", code="exception").response()


class ErrorBoundary:
    """ASGI middleware that answers an unexpected exception with the 500 outcome itself.

    Starlette's outermost middleware also answers with the handler above, but then re-raises,
    and uvicorn drops the keep-alive connection, so the client's next request on it fails
    with no response at all. Here the exception ends with the answer; only one raised after
    the response started (nothing can be sent then) goes on up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception as exc:
            if started:
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)
