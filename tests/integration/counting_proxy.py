"""A reverse proxy in front of a FHIR peer that counts the transactions it forwards, per
patient, and can answer them late or hold their answers.

Delays and holds come *after* the peer has applied the transaction, so a sender killed while
waiting leaves a write that landed but was never confirmed: exactly the case a crash-safe
outbox must repeat without duplicating anything. `hold(after=n)` answers n transactions and then
keeps the answers of the next ones until `release()`, so a test can kill a sender at a known
point instead of racing it. An ASGI app under uvicorn on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import orjson
import uvicorn

from mappings.profile import SID_SYNC_PLAN

from .conftest import free_port, request_body, wait_started

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
        #: Transactions answered, and those applied by the peer whose answer is held.
        self.answered = 0
        self.held = 0
        self._hold_after: int | None = None
        self._let_through = 0
        self._lock = threading.Lock()
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._http is not None:
                        await self._http.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = await request_body(receive)
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
            if self._hold_after is not None and self._let_through >= self._hold_after:
                self.held += 1
                while self._hold_after is not None:
                    await asyncio.sleep(0.02)
                self.held -= 1
            else:
                self._let_through += 1
            await asyncio.sleep(self.delay)
            self.answered += 1
        out = [
            (name.encode(), value.encode())
            for name, value in response.headers.items()
            if name.lower() in RESPONSE_HEADERS
        ]
        out.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})

    def hold(self, after: int) -> None:
        self._let_through = 0
        self._hold_after = after

    def release(self) -> None:
        self._hold_after = None

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
        wait_started(self._server, self._thread, "counting proxy", 0.02)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
