"""Syncing through a fault-injecting proxy: 500/503/429 with Retry-After, dropped connections
before and after the peer acted, slow answers, in the middle of paging and of write-back.

After the first run: no resource is duplicated on the peer, every patient is either written
(and its plan is on the peer) or reported failed with a reason that names no patient. The
second run completes the failed ones and writes nothing that the first run wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson
import pytest

from adapters.http import FhirClient, Quirk, new_http_client, sekmet_settings
from fhir_sync.sync import Endpoint, Outcome, PatientResult, SyncOptions, SyncTargets, sync_patients
from mappings.profile import EXT_PLAN_DIGEST

from .conftest import SekmetServer
from .fault_proxy import FaultProxy, FaultSchedule, RunningProxy
from .sync_support import (
    extension,
    generated,
    load,
    patient_ids,
    read_back,
    summary_counts,
    sync_cli,
)

TODAY = date(2026, 3, 2)
SEED = 20260302

#: Fast and bounded: tiny backoff, Retry-After capped, a timeout the "slow" faults exceed.
RESILIENCE = {
    "max_attempts": 3,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "max_retry_after": 0.05,
    "timeout": 0.5,
    "connect_timeout": 0.5,
    "concurrency": 6,
    "page_size": 5,
    "quirks": frozenset({Quirk.REWRITE_LINK_ORIGIN, Quirk.OFFSET_PAGING}),
}


@dataclass
class Setup:
    peer: str
    proxy: RunningProxy
    patients: list[str]


@pytest.fixture(scope="module")
def setup(sekmet_factory: Callable[..., SekmetServer]) -> Iterator[Setup]:
    server = sekmet_factory(name="sync-faults")
    resources = generated(30, 17, TODAY)
    load(server.base_url, resources)
    proxy = RunningProxy(FaultProxy(server.root_url, FaultSchedule(seed=SEED))).start()
    try:
        yield Setup(server.base_url, proxy, patient_ids(resources))
    finally:
        proxy.stop()


async def _sync_through(proxy_url: str, today: date = TODAY) -> list[PatientResult]:
    settings = sekmet_settings(proxy_url, **RESILIENCE)
    results: list[PatientResult] = []
    async with new_http_client(settings) as http:
        client = FhirClient(settings, http)
        targets = SyncTargets(ehr=Endpoint("ehr", client))
        report = await sync_patients(
            targets, None, SyncOptions(today=today, workers=6), on_result=results.append
        )
    assert report.aborted is None
    return results


def test_faults_lose_and_duplicate_nothing_and_a_second_run_completes(
    setup: Setup, tmp_path: Path
) -> None:
    schedule = setup.proxy.app.schedule

    first = asyncio.run(_sync_through(setup.proxy.base_url))
    setup.proxy.app.wait_idle()  # a write held back past the client's timeout lands late
    after_first = read_back(setup.peer)  # straight from the peer, not through the proxy

    # every patient exactly once, written or failed with a reason that names nobody
    assert sorted(r.patient_id for r in first) == setup.patients
    failed = {r.patient_id: r for r in first if r.outcome is Outcome.FAILED}
    written = {r.patient_id: r for r in first if r.outcome is Outcome.WRITTEN}
    assert set(failed) | set(written) == set(setup.patients)
    for patient, result in failed.items():
        assert result.reason and patient not in result.reason
        assert all(p not in result.reason for p in setup.patients)
    assert after_first.duplicates() == {}
    careplans = after_first.by_identifier("CarePlan")
    for patient, result in written.items():
        assert extension(careplans[patient], EXT_PLAN_DIGEST) == result.digest
    # the schedule really did all of it, in paging and in write-back
    assert {"500", "503", "429", "drop_before", "drop_after", "delay", "slow", "persistent"} <= set(
        schedule.injected
    ), schedule.injected
    assert schedule.phases["paging"] and schedule.phases["write"], schedule.phases
    assert failed, "the outage should have failed some patients"

    schedule.outage = False  # the outage is over; transient faults go on
    errors = tmp_path / "errors.ndjson"
    config = tmp_path / "sync.toml"
    config.write_text(
        "[ehr]\nmax_attempts = 3\nbackoff_base = 0.01\ntimeout = 0.5\npage_size = 5\n"
        'quirks = ["rewrite-link-origin", "offset-paging"]\n'
    )
    code, output = sync_cli(
        "--ehr",
        setup.proxy.base_url,
        "--config",
        str(config),
        "--today",
        TODAY.isoformat(),
        "--concurrency",
        "6",
        "--errors",
        str(errors),
    )
    setup.proxy.app.wait_idle()
    after_second = read_back(setup.peer)

    counts = summary_counts(output)
    assert code == 0, output + errors.read_text()
    assert counts["patients failed"] == 0
    assert counts["plans written"] + counts["plans unchanged (not written)"] == len(setup.patients)
    assert counts["plans written"] <= len(failed)  # only what the first run could not finish
    assert errors.read_bytes() == b""
    assert after_second.duplicates() == {}
    assert sorted(after_second.by_identifier("CarePlan")) == setup.patients
    # what the first run wrote, the second left alone
    before, now = after_first.versions(), after_second.versions()
    for patient in written:
        assert now[f"CarePlan|{patient}"] == before[f"CarePlan|{patient}"]


def test_a_failed_patient_is_reported_in_the_errors_file_and_exits_1(
    setup: Setup, tmp_path: Path
) -> None:
    """The proxy answers 503 to everything per-patient for one run: the CLI reports each
    patient in --errors, exits 1, and the peer is untouched."""
    before = read_back(setup.peer).versions()
    errors = tmp_path / "errors.ndjson"
    schedule = setup.proxy.app.schedule
    saved = schedule.persistent_rate, schedule.outage
    schedule.persistent_rate, schedule.outage = 1.0, True
    try:
        code, output = sync_cli(
            "--ehr",
            setup.proxy.base_url,
            "--today",
            "2026-03-03",
            "--patient",
            setup.patients[0],
            "--patient",
            setup.patients[1],
            "--errors",
            str(errors),
        )
    finally:
        schedule.persistent_rate, schedule.outage = saved

    outcomes = [orjson.loads(line) for line in errors.read_bytes().splitlines()]
    assert code == 1, output
    assert summary_counts(output)["patients failed"] == 2
    assert sorted(o["issue"][0]["diagnostics"].split(":")[0] for o in outcomes) == [
        f"Patient/{setup.patients[0]}",
        f"Patient/{setup.patients[1]}",
    ]
    assert all("HTTP 503" in o["issue"][0]["diagnostics"] for o in outcomes)
    assert read_back(setup.peer).versions() == before


def test_rewriting_every_plan_through_faults_updates_each_exactly_once(setup: Setup) -> None:
    """A new day changes every plan: each existing CarePlan is written by id with If-Match.
    A write whose answer was lost but which landed comes back as 412 on the retry; the sync
    re-reads, finds its own plan, and counts it written."""
    schedule = setup.proxy.app.schedule
    schedule.outage = False
    asyncio.run(_sync_through(setup.proxy.base_url))  # whatever an earlier test left undone
    setup.proxy.app.wait_idle()
    later = date(2026, 3, 4)
    # the dice lose a write's answer in about half of the runs: make sure one is lost
    schedule.lose_write_answers = 1

    results = asyncio.run(_sync_through(setup.proxy.base_url, later))
    setup.proxy.app.wait_idle()
    written = read_back(setup.peer)

    assert sorted(r.patient_id for r in results) == setup.patients
    assert {r.outcome for r in results} == {Outcome.WRITTEN}, [r.reason for r in results]
    assert any(r.replanned for r in results), "no lost answer to a write was re-read"
    assert written.duplicates() == {}
    careplans = written.by_identifier("CarePlan")
    for result in results:
        careplan = careplans[result.patient_id]
        assert careplan["period"]["start"] == later.isoformat()
        assert extension(careplan, EXT_PLAN_DIGEST) == result.digest
