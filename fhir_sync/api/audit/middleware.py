"""The ASGI middleware that sees every finished `/fhir` request and hands its `Access` to the
audit writer: one place, so no route can forget to audit, and routes added later (exports)
are audited without knowing about it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_sync.api.audit.access import access_of
from fhir_sync.api.audit.writer import AuditWriter


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/fhir/"):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status = 500  # what the client gets when the app raises before answering

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            access = access_of(scope, status)
            if access is not None:
                writer: AuditWriter = scope["app"].state.audit
                writer.submit(access)
