"""Worker processes change how fast `fhir-sync plan` runs, never what it writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.datagen import write_dataset
from fhir_sync.planning.workers import route_key, shard_of

runner = CliRunner()


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated patients with bad records, plus resources the byte router misplaces."""
    src = tmp_path_factory.mktemp("messy")
    write_dataset(src, 120, 3, date(2026, 11, 22), bad_records=True)
    orders = (src / "MedicationRequest.ndjson").read_bytes().splitlines()
    first = orjson.loads(orders[0])
    patient = first["subject"]["reference"]
    strays = []
    # a version-specific subject: the router guesses "7", the mappings find the patient
    versioned = dict(first, id="stray-versioned", subject={"reference": f"{patient}/_history/7"})
    strays.append(versioned)
    # the same id with other content, read second, routed elsewhere: still the one rejected
    conflicting = dict(first, subject={"reference": f"{patient}/_history/3"}, status="stopped")
    strays.append(conflicting)
    with (src / "Extra.ndjson").open("wb") as out:
        for res in strays:
            out.write(orjson.dumps(res) + b"\n")
    return src


def _run(src: Path, out: Path, jobs: int, *extra: str) -> None:
    result = runner.invoke(
        app,
        ["plan", str(src), "--out", str(out), "--today", "2026-11-22", "--jobs", str(jobs), *extra],
    )
    assert result.exit_code == 1, result.output  # the bad records are rejected


def test_one_two_and_three_workers_write_identical_files(messy: Path, tmp_path: Path) -> None:
    outputs = []
    for jobs in (1, 2, 3):
        out = tmp_path / f"jobs{jobs}"
        _run(messy, out, jobs)
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1] == outputs[2]
    errors = outputs[0]["errors.ndjson"].splitlines()
    assert any(b"different content" in line and b"Extra.ndjson" in line for line in errors)
    assert len(outputs[0]) > 100


def test_the_router_guesses_the_patient_of_ordinary_lines() -> None:
    line = b'{"resourceType":"MedicationDispense","id":"d1","subject":{"reference":"Patient/p-9"}}'
    assert route_key(line) == b"p-9"
    assert route_key(b'{"resourceType":"Patient","id":"p-9","active":true}') == b"p-9"
    assert route_key(b"{not json") == b""
    assert shard_of("p-9", 3) == shard_of("p-9", 3) in range(3)


def test_the_daily_limit_spans_every_worker(messy: Path, tmp_path: Path) -> None:
    """With 5 pickups a day at most (120 patients, 30 days: room for 150), each worker's
    patients count against the same days: the files are the same whatever the number of
    workers, and no day has more than 5 pickups."""
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        _run(messy, out, jobs, "--daily-limit", "5")
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]
    per_day: dict[str, int] = {}
    for name, body in outputs[0].items():
        if not name.endswith(".json"):
            continue
        for entry in orjson.loads(body)["entry"]:
            if entry["resource"]["resourceType"] == "Appointment":
                day = entry["resource"]["start"][:10]
                per_day[day] = per_day.get(day, 0) + 1
    assert per_day and max(per_day.values()) <= 5
