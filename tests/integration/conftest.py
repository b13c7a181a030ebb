"""Real FHIR servers (sekmet-fhir) for integration tests, one process per configuration.

``sekmet_factory`` starts a server with any configuration and stops it at the end of the session;
``sekmet_server`` (EHR, simulator off) and ``sekmet_pharmacy`` (answers MedicationRequests with
MedicationDispenses) are the two stock instances. Servers are shared by the session, so tests
must tag their data (unique identifier systems) rather than assume an empty store.

Without sekmet installed the fixtures skip, unless ``FHIR_SYNC_REQUIRE_INTEGRATION`` is set (CI),
where a missing server is a failure, not a silent pass.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.server_processes import free_port, spawn_sekmet

STARTUP_TIMEOUT = 30.0
REQUIRE_ENV = "FHIR_SYNC_REQUIRE_INTEGRATION"


@dataclass
class SekmetServer:
    name: str
    port: int
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/fhir"

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        stop_process(self.process, timeout=5, kill=self.process.kill)


def require_sekmet() -> None:
    if importlib.util.find_spec("sekmet") is not None:
        return
    message = "sekmet-fhir is not installed (pip install 'sekmet-fhir==0.1.1')"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message}; {REQUIRE_ENV} is set, so integration tests must run")
    pytest.skip(message)


async def request_body(receive: Callable[[], Awaitable[MutableMapping[str, Any]]]) -> bytes:
    """The whole body of an ASGI request, for the test proxies."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def stop_process(
    process: subprocess.Popen[bytes], *, timeout: float, kill: Callable[[], None]
) -> None:
    """SIGTERM, and `kill` when the process has not ended within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill()
            process.wait(timeout=timeout)


def wait_started(server: Any, thread: Any, what: str, interval: float) -> None:
    """Until the uvicorn `server` running in `thread` accepts connections (10 s at most)."""
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {what} did not start")
        time.sleep(interval)


def sekmet_config(port: int, directory: Path, **overrides: Any) -> dict[str, Any]:
    """Loopback only, in-memory store, quiet; the simulator is off unless overridden.

    ``delay_seconds`` also paces sekmet's Bulk export jobs (they idle that long, at most 1 s,
    before completing), so it is kept short even when the simulator is off.
    """
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "base_url": f"http://127.0.0.1:{port}/fhir",
        "db_path": ":memory:",
        "data_dir": str(directory / "data"),
        "own_private_key_path": str(directory / "keys" / "none.pem"),
        "simulator": {"enabled": False, "delay_seconds": 0.05},
        "log_inbound": False,
    }
    config.update(overrides)
    return config


def _wait_until_up(server: SekmetServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"{server.base_url}/metadata"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    state = "exited" if server.process.returncode is not None else f"not up after {timeout:.0f} s"
    raise RuntimeError(
        f"sekmet '{server.name}' on port {server.port} {state}; log:\n{server.log_tail()}"
    )


def start_sekmet(
    directory: Path, *, name: str = "sekmet", timeout: float = STARTUP_TIMEOUT, **overrides: Any
) -> SekmetServer:
    """Starts ``sekmet serve`` on a free loopback port and waits for /fhir/metadata.

    ``overrides`` are top-level sekmet settings (``simulator``, ``server_auth``, ...). The
    config is written as JSON, which YAML loaders read unchanged.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # the free port can be taken between probing and binding
        port = free_port()
        config_path = directory / f"{name}.yaml"
        config_path.write_text(json.dumps(sekmet_config(port, directory, **overrides), indent=2))
        log_path = directory / f"{name}.log"
        process = spawn_sekmet(config_path, log_path)
        server = SekmetServer(name, port, config_path, log_path, process)
        try:
            _wait_until_up(server, timeout)
        except RuntimeError:
            if attempt < 2 and "address already in use" in server.log_tail().lower():
                continue
            raise
        return server
    raise AssertionError("unreachable")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sekmet_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SekmetServer]]:
    """``sekmet_factory(name=..., **settings)`` -> a running server, stopped after the session."""
    require_sekmet()
    started: list[SekmetServer] = []

    def start(*, name: str = "sekmet", **overrides: Any) -> SekmetServer:
        try:
            server = start_sekmet(tmp_path_factory.mktemp(name), name=name, **overrides)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def sekmet_server(sekmet_factory: Callable[..., SekmetServer]) -> str:
    """Base URL of an EHR-like sekmet (simulator off)."""
    return sekmet_factory(name="ehr").base_url


@pytest.fixture(scope="session")
def sekmet_pharmacy(sekmet_factory: Callable[..., SekmetServer]) -> str:
    """Base URL of a pharmacy sekmet: each active MedicationRequest gets a MedicationDispense."""
    simulator = {"enabled": True, "delay_seconds": 0.5, "auto": ["MedicationRequest"]}
    return sekmet_factory(name="pharmacy", simulator=simulator).base_url
