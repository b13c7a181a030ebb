"""Re-syncing after the EHR changes: only the changed patient is rewritten, `--since` finds it,
a concurrent writer (HTTP 412) makes the sync re-read and re-plan, and a server without
transactions gets the same plans entry by entry. Also the command as a real subprocess.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fhirpy import AsyncFHIRClient

from adapters.http import FhirClient, new_http_client, sekmet_settings
from fhir_sync.sync import (
    Endpoint,
    FhirPlanWriter,
    Outcome,
    PatientResult,
    StoredPlan,
    SyncOptions,
    SyncTargets,
    sync_patients,
)
from mappings.fhir_literals import JsonObject

from .conftest import SekmetServer
from .sync_support import (
    EXT_PLAN_DIGEST,
    SID_SYNC_PLAN,
    Resource,
    extension,
    generated,
    identifier_value,
    load,
    patient_ids,
    read_back,
    summary_counts,
    sync_cli,
)

TODAY = date(2026, 3, 2)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ehr:
    base_url: str
    resources: list[Resource]
    patients: list[str]


@pytest.fixture(scope="module")
def ehr(sekmet_factory: Callable[..., SekmetServer]) -> Ehr:
    server = sekmet_factory(name="sync-changes")
    resources = generated(12, 9, TODAY)
    load(server.base_url, resources)
    return Ehr(server.base_url, resources, patient_ids(resources))


def test_the_command_as_a_subprocess_configured_by_environment_and_file(
    ehr: Ehr, tmp_path: Path
) -> None:
    config = tmp_path / "sync.toml"
    config.write_text("[sync]\nconcurrency = 3\ncycle_days = 30\n[ehr]\npage_size = 5\n")
    env = dict(os.environ, FHIR_SYNC_EHR_URL=ehr.base_url, FHIR_SYNC_CONFIG=str(config))

    runs = [
        subprocess.run(
            [sys.executable, "-m", "fhir_sync", "sync", "--today", TODAY.isoformat()],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        for _ in range(2)
    ]

    first, second = (summary_counts(run.stdout) for run in runs)
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert first["patients pulled"] == len(ehr.patients)  # every page of Patients (5 per page)
    assert first["plans written"] + first["plans unchanged (not written)"] == len(ehr.patients)
    assert second["plans written"] == 0
    assert second["plans unchanged (not written)"] == len(ehr.patients)
    assert runs[0].stderr == ""


def test_a_patient_the_ehr_does_not_have_gets_no_plan(ehr: Ehr, tmp_path: Path) -> None:
    errors = tmp_path / "errors.ndjson"

    code, output = sync_cli(
        "--ehr",
        ehr.base_url,
        "--patient",
        "no-such-patient",
        "--patient",
        ehr.patients[0],
        "--today",
        TODAY.isoformat(),
        "--errors",
        str(errors),
    )

    counts = summary_counts(output)
    assert code == 1, output
    assert counts["patients failed"] == 1
    assert counts["plans written"] + counts["plans unchanged (not written)"] == 1
    assert "no such Patient on the EHR" in errors.read_text()
    assert "no-such-patient" not in read_back(ehr.base_url).by_identifier("CarePlan")


def test_stopping_an_order_rewrites_only_that_patients_plan(ehr: Ehr) -> None:
    sync_cli("--ehr", ehr.base_url, "--today", TODAY.isoformat())
    before = read_back(ehr.base_url)
    patient, order_id = _a_synced_order(before)

    _stop_order(ehr.base_url, order_id)
    code, output = sync_cli("--ehr", ehr.base_url, "--today", TODAY.isoformat())
    after = read_back(ehr.base_url)

    counts = summary_counts(output)
    assert code == 0, output
    assert counts["plans written"] == 1
    assert counts["plans unchanged (not written)"] == len(ehr.patients) - 1
    changed = {k for k, v in after.versions().items() if before.versions().get(k) != v}
    assert f"CarePlan|{patient}" in changed
    assert all(key.split("|")[1].split(":")[0] == patient for key in changed), changed
    careplan = after.by_identifier("CarePlan")[patient]
    assert f"MedicationRequest/{order_id}" not in str(careplan.get("activity", []))
    assert after.duplicates() == {}


def test_since_syncs_only_the_patients_whose_orders_changed(ehr: Ehr) -> None:
    sync_cli("--ehr", ehr.base_url, "--today", TODAY.isoformat())
    before = read_back(ehr.base_url)
    since = _last_order_change(ehr.base_url)
    patient, order_id = _a_synced_order(before)

    _stop_order(ehr.base_url, order_id)
    code, output = sync_cli("--ehr", ehr.base_url, "--today", TODAY.isoformat(), "--since", since)

    counts = summary_counts(output)
    assert code == 0, output
    assert counts["patients pulled"] == counts["plans written"] == 1
    assert "next --since" in output
    assert (
        read_back(ehr.base_url).by_identifier("CarePlan")[patient]["meta"]["versionId"]
        != (before.by_identifier("CarePlan")[patient]["meta"]["versionId"])
    )


class Interfering:
    """A writer that lets "someone else" update the CarePlan just before we write it."""

    def __init__(self, client: FhirClient, times: int) -> None:
        self._client = client
        self._inner = FhirPlanWriter(client)
        self.remaining = times

    async def write(self, patient_id: str, bundle: JsonObject, stored: StoredPlan | None) -> None:
        if self.remaining and stored is not None:
            self.remaining -= 1
            current = await self._client.read("CarePlan", stored.id)
            await self._client.update(dict(current.resource, description="edited elsewhere"))
        await self._inner.write(patient_id, bundle, stored)


@pytest.mark.parametrize(("interferences", "outcome"), [(1, Outcome.WRITTEN), (2, Outcome.FAILED)])
def test_a_concurrent_write_re_reads_and_re_plans_once(
    ehr: Ehr, interferences: int, outcome: Outcome
) -> None:
    sync_cli("--ehr", ehr.base_url, "--today", TODAY.isoformat())
    patient = ehr.patients[0]
    later = TODAY + timedelta(days=interferences)  # a new day: the plan changes, so it is written

    async def run() -> list[PatientResult]:
        settings = sekmet_settings(ehr.base_url)
        async with new_http_client(settings) as http:
            client = FhirClient(settings, http)
            targets = SyncTargets(
                ehr=Endpoint("ehr", client), writer=Interfering(client, interferences)
            )
            results: list[PatientResult] = []
            await sync_patients(
                targets, [patient], SyncOptions(today=later), on_result=results.append
            )
            return results

    [result] = asyncio.run(run())
    careplan = read_back(ehr.base_url).by_identifier("CarePlan")[patient]

    assert result.outcome is outcome
    assert result.replanned
    if outcome is Outcome.WRITTEN:
        assert careplan["period"]["start"] == later.isoformat()
        assert careplan["description"] != "edited elsewhere"
    else:
        assert result.reason is not None and "HTTP 412" in result.reason
        assert careplan["description"] == "edited elsewhere"


def test_a_target_without_transactions_gets_the_same_plans_entry_by_entry(
    ehr: Ehr, sekmet_factory: Callable[..., SekmetServer], tmp_path: Path
) -> None:
    target = sekmet_factory(name="sync-target-no-tx").base_url
    config = tmp_path / "sync.toml"
    config.write_text(f'[target]\nurl = "{target}"\ntransactions = false\n')
    # --reanchor: plans as if new, like on the empty target (other tests moved some anchors)
    sync_cli("--ehr", ehr.base_url, "--today", TODAY.isoformat(), "--reanchor")

    first, second = (
        sync_cli("--ehr", ehr.base_url, "--config", str(config), "--today", TODAY.isoformat())
        for _ in range(2)
    )

    assert first[0] == second[0] == 0, first[1] + second[1]
    assert summary_counts(first[1])["plans written"] == len(ehr.patients)
    assert summary_counts(second[1])["plans unchanged (not written)"] == len(ehr.patients)
    on_ehr, on_target = read_back(ehr.base_url), read_back(target)
    assert on_target.duplicates() == {}
    # The EHR may also hold an Appointment or Tasks an earlier plan needed: re-plans do not
    # delete them (a documented limitation), so the target's are a subset.
    assert set(on_target.by_identifier("Appointment")) <= set(on_ehr.by_identifier("Appointment"))
    assert set(on_target.by_identifier("Task")) <= set(on_ehr.by_identifier("Task"))
    assert on_target.tasks
    appointments = on_target.by_identifier("Appointment")
    for patient, careplan in on_target.by_identifier("CarePlan").items():
        want = on_ehr.by_identifier("CarePlan")[patient]
        assert [a.get("detail") for a in careplan["activity"]] == [
            a.get("detail") for a in want["activity"]
        ]
        assert str(extension(careplan, EXT_PLAN_DIGEST)).startswith("sha256:")
        if patient in appointments:
            appointment = appointments[patient]
            assert {"reference": f"Appointment/{appointment['id']}"} in [
                a.get("reference") for a in careplan["activity"]
            ]
            assert appointment["supportingInformation"] == [
                {"reference": f"CarePlan/{careplan['id']}"}
            ]
    for task in on_target.tasks:
        patient = str(identifier_value(task, "https://fhir-sync.org/sid/renewal-task")).split(":")[
            0
        ]
        assert task["basedOn"] == [
            {"reference": f"CarePlan/{on_target.by_identifier('CarePlan')[patient]['id']}"}
        ]


def _a_synced_order(written: object) -> tuple[str, str]:
    """A patient and one of their synced (scheduled) orders, taken from the stored plans."""
    from .sync_support import Written

    assert isinstance(written, Written)
    for careplan in sorted(
        written.careplans, key=lambda c: str(identifier_value(c, SID_SYNC_PLAN))
    ):
        for activity in careplan.get("activity", []):
            detail = activity.get("detail", {})
            if detail.get("status") == "scheduled":
                ref = detail["extension"][0]["valueReference"]["reference"]
                return str(identifier_value(careplan, SID_SYNC_PLAN)), ref.split("/")[1]
    raise AssertionError("no synced order found")


def _last_order_change(base_url: str) -> str:
    """The server's stamp of its latest order change: `--since` it finds only later ones."""

    async def latest() -> str:
        client = AsyncFHIRClient(base_url)
        [order] = await client.resources("MedicationRequest").sort("-_lastUpdated").limit(1).fetch()
        return str(order["meta"]["lastUpdated"])

    return asyncio.run(latest())


def _stop_order(base_url: str, order_id: str) -> None:
    """The prescriber stops the order in the EHR (through a third-party client)."""

    async def stop() -> None:
        client = AsyncFHIRClient(base_url)
        order = await client.reference("MedicationRequest", order_id).to_resource()
        order["status"] = "stopped"
        await order.save()

    asyncio.run(stop())
