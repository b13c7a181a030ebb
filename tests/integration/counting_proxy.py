"""A reverse proxy in front of a FHIR peer that counts the transactions it forwards, per
patient, and can answer them late.

The delay comes *after* the peer has applied the transaction, so a sender killed while waiting
leaves a write that landed but was never confirmed: exactly the case a crash-safe outbox must
repeat without duplicating anything. An ASGI app under uvicorn on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import orjson
import uvicorn

from mappings.profile import SID_SYNC_PLAN

from .conftest import free_port

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
REQUEST_HEADERS = ("accept", "content-type", "if-match", "if-none-exist", "prefer")
RESPONSE_HEADERS = ("content-type", "location", "etag", "last-modified")


class CountingProxy:
    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        #: patient id -> transactions forwarded for them (CarePlan identifier in the Bundle).
        self.transactions: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            if self._http is not None:
                await self._http.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"")
        headers = {
            name.decode().lower(): value.decode()
            for name, value in scope["headers"]
            if name.decode().lower() in REQUEST_HEADERS
        }
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30.0)
        url = self.upstream + path.removeprefix("/fhir") + ("?" + query.decode() if query else "")
        response = await self._http.request(method, url, headers=headers, content=body)
        if method == "POST" and path.rstrip("/") in ("", "/fhir"):
            self._count(body)
            await asyncio.sleep(self.delay)
        out = [
            (name.encode(), value.encode())
            for name, value in response.headers.items()
            if name.lower() in RESPONSE_HEADERS
        ]
        out.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})

    def _count(self, body: bytes) -> None:
        bundle = orjson.loads(body)
        for entry in bundle.get("entry", []):
            resource = entry.get("resource", {})
            for identifier in resource.get("identifier", []):
                if identifier.get("system") == SID_SYNC_PLAN:
                    with self._lock:
                        self.transactions[identifier["value"]] += 1


class RunningProxy:
    """The proxy serving on 127.0.0.1 in a background thread until `stop()`."""

    def __init__(self, proxy: CountingProxy) -> None:
        self.proxy = proxy
        self.port = free_port()
        config = uvicorn.Config(
            proxy, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the counting proxy did not start")
            time.sleep(0.02)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
