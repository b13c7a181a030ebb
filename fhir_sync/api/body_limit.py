"""A ceiling on request bodies (`FHIR_SYNC_MAX_BODY_BYTES`), enforced before a route reads one.

Without it a single `$enroll` of 150 MiB is read into memory, parsed and planned while every
other request waits. A body whose `Content-Length` is over the limit is answered 413 without
being read into memory; one sent in chunks is cut off as soon as it passes the limit (the
route reading it gets the 413). Either way the rest of the body is read and dropped up to
`DRAIN_FACTOR` times the limit, so the client's keep-alive connection stays usable; past that
the connection is closed rather than spend longer on it.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_sync.api.errors import FhirError

DRAIN_FACTOR: Final = 4
_LENGTH: Final = re.compile(rb"[0-9]{1,18}", re.ASCII)


def too_large(limit: int) -> FhirError:
    return FhirError(413, f"the request body is larger than {limit} bytes", code="too-costly")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _drain(receive, declared if declared <= DRAIN_FACTOR * limit else 0)
            await too_large(limit).response()(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await _drain(receive, DRAIN_FACTOR * limit - received)
                    raise too_large(limit)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if _LENGTH.fullmatch(value) else None
    return None


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of the body, up to `budget` bytes (then uvicorn closes the
    connection, the body being unfinished)."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))
