"""`fhir-sync demo`: the web app on a fresh database with the demo patients enrolled.

A newcomer's first look: a new SQLite database in its own folder, `fixtures/demo` enrolled
(a few patients on hold or unenrolled, so every status shows), a pharmacist and a technician
with random passwords printed here, then `fhir-sync serve` on it."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

ENROLLED_ON = date(2026, 11, 22)  # the date the demo fixtures' fill histories lead up to
DEMO_TODAY = "2026-12-15"  # three weeks of cycle history later: a week before most pickups


def _patients(folder: Path) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(folder.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            resource = orjson.loads(line)
            if resource.get("resourceType") == "Patient":
                grouped[str(resource["id"])].append(resource)
                continue
            subject = str((resource.get("subject") or {}).get("reference") or "")
            if subject.startswith("Patient/"):
                grouped[subject.removeprefix("Patient/")].append(resource)
    return dict(grouped)


def demo(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: Annotated[
        Path | None, typer.Option(help="A new folder for the demo database (default: a temp one).")
    ] = None,
    fixtures: Annotated[Path, typer.Option(help="The patients to enroll (NDJSON folder).")] = Path(
        "fixtures/demo"
    ),
    today: Annotated[str, typer.Option(help="The server's date (YYYY-MM-DD).")] = DEMO_TODAY,
    setup_only: Annotated[
        bool, typer.Option("--setup-only", help="Build the database and exit (for tests).")
    ] = False,
) -> None:
    """Start the staff web app (/app) on a fresh database with the demo patients enrolled."""
    from fhir_sync.cli.clients import usage_error

    if not fixtures.is_dir():
        usage_error(f"{fixtures} is not a folder (run from the repository, or give --fixtures)")
    try:
        planning_day = date.fromisoformat(today)
    except ValueError:
        usage_error("--today is YYYY-MM-DD")
    folder = data_dir or Path(tempfile.mkdtemp(prefix="fhir-sync-demo-"))
    if folder.exists() and any(folder.iterdir()):
        usage_error(f"{folder} is not empty: the demo needs a fresh database")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.pop("FHIR_SYNC_DATABASE_URL", None)
    os.environ["FHIR_SYNC_DATA_DIR"] = str(folder)
    os.environ["FHIR_SYNC_TODAY"] = planning_day.isoformat()
    os.environ["FHIR_SYNC_APP_INSECURE_COOKIES"] = "1"  # plain HTTP on 127.0.0.1
    os.environ.setdefault("FHIR_SYNC_PUBLIC_URL", f"http://{host}:{port}")
    logins = _build(folder, fixtures, planning_day)
    typer.echo(f"fhir-sync demo: database in {folder}")
    for username, role, password in logins:
        typer.echo(f"fhir-sync demo: sign in as {username} / {password} ({role})")
    typer.echo(f"fhir-sync demo: open http://{host}:{port}/app/ (today is {planning_day})")
    if setup_only:
        return
    from fhir_sync.cli.serve import serve

    serve(host=host, port=port, workers=1, outbox_workers=None)


def _history(engine: Any, first: date, today: date, status: Any) -> None:
    """The cycle run every day from enrollment to today, every pickup before today picked
    up but the first (a no-show), so that the worklist and each patient's history are full;
    the pickups of the last few days are left for staff to record."""
    from datetime import timedelta

    from fhir_sync.services.cycle_run import run_cycle_day
    from fhir_sync.services.worklist import day_worklist, record_pickup

    day = first
    missed = False
    while day <= today:
        run_cycle_day(engine, day)
        if day < today - timedelta(days=5):
            for entry in day_worklist(engine, day, groups=("pickups",), open_only=True).entries:
                if entry.kind != "pickup":
                    continue
                outcome = status.FULFILLED if missed else status.NO_SHOW
                missed = True
                record_pickup(engine, entry.patient_id, entry.anchor, outcome, day)
        day += timedelta(days=1)


def _build(folder: Path, fixtures: Path, today: date) -> list[tuple[str, str, str]]:
    from datetime import timedelta

    from fhir_sync.engine.cycle_types import PickupStatus
    from fhir_sync.services.enrollment import EnrollmentService
    from fhir_sync.services.patient_inputs import gather
    from fhir_sync.services.plan_terms import EnrollTerms
    from fhir_sync.services.staff_accounts import Role, add_user
    from fhir_sync.settings import StoreSection
    from fhir_sync.store.database import open_engine
    from fhir_sync.store.migrate import upgrade

    engine = open_engine(StoreSection.from_env().url())
    try:
        upgrade(engine)
        enrolled_on = min(ENROLLED_ON, today)
        service = EnrollmentService(engine, today=lambda: enrolled_on)
        patients = _patients(fixtures)
        ids = sorted(patients)
        for patient_id in ids:
            resources = patients[patient_id]
            terms = EnrollTerms(given={"resource"}, resources=resources)
            service.enroll(patient_id, terms, gather(patient_id, resources), if_match=None)
        # Every status on screen: the last two unenrolled, the one before on hold.
        for patient_id in ids[-2:]:
            service.unenroll(patient_id, if_match=None)
        if len(ids) > 3:
            service.hold(ids[-3], today + timedelta(days=14), if_match=None)
        _history(engine, enrolled_on, today, PickupStatus)
        logins = []
        for username, role in (("demo", Role.PHARMACIST), ("tech", Role.TECHNICIAN)):
            password = secrets.token_urlsafe(9)
            add_user(engine, username, role, password)
            logins.append((username, role.value, password))
        return logins
    finally:
        engine.dispose()
