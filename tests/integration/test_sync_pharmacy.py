"""Orders from an EHR, fills from a pharmacy: two sekmet servers, the pharmacy's simulator
dispensing every active prescription it receives (as an e-prescribing pharmacy would).

The plans must be what `fhir-sync plan` makes of the EHR's orders plus the pharmacy's fills,
read back with fhirpy; the EHR holds no fills at all, so any use of a fill proves it came from
the pharmacy. Nothing is written to the pharmacy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fhirpy import AsyncFHIRClient
from typer.testing import CliRunner

from fhir_sync.cli import app

from .conftest import SekmetServer
from .sync_support import (
    Resource,
    generated,
    load,
    patient_ids,
    plan_files,
    planned_bundles,
    read_back,
    summary_counts,
    sync_cli,
)

DISPENSE_TIMEOUT = 30.0


async def _search(base_url: str, kind: str, **params: str) -> list[Resource]:
    client = AsyncFHIRClient(base_url)
    found = await client.resources(kind).search(**params).limit(500).fetch_all()
    return [r.serialize() for r in found]


def search(base_url: str, kind: str, **params: str) -> list[Resource]:
    return asyncio.run(_search(base_url, kind, **params))


@pytest.fixture(scope="module")
def peers(sekmet_factory: Callable[..., SekmetServer]) -> tuple[str, str, list[Resource], date]:
    """(EHR, pharmacy, loaded resources, today) once the pharmacy has dispensed every order."""
    ehr = sekmet_factory(name="rx-ehr").base_url
    simulator = {"enabled": True, "delay_seconds": 0.05, "auto": ["MedicationRequest"]}
    pharmacy = sekmet_factory(name="rx-pharmacy", simulator=simulator).base_url
    today = date.today()  # the simulator stamps its dispenses with the real clock
    resources = [r for r in generated(10, 21, today) if r["resourceType"] != "MedicationDispense"]
    load(ehr, resources)
    load(pharmacy, resources)
    dispensable = sum(
        1
        for r in resources
        if r["resourceType"] == "MedicationRequest"
        and r["status"] == "active"
        and r["intent"] in ("order", "original-order", "instance-order")
    )
    deadline = time.monotonic() + DISPENSE_TIMEOUT
    while len(search(pharmacy, "MedicationDispense")) < dispensable:
        assert time.monotonic() < deadline, "the pharmacy simulator did not dispense in time"
        time.sleep(0.2)
    return ehr, pharmacy, resources, today


def test_fills_come_from_the_pharmacy_and_plans_go_to_the_ehr(
    peers: tuple[str, str, list[Resource], date], tmp_path: Path
) -> None:
    ehr, pharmacy, resources, today = peers

    code, output = sync_cli("--ehr", ehr, "--pharmacy", pharmacy, "--today", today.isoformat())

    counts = summary_counts(output)
    patients = patient_ids(resources)
    assert code == 0, output
    assert counts["plans written"] == len(patients)
    assert search(ehr, "MedicationDispense") == []
    assert search(pharmacy, "CarePlan") == []
    fills = search(pharmacy, "MedicationDispense")
    files = plan_files([*resources, *fills], tmp_path / "in")
    result = CliRunner().invoke(
        app, ["plan", str(files), "--out", str(tmp_path / "out"), "--today", today.isoformat()]
    )
    assert result.exit_code == 0, result.output
    expected = planned_bundles(tmp_path / "out")
    written = read_back(ehr).by_identifier("CarePlan")
    assert sorted(written) == patients
    later = 0
    for patient, bundle in expected.items():
        want = bundle["entry"][0]["resource"]
        got = written[patient]
        assert [a.get("detail") for a in got.get("activity", [])] == [
            a.get("detail") for a in want.get("activity", [])
        ], patient
        later += sum(
            1
            for a in got.get("activity", [])
            if a.get("detail", {}).get("scheduledPeriod", {}).get("start", "") > today.isoformat()
        )
    assert later > 0  # orders filled today by the pharmacy are not due again today


def test_a_second_run_with_the_pharmacy_writes_nothing(
    peers: tuple[str, str, list[Resource], date],
) -> None:
    ehr, pharmacy, resources, today = peers
    sync_cli("--ehr", ehr, "--pharmacy", pharmacy, "--today", today.isoformat())
    before = read_back(ehr).versions()

    code, output = sync_cli("--ehr", ehr, "--pharmacy", pharmacy, "--today", today.isoformat())
    bulk_code, bulk_output = sync_cli(
        "--ehr", ehr, "--pharmacy", pharmacy, "--today", today.isoformat(), "--bulk"
    )

    assert (code, bulk_code) == (0, 0), output + bulk_output
    for out in (output, bulk_output):
        assert summary_counts(out)["plans unchanged (not written)"] == len(patient_ids(resources))
    assert read_back(ehr).versions() == before
