"""A handled 500 leaves the keep-alive connection usable, under real uvicorn on 127.0.0.1.

No hostile input is known to make a 500 any more, so the app gets one route that raises,
as a bug would; everything else is the app `fhir-sync serve` runs, on a SQLite file.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from fhir_sync.api.app import create_app
from fhir_sync.api.http_protocol import FhirHttpProtocol
from fhir_sync.services.server_settings import ServerSettings
from tests.integration.conftest import free_port


class BugError(Exception):
    """What a route raises: its message must not reach the client."""


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    settings = ServerSettings(database_url=f"sqlite:///{tmp_path / 'boundary.sqlite3'}")
    app = create_app(settings)

    def broken() -> None:
        raise BugError("patient pt-secret")

    app.add_api_route("/fhir/broken", broken, methods=["GET"])
    chosen = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=chosen, http=FhirHttpProtocol, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield chosen
    server.should_exit = True
    thread.join(timeout=10)


def test_a_500_keeps_the_connection(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.connect()
    assert connection.sock is not None
    local = connection.sock.getsockname()
    for _ in range(3):
        connection.request("GET", "/fhir/broken")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 500
        assert response.getheader("content-type") == "application/fhir+json"
        outcome = json.loads(body)
        assert outcome["issue"][0]["code"] == "exception"
        assert "pt-secret" not in body.decode()
        connection.request("GET", "/fhir/metadata")
        answered = connection.getresponse()
        answered.read()
        assert answered.status == 200
        assert connection.sock is not None and connection.sock.getsockname() == local
    connection.close()
