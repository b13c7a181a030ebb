"""`fhir-sync sync` against a real FHIR server (sekmet on 127.0.0.1), read back with fhirpy.

The EHR holds generated patients (orders and a year of fills) and clinosim patients (orders
only). The written plans must be what `fhir-sync plan` makes of the same data, exactly one of
each resource per patient, and a second run (by search or by Bulk export) writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.task import Task

from fhir_sync.cli import app
from mappings.profile import EXT_PLAN_DIGEST

from .conftest import SekmetServer
from .sync_support import (
    EXT_ANCHOR_DATE,
    SID_RENEWAL_TASK,
    SID_SYNC_APPOINTMENT,
    SID_SYNC_PLAN,
    Resource,
    Written,
    clinosim,
    entries,
    extension,
    generated,
    identifier_value,
    load,
    patient_ids,
    plan_files,
    planned_bundles,
    read_back,
    runner,
    summary_counts,
    sync_cli,
)

TODAY = date(2026, 3, 2)


@dataclass(frozen=True)
class Synced:
    base_url: str
    resources: list[Resource]
    patients: list[str]
    code: int
    output: str
    written: Written


@pytest.fixture(scope="module")
def synced(sekmet_factory: Callable[..., SekmetServer]) -> Synced:
    """A fresh EHR loaded with 24 generated and 8 clinosim patients, synced once by the CLI."""
    server = sekmet_factory(name="sync-ehr")
    resources = generated(24, 5, TODAY) + clinosim(8)
    load(server.base_url, resources)
    code, output = sync_cli("--ehr", server.base_url, "--today", TODAY.isoformat())
    return Synced(
        server.base_url, resources, patient_ids(resources), code, output, read_back(server.base_url)
    )


def test_first_sync_writes_one_plan_per_patient(synced: Synced) -> None:
    counts = summary_counts(synced.output)

    assert synced.code == 0, synced.output
    assert counts["patients pulled"] == counts["plans written"] == len(synced.patients) == 32
    assert counts["patients failed"] == counts["inputs rejected"] == 0
    assert sorted(synced.written.by_identifier("CarePlan")) == synced.patients
    assert synced.written.duplicates() == {}
    for careplan in synced.written.careplans:
        CarePlan.model_validate(careplan)
        patient = identifier_value(careplan, SID_SYNC_PLAN)
        assert careplan["subject"]["reference"] == f"Patient/{patient}"
        assert careplan["period"]["start"] == TODAY.isoformat()
        assert str(extension(careplan, EXT_PLAN_DIGEST)).startswith("sha256:")


def test_written_plans_are_what_fhir_sync_plan_makes_of_the_same_data(
    synced: Synced, tmp_path: Path
) -> None:
    files = plan_files(synced.resources, tmp_path / "in")
    result = runner.invoke(
        app,
        ["plan", str(files), "--out", str(tmp_path / "out"), "--today", TODAY.isoformat()],
    )
    assert result.exit_code == 0, result.output
    expected = planned_bundles(tmp_path / "out")
    careplans = synced.written.by_identifier("CarePlan")
    appointments = synced.written.by_identifier("Appointment")
    tasks = synced.written.by_identifier("Task")

    assert sorted(expected) == synced.patients
    for patient, bundle in expected.items():
        [want] = entries(bundle, "CarePlan")
        got = careplans[patient]
        assert _details(got) == _details(want), patient
        assert extension(got, EXT_ANCHOR_DATE) == extension(want, EXT_ANCHOR_DATE)
        for appointment in entries(bundle, "Appointment"):
            stored = appointments[patient]
            assert (stored["start"], stored["end"]) == (appointment["start"], appointment["end"])
        for task in entries(bundle, "Task"):
            stored = tasks[identifier_value(task, SID_RENEWAL_TASK) or ""]
            assert stored["focus"] == task["focus"]
            assert stored["restriction"] == task["restriction"]


def test_appointments_sit_on_the_anchor_and_tasks_renew_the_patients_orders(
    synced: Synced,
) -> None:
    careplans = synced.written.by_identifier("CarePlan")
    appointments = synced.written.by_identifier("Appointment")
    orders = {r["id"]: r for r in synced.resources if r["resourceType"] == "MedicationRequest"}

    with_anchor = {p for p, c in careplans.items() if extension(c, EXT_ANCHOR_DATE)}
    assert with_anchor and set(appointments) == with_anchor
    for patient, appointment in appointments.items():
        Appointment.model_validate(appointment)
        anchor = extension(careplans[patient], EXT_ANCHOR_DATE)
        assert datetime.fromisoformat(appointment["start"]).date().isoformat() == anchor
        assert appointment["status"] == "proposed"
        assert identifier_value(appointment, SID_SYNC_APPOINTMENT) == patient
        assert {"reference": f"CarePlan/{careplans[patient]['id']}"} in appointment[
            "supportingInformation"
        ]
        links = [
            a["reference"]["reference"] for a in careplans[patient]["activity"] if "reference" in a
        ]
        assert links == [f"Appointment/{appointment['id']}"]
    assert len(synced.written.tasks) > 5
    for task in synced.written.tasks:
        Task.model_validate(task)
        patient, _, order_id = str(identifier_value(task, SID_RENEWAL_TASK)).partition(":")
        assert task["for"]["reference"] == f"Patient/{patient}"
        assert task["focus"]["reference"] == f"MedicationRequest/{order_id}"
        assert orders[order_id]["subject"]["reference"] == f"Patient/{patient}"
        assert task["status"] == "requested" and task["intent"] == "order"


def test_a_second_run_writes_nothing_by_search_or_by_bulk_export(synced: Synced) -> None:
    before = read_back(synced.base_url).versions()

    by_search = sync_cli("--ehr", synced.base_url, "--today", TODAY.isoformat())
    by_bulk = sync_cli("--ehr", synced.base_url, "--today", TODAY.isoformat(), "--bulk")
    after = read_back(synced.base_url)

    for code, output in (by_search, by_bulk):
        counts = summary_counts(output)
        assert code == 0, output
        assert counts["plans written"] == 0
        assert counts["plans unchanged (not written)"] == len(synced.patients)
    assert after.versions() == before
    assert after.duplicates() == {}


def test_a_dry_run_writes_files_and_nothing_remote(synced: Synced, tmp_path: Path) -> None:
    before = read_back(synced.base_url).versions()
    later = "2026-03-09"  # another day: every plan changes (period.start), so all are written

    code, output = sync_cli("--ehr", synced.base_url, "--today", later, "--dry-run", str(tmp_path))

    assert code == 0, output
    bundles = planned_bundles(tmp_path)
    assert sorted(bundles) == synced.patients
    assert (tmp_path / "errors.ndjson").read_bytes() == b""
    careplans = synced.written.by_identifier("CarePlan")
    for patient, bundle in bundles.items():
        first = bundle["entry"][0]
        # an existing CarePlan is written by id, against the version read
        assert first["request"] == {
            "method": "PUT",
            "url": f"CarePlan/{careplans[patient]['id']}",
            "ifMatch": f'W/"{careplans[patient]["meta"]["versionId"]}"',
        }
        assert first["resource"]["period"]["start"] == later
    assert read_back(synced.base_url).versions() == before


def _details(careplan: Resource) -> list[Resource]:
    """The activities about orders (the Appointment activity's reference differs by design:
    a urn:uuid in a plan file, the server's id once written)."""
    return [a["detail"] for a in careplan.get("activity", []) if "detail" in a]
