"""Soak: mixed API load on a real `fhir-sync serve` for `--seconds`, with one SIGKILL and an
immediate restart half-way, on SQLite and on PostgreSQL.

The demo patients are enrolled with a sekmet-fhir peer as their write-back target, so every
plan change goes through the outbox. Client threads then run reads by id, searches, payer
changes (`$enroll`), `$hold`, `$resume` and `$sync` against the server for the whole run; while
the server is down their requests fail to connect, which is counted apart (it is not a 5xx).
Reported per database: requests answered, 5xx (must be 0), connection failures while down,
latency p50/p99, how long the restart took until `/metadata` answered, and how long after the
restart the outbox had delivered everything queued before the kill.

    python -m bench.soak --seconds 600            # the full ten minutes per database
    python -m bench.soak --seconds 60 --backends postgresql
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy import Engine, func, select

from bench.audit_overhead import demo_enroll_bodies
from bench.server_processes import (
    free_port,
    fresh_database,
    sekmet_serve,
    start_fhir_sync,
    wait_until_up,
)
from fhir_sync.services.plan_resources import careplan_id
from fhir_sync.store.database import open_engine, read_transaction
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.outbox import OUTBOX

PAYERS: Final = ("Organization/soak-east", "Organization/soak-west")
FHIR_JSON: Final = {"Content-Type": "application/fhir+json"}
DOWN: Final = -1  # no answer: the server was being killed or restarted


class Recorder:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def add(self, status: int, seconds: float, what: str, text: str = "") -> None:
        with self.lock:
            self.statuses[status] += 1
            if status != DOWN:
                self.latencies.append(seconds)
            if status >= 500 and len(self.errors) < 10:
                self.errors.append(f"{what}: {status} {text[:300]}")


def main() -> None:
    args = _arguments()
    results = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="fhir-sync-soak-") as folder:
            results.append(
                soak(
                    backend,
                    Path(folder),
                    seconds=args.seconds,
                    clients=args.clients,
                    postgres_url=args.postgres_url,
                    outbox_lease=args.outbox_lease,
                )
            )
    print(json.dumps(results, indent=2))
    if any(r["5xx"] for r in results):
        raise SystemExit(1)


def soak(
    backend: str,
    work: Path,
    *,
    seconds: float,
    clients: int,
    postgres_url: str,
    outbox_lease: float | None = None,
) -> dict[str, Any]:
    """One run on `backend` (sqlite or postgresql); its figures. `outbox_lease`: the
    server's FHIR_SYNC_OUTBOX_LEASE (writes the killed process had claimed are taken over
    when their lease ends), None for the default."""
    with (
        fresh_database(backend, work, postgres_url) as url,
        sekmet_serve(work / "ehr", work / "ehr.sqlite3") as ehr,
    ):
        engine = open_engine(url)
        upgrade(engine)
        port = free_port()
        base = f"http://127.0.0.1:{port}/fhir"
        log = work / "server.log"
        environ = {"FHIR_SYNC_POLL_INTERVAL": "0.2", "FHIR_SYNC_TODAY": "2026-11-22"}
        if outbox_lease is not None:
            environ["FHIR_SYNC_OUTBOX_LEASE"] = str(outbox_lease)
        process = start_fhir_sync(url, log, port, environ=environ)
        wait_until_up(base, process, log)
        patients = _enroll(base, ehr)
        recorder = Recorder()
        stop = threading.Event()
        threads = [
            threading.Thread(target=_client, args=(base, patients, recorder, stop, seed))
            for seed in range(clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(seconds / 2)
        queued_before = _last_outbox_id(engine)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        killed = time.monotonic()
        process = start_fhir_sync(url, log, port, environ=environ)
        wait_until_up(base, process, log)
        restarted = time.monotonic()
        drained = _wait_drained(engine, queued_before, timeout=max(300.0, seconds))
        time.sleep(max(0.0, started + seconds - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join()
        process.terminate()
        process.wait(timeout=30)
        engine.dispose()
    latencies = sorted(recorder.latencies)
    answered = sum(n for status, n in recorder.statuses.items() if status != DOWN)
    figures = {
        "database": backend,
        "seconds": seconds,
        "clients": clients,
        "outbox lease s": outbox_lease or "default (120)",
        "requests": answered,
        "5xx": sum(n for status, n in recorder.statuses.items() if status >= 500),
        "no answer while down": recorder.statuses[DOWN],
        "statuses": {str(k): v for k, v in sorted(recorder.statuses.items())},
        "p50 ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99 ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        "restart s": round(restarted - killed, 2),
        "outbox drained s after restart": None if drained is None else round(drained, 2),
        "first 5xx": recorder.errors,
    }
    print(json.dumps(figures), flush=True)
    return figures


def _enroll(base: str, ehr: str) -> list[str]:
    patients = []
    with httpx.Client(timeout=60) as client:
        for index, (patient_id, body) in enumerate(demo_enroll_bodies().items()):
            parts = [
                *body["parameter"],
                {"name": "targetEndpoint", "valueUrl": ehr},
                {"name": "payer", "valueReference": {"reference": PAYERS[index % 2]}},
            ]
            answer = client.post(
                f"{base}/Patient/{patient_id}/$enroll",
                json={"resourceType": "Parameters", "parameter": parts},
                headers=FHIR_JSON,
            )
            answer.raise_for_status()
            patients.append(patient_id)
    return patients


def _client(
    base: str, patients: list[str], recorder: Recorder, stop: threading.Event, seed: int
) -> None:
    chooser = random.Random(seed)
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            patient = chooser.choice(patients)
            what, method, path, body = _request(chooser.random(), patient, chooser)
            start = time.monotonic()
            try:
                answer = client.request(method, f"{base}/{path}", json=body, headers=FHIR_JSON)
            except httpx.TransportError:
                recorder.add(DOWN, 0.0, what)
                time.sleep(0.05)
                continue
            recorder.add(answer.status_code, time.monotonic() - start, what, answer.text)


def _request(
    draw: float, patient: str, chooser: random.Random
) -> tuple[str, str, str, dict[str, Any] | None]:
    """(name, method, path, body): reads most, writes of every kind."""
    operation = f"Patient/{patient}/$"
    if draw < 0.40:
        return "read", "GET", f"CarePlan/{careplan_id(patient)}", None
    if draw < 0.65:
        return "search", "GET", f"CarePlan?patient={patient}", None
    if draw < 0.75:
        payer = {"name": "payer", "valueReference": {"reference": chooser.choice(PAYERS)}}
        return "$enroll", "POST", operation + "enroll", _parameters(payer)
    if draw < 0.85:
        until = {"name": "until", "valueDate": "2027-01-10"}
        return "$hold", "POST", operation + "hold", _parameters(until)
    if draw < 0.95:
        return "$resume", "POST", operation + "resume", _parameters()
    return "$sync", "POST", operation + "sync", _parameters()


def _parameters(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parts)}


def _last_outbox_id(engine: Engine) -> int:
    with read_transaction(engine) as connection:
        return int(connection.execute(select(func.max(OUTBOX.c.id))).scalar() or 0)


def _wait_drained(engine: Engine, up_to: int, timeout: float) -> float | None:
    """Seconds until no write queued up to id `up_to` is pending; None after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with read_transaction(engine) as connection:
            pending = connection.execute(
                select(func.count())
                .select_from(OUTBOX)
                .where(OUTBOX.c.id <= up_to, OUTBOX.c.state == "pending")
            ).scalar()
        if not pending:
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="per database (600)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (8)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--outbox-lease", type=float, default=None, help="FHIR_SYNC_OUTBOX_LEASE (default 120)"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="an admin connection that may create and drop databases",
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
