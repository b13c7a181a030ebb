"""The hostile-input suite: every input of hostile_inputs.py sent to a real `fhir-sync serve`
on 127.0.0.1, on SQLite and on PostgreSQL, over one keep-alive connection. Each must get its
4xx as an OperationOutcome, and the same connection must still answer afterwards."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.server_support import Process, serving
from tests.server.api_support import TODAY, enroll_body
from tests.server.conftest import BACKENDS
from tests.server.databases import database
from tests.server.hostile_inputs import BODY_LIMIT, HOSTILE, PATIENT, Hostile


class KeepAlive:
    """One HTTP/1.1 connection, which must stay the same one for every request."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.http.connect()
        assert self.http.sock is not None
        self.local = self.http.sock.getsockname()

    def send(self, case: Hostile) -> tuple[int, str | None, bytes]:
        if case.chunked:
            body: Any = (case.body[i : i + 65536] for i in range(0, len(case.body or b""), 65536))
            self.http.request(case.method, case.path, body, case.headers, encode_chunked=True)
        else:
            self.http.request(case.method, case.path, case.body, case.headers)
        response = self.http.getresponse()
        return response.status, response.getheader("content-type"), response.read()

    def usable(self) -> bool:
        """Whether the same connection (not a new one) still answers a request."""
        if self.http.sock is None:
            return False
        try:
            self.http.request("GET", "/fhir/metadata")
            response = self.http.getresponse()
            response.read()
        except (http.client.HTTPException, OSError):
            return False
        sock = self.http.sock
        return response.status == 200 and sock is not None and sock.getsockname() == self.local

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """A production-mode server (the default) with a 1 MiB body limit and PATIENT enrolled."""
    folder: Path = tmp_path_factory.mktemp("hostile")
    with database(request.param, folder) as url:
        env = {
            **os.environ,
            "FHIR_SYNC_DATABASE_URL": url,
            "FHIR_SYNC_TODAY": TODAY.isoformat(),
            "FHIR_SYNC_MAX_BODY_BYTES": str(BODY_LIMIT),
        }
        env.pop("FHIR_SYNC_ENV", None)
        env.pop("FHIR_SYNC_API_DOCS", None)
        with serving(folder, env) as process:
            response = httpx.post(
                f"{process.base_url}/Patient/{PATIENT}/$enroll",
                json=enroll_body(PATIENT),
                timeout=30,
            )
            assert response.status_code == 200, response.text
            yield process


@pytest.fixture(scope="module")
def connection(server: Process) -> Iterator[KeepAlive]:
    assert server.port is not None
    kept = KeepAlive(server.port)
    yield kept
    kept.close()


@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_hostile_input_gets_a_4xx_outcome_and_the_connection_stays(
    case: Hostile, connection: KeepAlive, server: Process
) -> None:
    status, content_type, body = connection.send(case)
    assert status == case.status, body[:500]
    assert content_type == "application/fhir+json"
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    if case.expression is not None:
        expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
        assert any(case.expression in e for e in expressions), expressions
    assert connection.usable(), f"the connection did not survive:\n{server.log_tail()}"
    assert "Traceback" not in server.log_tail(20000)


def test_an_unreadable_request_line_gets_an_outcome(server: Process) -> None:
    """A 100 KB request line never reaches the app (uvicorn's parser refuses it); the answer
    is still an OperationOutcome, and the server goes on serving new connections."""
    assert server.port is not None
    raw = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    raw.request("GET", f"/fhir/CarePlan?patient={'a' * 100_000}")
    response = raw.getresponse()
    assert response.status == 400
    assert response.getheader("content-type") == "application/fhir+json"
    assert json.loads(response.read())["resourceType"] == "OperationOutcome"
    raw.close()
    assert httpx.get(f"{server.base_url}/metadata", timeout=10).status_code == 200


def test_the_plan_is_untouched_by_what_was_refused(server: Process) -> None:
    """Nothing refused was half-applied: the patient's CarePlan is still the enrolled one."""
    found = httpx.get(f"{server.base_url}/CarePlan", params={"patient": PATIENT}, timeout=10)
    assert found.status_code == 200
    plans = [entry["resource"] for entry in found.json().get("entry", [])]
    assert len(plans) == 1
    assert plans[0]["meta"]["versionId"] == "1"
