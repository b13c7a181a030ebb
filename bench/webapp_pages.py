"""Server time of the staff web app's pages with a large enrolled population.

A population of enrolled patients (bench/server_population.py: template patients planned for
real, copied with new ids) in a fresh SQLite database, each enrollment given the anchor date
its plan chose (as enrolling through the API does), the monthly cycle derived for the 21 days
up to the benchmark's day (so every enrollment has its cycle state and the day has its calls,
preparations, pickups and renewals), one pharmacist signed in; then each page is requested N
times in-process through the ASGI app (Starlette's test client: no network, so the time is the
server's, plus the client's small share) and its p50 and p99 printed in milliseconds. The
patient searches are POSTs of the search form. The baseline in the same run is the FHIR API's
read of one CarePlan, the cheapest page-sized answer the server gives.

    python -m bench.webapp_pages --patients 10000 --repeat 200
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, bindparam, func, select, update

from bench.server_population import (
    TODAY,
    Population,
    Template,
    load_population,
    plan_templates,
)
from fhir_sync.api.app import create_app
from fhir_sync.services.cycle_resources import install as publish_cycle_calls
from fhir_sync.services.cycle_run import run_cycle_day
from fhir_sync.services.plan_resources import careplan_id
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.services.staff_accounts import Role, add_user
from fhir_sync.store.database import open_engine, write_transaction
from fhir_sync.store.tables import CycleItemRow, CycleState, Enrollment
from mappings.profile import EXT_ANCHOR_DATE

PASSWORD = "bench-password-1"
ENROLLMENT: Table = Enrollment.__table__  # type: ignore[attr-defined]
ITEM: Table = CycleItemRow.__table__  # type: ignore[attr-defined]
STATE: Table = CycleState.__table__  # type: ignore[attr-defined]


def _times(request: Callable[[], int], name: str, repeat: int) -> tuple[float, float, float]:
    """The first request's time, and p50 and p99 of the `repeat` requests after it; `request`
    answers the HTTP status. The first request of a page pays one-time costs (SQLAlchemy
    compiling the page's statements, cold database pages), which a p99 of 50 requests,
    their slowest, would otherwise report as the page's steady cost."""
    start = time.perf_counter()
    if request() != 200:
        raise SystemExit(f"{name}: HTTP error")
    first = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        status = request()
        samples.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"{name}: HTTP {status}")
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return first, statistics.median(samples), p99


def template_anchor(template: Template) -> date | None:
    """The anchor date the template's plan chose (its CarePlan's anchor-date extension)."""
    for row in template.rows:
        if row.resource_type == "CarePlan":
            for extension in orjson.loads(row.body).get("extension") or ():
                if extension.get("url") == EXT_ANCHOR_DATE:
                    return date.fromisoformat(extension["valueDate"])
    return None


def anchor_enrollments(
    engine: Engine, population: Population, templates: Sequence[Template]
) -> int:
    """Give each copied enrollment its plan's anchor date, as storing a plan does: without one
    the daily cycle skips the enrollment, and Today's worklist would be empty."""
    anchors = [template_anchor(t) for t in templates]
    rows = [
        {"pid": population.patient_id(number), "anchor": anchors[(number - 1) % len(anchors)]}
        for number in range(1, population.patients + 1)
    ]
    rows = [r for r in rows if r["anchor"] is not None]
    statement = (
        update(ENROLLMENT)
        .where(ENROLLMENT.c.patient_id == bindparam("pid"))
        .values(anchor_date=bindparam("anchor"))
    )
    with write_transaction(engine) as connection:
        connection.execute(statement, rows)
    return len(rows)


def day_items(engine: Engine, day: date) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(ITEM.c.kind, func.count()).where(ITEM.c.day == day).group_by(ITEM.c.kind)
        )
        return Counter({str(kind): int(count) for kind, count in rows})


def _states(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(STATE)).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--templates", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fhir-sync-webapp-bench-"))
    engine = open_engine(f"sqlite:///{folder / 'bench.sqlite3'}")
    population = Population(patients=args.patients, payers=10, templates=args.templates)
    templates = plan_templates(args.templates, 1)
    report = load_population(engine, population, templates)
    anchored = anchor_enrollments(engine, population, templates)
    print(
        f"loaded {args.patients} enrolled patients in {report.seconds:.1f} s, {anchored} anchored"
    )
    day = TODAY + timedelta(days=20)
    start = time.perf_counter()
    publish_cycle_calls()  # the calls become CommunicationRequests, as `fhir-sync serve` does
    run_cycle_day(engine, TODAY)  # the first run: each enrollment's cycle state
    run_cycle_day(engine, day)  # catches up the 20 days since, as the worker does
    items = day_items(engine, day)
    print(
        f"cycle derived for 21 days in {time.perf_counter() - start:.1f} s: "
        f"{_states(engine)} cycle states; {sum(items.values())} items on {day.isoformat()} "
        f"({', '.join(f'{n} {k}' for k, n in sorted(items.items()))})"
    )
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
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/app/patients").text)
        assert csrf is not None
        patient = population.patient_id(args.patients // 2)
        person = orjson.loads(client.get(f"/fhir/Patient/{patient}").content)
        family = str(person["name"][0]["family"])
        pages: dict[str, Callable[[], int]] = {}

        def get(label: str, path: str) -> None:
            pages[label] = lambda: client.get(path).status_code

        def search(label: str, **form: str) -> None:
            data = {"csrf": csrf.group(1), "name": "", "birth_date": "", "patient_id": "", **form}
            pages[label] = lambda: client.post("/app/patients", data=data).status_code

        get("FHIR read CarePlan (baseline)", f"/fhir/CarePlan/{careplan_id(patient)}")
        get("Today", f"/app/today?date={day.isoformat()}")
        get("Today, worklist page 2", f"/app/today?date={day.isoformat()}&page=2")
        get("Patients (page 1)", "/app/patients")
        # keyset paging: page 100 is the page after the 4,950th patient (ids are in number order)
        page_100 = population.patient_id(min(99 * 50, args.patients - 50))
        get("Patients (page 100)", f"/app/patients?after={page_100}")
        search("Search: family name", name=family)
        search("Search: birth date", birth_date=str(person["birthDate"]))
        search("Search: id", patient_id=patient)
        search("Search: no match", name="Nobodyhasthisname")
        get("A patient", f"/app/patients/{patient}")
        get("Write-back", "/app/outbox")
        get("Pickup sheet", f"/app/pickups?date={day.isoformat()}")
        print(f"{'page':32} {'first ms':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, request in pages.items():
            first, p50, p99 = _times(request, name, args.repeat)
            print(f"{name:32} {first:8.1f} {p50:8.1f} {p99:8.1f}")
        today_html = client.get(f"/app/today?date={day.isoformat()}").content
        print(f"Today's page: {len(today_html) / 1000:.0f} KB of HTML")
    engine.dispose()


if __name__ == "__main__":
    main()
