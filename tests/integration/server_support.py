"""Shared by the server-against-sekmet tests: peers loaded with patients, `fhir-sync serve` and
`fhir-sync worker` as real processes, the outbox as the database holds it, orders to stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select

from fhir_sync.store.database import read_transaction
from fhir_sync.store.outbox import OUTBOX

from .conftest import free_port
from .sync_support import generated, load, patient_ids

TODAY = date(2026, 3, 2)
Resource = dict[str, Any]


@dataclass(frozen=True)
class LoadedEhr:
    base_url: str
    patients: list[str]


def loaded_ehr(base_url: str, patients: int, seed: int) -> LoadedEhr:
    """The peer with `patients` generated patients (orders and a year of fills)."""
    resources = generated(patients, seed, TODAY)
    load(base_url, resources)
    return LoadedEhr(base_url, patient_ids(resources))


def enroll_parameters(ehr: str, target: str | None = None) -> Resource:
    parts: list[Resource] = [{"name": "ehrEndpoint", "valueUrl": ehr}]
    if target is not None:
        parts.append({"name": "targetEndpoint", "valueUrl": target})
    return {"resourceType": "Parameters", "parameter": parts}


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(
                OUTBOX.c.id,
                OUTBOX.c.patient_id,
                OUTBOX.c.state,
                OUTBOX.c.attempts,
                OUTBOX.c.claimed_by,
                OUTBOX.c.claimed_until,
                OUTBOX.c.last_error,
            ).order_by(OUTBOX.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def outbox_states(engine: Engine) -> Counter[str]:
    return Counter(row["state"] for row in outbox_rows(engine))


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Seconds it took; fails the test with `what` after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def drained(engine: Engine) -> bool:
    states = outbox_states(engine)
    return bool(states) and states["pending"] == 0


def active_orders(base_url: str, patient_id: str) -> list[Resource]:
    response = httpx.get(
        f"{base_url}/MedicationRequest",
        params={"patient": patient_id, "status": "active", "_count": "100"},
        timeout=10,
    )
    response.raise_for_status()
    return [entry["resource"] for entry in response.json().get("entry", [])]


def stop_order(base_url: str, order: Resource) -> None:
    """The prescriber stops the order in the EHR."""
    stopped = {k: v for k, v in order.items() if k != "meta"} | {"status": "stopped"}
    response = httpx.put(
        f"{base_url}/MedicationRequest/{order['id']}",
        json=stopped,
        headers={"Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


def planned_orders(careplan: Resource) -> set[str]:
    """The MedicationRequests a CarePlan's activities name (planned or excluded with a reason:
    a stopped order is not pulled, so it is in neither)."""
    found = set()
    for activity in careplan.get("activity", []):
        for extension in activity.get("detail", {}).get("extension", []):
            reference = extension.get("valueReference", {}).get("reference")
            if reference:
                found.add(reference)
    return found


# -- fhir-sync processes ---------------------------------------------------------------------


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def log_tail(self, limit: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-limit:]

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def fhir_sync_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "FHIR_SYNC_DATABASE_URL": database_url,
        "FHIR_SYNC_TODAY": TODAY.isoformat(),
        "FHIR_SYNC_POLL_INTERVAL": "0.1",
        **extra,
    }


def start_process(folder: Path, name: str, args: list[str], env: dict[str, str]) -> Process:
    log_path = folder / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fhir_sync", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Process(name, process, log_path)


def start_server(folder: Path, name: str, env: dict[str, str]) -> Process:
    port = free_port()
    server = start_process(folder, name, ["serve", "--port", str(port)], env)
    server.port = port
    deadline = time.monotonic() + 120  # a loaded CI machine takes over 30 s to import
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.base_url}/metadata", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"fhir-sync serve did not come up:\n{server.log_tail()}")


@contextmanager
def serving(folder: Path, env: dict[str, str], name: str = "server") -> Iterator[Process]:
    """`fhir-sync serve` on 127.0.0.1 and a free port with `env`, up and answering; stopped
    (SIGTERM, then SIGKILL) when the block ends."""
    server = start_server(folder, name, env)
    with stopping(server):
        yield server


@contextmanager
def stopping(*processes: Process) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()
