"""A fault-injecting HTTP reverse proxy in front of a FHIR peer, for the sync fault tests.

An ASGI app under uvicorn, on a free 127.0.0.1 port in a thread, forwarding to the peer with
httpx. Which request gets which fault is decided by a seeded schedule *per request*: the n-th
time the same request (method, path, query, body) is seen, a random generator seeded with
(seed, request, n) picks its fate. So the faults do not depend on the order in which concurrent
requests happen to arrive, and a run is repeatable.

Faults:
* `status`: 500, 503, or 429 with `Retry-After`, without forwarding;
* `drop_before`: the connection is cut before the request reaches the peer;
* `drop_after`: the request is forwarded (the peer acts on it), then the connection is cut
  half-way through the response: the client cannot know whether its write happened;
* `delay`: the answer comes late (`slow` ones later than the client's timeout; the peer
  still acts on them, after the client gave up).

A transient fault never hits the same request twice in a row, so the client's retries get
through. A few per-patient requests are in an *outage*: while `outage` is on they always
answer 503, so the client gives up on them; the tests switch it off for the second run.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn

from .conftest import free_port, request_body, wait_started

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FORWARDED_REQUEST_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "if-match",
    "if-none-exist",
    "if-none-match",
    "prefer",
)
FORWARDED_RESPONSE_HEADERS = (
    "content-type",
    "content-location",
    "etag",
    "last-modified",
    "location",
    "retry-after",
)


@dataclass(frozen=True)
class Fault:
    kind: str  # ok, status, drop_before, drop_after, delay
    status: int = 0
    delay: float = 0.0


OK = Fault("ok")


@dataclass
class FaultSchedule:
    """Seeded per-request fault decisions; see the module docstring."""

    seed: int
    rate: float = 0.25
    persistent_rate: float = 0.04
    outage: bool = True
    slow_delay: float = 0.8
    #: Paths never faulted (capability discovery: one request decides the whole run).
    spared: tuple[str, ...] = ("/fhir/metadata",)
    seen: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    #: faults per phase: `paging` (a next page), `write` (a transaction or PUT), `search`
    phases: Counter[str] = field(default_factory=Counter)
    #: the next this many writes are forwarded and their answers lost (whatever the dice say),
    #: for tests that need that to happen at least once
    lose_write_answers: int = 0
    _last_faulted: set[str] = field(default_factory=set)

    def decide(self, method: str, path: str, query: bytes, body: bytes) -> Fault:
        if path in self.spared:
            return OK
        key = hashlib.sha256(b"|".join([method.encode(), path.encode(), query, body])).hexdigest()
        self.seen[key] += 1
        nth = self.seen[key]
        if self.outage and self._persistent(key, method, query):
            self.injected["persistent"] += 1
            return Fault("status", 503)
        if key in self._last_faulted:
            self._last_faulted.discard(key)
            return OK
        if self.lose_write_answers > 0 and method in ("POST", "PUT"):
            self.lose_write_answers -= 1
            self._last_faulted.add(key)
            self.phases["write"] += 1
            self.injected["drop_after"] += 1
            return Fault("drop_after")
        rng = random.Random(f"{self.seed}/{key}/{nth}")
        if rng.random() >= self.rate:
            return OK
        self._last_faulted.add(key)
        self.phases[_phase(method, query)] += 1
        fault = rng.choice(
            [
                Fault("status", 500),
                Fault("status", 503),
                Fault("status", 429),
                Fault("drop_before"),
                Fault("drop_after"),
                Fault("drop_after"),
                Fault("delay", delay=rng.uniform(0.02, 0.2)),
                Fault("delay", delay=self.slow_delay),
            ]
        )
        self.injected[fault.kind if fault.kind != "status" else str(fault.status)] += 1
        if fault.kind == "delay" and fault.delay >= self.slow_delay:
            self.injected["slow"] += 1
        return fault

    def _persistent(self, key: str, method: str, query: bytes) -> bool:
        """Per-patient requests only (searches by patient or identifier, transactions): a
        population page that never answers would end the run, not fail a patient."""
        per_patient = method == "POST" or b"patient=" in query or b"identifier=" in query
        return per_patient and random.Random(f"{self.seed}/persistent/{key}").random() < (
            self.persistent_rate
        )


def _phase(method: str, query: bytes) -> str:
    if method in ("POST", "PUT"):
        return "write"
    return "paging" if b"_offset=" in query else "search"


class FaultProxy:
    """The ASGI app: forwards to `upstream` (the peer's root URL) unless the schedule says no."""

    def __init__(self, upstream: str, schedule: FaultSchedule) -> None:
        self.upstream = upstream.rstrip("/")
        self.schedule = schedule
        self.enabled = True
        #: Requests the proxy is still working on (a slow one may outlive the client's wait).
        self.inflight = 0
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.inflight += 1
        try:
            await self._handle(scope, receive, send)
        finally:
            self.inflight -= 1

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Blocks until no request is in the proxy: late writes have reached the peer."""
        deadline = time.monotonic() + timeout
        while self.inflight:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.inflight} request(s) still in the fault proxy")
            time.sleep(0.02)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await request_body(receive)
        method, path, query = scope["method"], scope["path"], scope["query_string"]
        fault = self.schedule.decide(method, path, query, body) if self.enabled else OK
        if fault.kind == "status":
            await _respond(send, fault.status, _outcome(fault.status), _retry_after(fault.status))
            return
        if fault.kind == "drop_before":
            await _cut(send, b'{"resourceType":')
            return
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay)
        response = await self._forward(scope, method, path, query, body)
        if fault.kind == "drop_after":
            await _cut(send, response.content[: len(response.content) // 2])
            return
        headers = [
            (name.encode(), value.encode())
            for name, value in response.headers.items()
            if name.lower() in FORWARDED_RESPONSE_HEADERS
        ]
        await _respond(send, response.status_code, response.content, headers)

    async def _forward(
        self, scope: Scope, method: str, path: str, query: bytes, body: bytes
    ) -> httpx.Response:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30.0)
        headers = {
            name.decode().lower(): value.decode()
            for name, value in scope["headers"]
            if name.decode().lower() in FORWARDED_REQUEST_HEADERS
        }
        url = self.upstream + path + ("?" + query.decode() if query else "")
        return await self._http.request(method, url, headers=headers, content=body)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    all_headers = [(b"content-length", str(len(body)).encode()), *(headers or [])]
    if not any(name == b"content-type" for name, _ in all_headers):
        all_headers.append((b"content-type", b"application/fhir+json"))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _cut(send: Send, partial: bytes) -> None:
    """Starts a 200 answer promising more bytes than it sends, then fails: uvicorn closes the
    connection and the client sees an incomplete response."""
    declared = str(len(partial) + 1000).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", declared), (b"content-type", b"application/fhir+json")],
        }
    )
    await send({"type": "http.response.body", "body": partial, "more_body": True})
    raise ConnectionAbortedError("fault injected: connection dropped")


def _outcome(status: int) -> bytes:
    code = "throttled" if status == 429 else "transient"
    return orjson.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": "fault injected"}],
        }
    )


def _retry_after(status: int) -> list[tuple[bytes, bytes]]:
    # A real server's value; the tests cap waits with EndpointSettings.max_retry_after.
    return [(b"retry-after", b"1")] if status in (429, 503) else []


class RunningProxy:
    """The proxy serving on 127.0.0.1 in a background thread until `stop()`."""

    def __init__(self, app: FaultProxy) -> None:
        self.app = app
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="critical", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self) -> RunningProxy:
        self._thread.start()
        wait_started(self._server, self._thread, "fault proxy", 0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
