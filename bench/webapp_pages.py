"""Server time of the staff web app's pages with a large enrolled population.

A population of enrolled patients (bench/server_population.py: template patients planned for
real, copied with new ids) in a fresh SQLite database, the cycle derived for the benchmark's
day, one pharmacist signed in; then each page is requested N times in-process through the
ASGI app (Starlette's test client: no network, so the time is the server's, plus the client's
small share) and its p50 and p99 printed in milliseconds. The baseline in the same run is the
FHIR API's read of one CarePlan, the cheapest page-sized answer the server gives.

    python -m bench.webapp_pages --patients 10000 --repeat 200
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from bench.server_population import TODAY, Population, load_population, plan_templates
from fhir_sync.api.app import create_app
from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.services.plan_resources import careplan_id
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.services.staff_accounts import Role, add_user
from fhir_sync.store.database import open_engine

PASSWORD = "bench-password-1"


def _times(client: TestClient, path: str, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: HTTP {answer.status_code}")
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--templates", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fhir-sync-webapp-bench-"))
    engine = open_engine(f"sqlite:///{folder / 'bench.sqlite3'}")
    population = Population(patients=args.patients, payers=10, templates=args.templates)
    report = load_population(engine, population, plan_templates(args.templates, 1))
    print(f"loaded {args.patients} enrolled patients in {report.seconds:.1f} s")
    day = TODAY + timedelta(days=20)
    start = time.perf_counter()
    for offset in range(21):
        run_cycle_day(engine, TODAY + timedelta(days=offset))
    print(f"cycle derived for 21 days in {time.perf_counter() - start:.1f} s")
    add_user(engine, "bench", Role.PHARMACIST, PASSWORD)
    os.environ["FHIR_SYNC_APP_INSECURE_COOKIES"] = "1"
    settings = ServerSettings(database_url="unused", today=day, migrate_on_start=False)
    with TestClient(create_app(settings, engine=engine), follow_redirects=False) as client:
        login = client.get("/app/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', login)
        assert token is not None
        client.post(
            "/app/login",
            data={"csrf": token.group(1), "username": "bench", "password": PASSWORD},
        )
        patient = population.patient_id(args.patients // 2)
        pages = {
            "FHIR read CarePlan (baseline)": f"/fhir/CarePlan/{careplan_id(patient)}",
            "Today": f"/app/today?date={day.isoformat()}",
            "Patients (page 1)": "/app/patients",
            "Patients (page 100)": "/app/patients?page=100",
            "A patient": f"/app/patients/{patient}",
            "Write-back": "/app/outbox",
            "Pickup sheet": f"/app/pickups?date={day.isoformat()}",
        }
        print(f"{'page':32} {'p50 ms':>8} {'p99 ms':>8}")
        for name, path in pages.items():
            p50, p99 = _times(client, path, args.repeat)
            print(f"{name:32} {p50:8.1f} {p99:8.1f}")
    engine.dispose()


if __name__ == "__main__":
    main()
