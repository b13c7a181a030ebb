"""`fhir-sync plan` and `fhir-sync generate` with the files a new user really has: an output
folder holding earlier plans, a `.gz` that is not gzip, a folder without FHIR files, an output
path that is a file, the same folder given twice."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app
from tests.conftest import FIXTURES

TODAY = "2026-11-22"
DEMO = FIXTURES / "demo"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _row(output: str, label: str) -> str:
    """The value of a summary table row."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 2 and cells[0] == label:
            return cells[1]
    raise AssertionError(f"no row {label!r} in:\n{output}")


def _patients(source: Path) -> list[str]:
    lines = (source / "Patient.ndjson").read_bytes().splitlines()
    return [orjson.loads(line)["id"] for line in lines if line.strip()]


def _one_patient(folder: Path, patient_id: str) -> Path:
    """The demo input reduced to one patient's resources."""
    folder.mkdir()
    for name in ("Patient", "MedicationRequest", "MedicationDispense"):
        lines = (DEMO / f"{name}.ndjson").read_bytes().splitlines()
        kept = [line for line in lines if f'{patient_id}"'.encode() in line]
        (folder / f"{name}.ndjson").write_bytes(b"\n".join(kept) + b"\n")
    return folder


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_earlier_plans_for_patients_not_planned_now_are_removed(tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "plans"
    code, output = _run("plan", str(DEMO), "--out", str(out), "--today", TODAY)
    assert code == 0, output
    everyone = _patients(DEMO)
    notes = out / "notes.json"
    notes.write_text('{"mine": true}')  # not a plan: never touched
    one = _one_patient(tmp_path / "one", everyone[0])
    code, output = _run("plan", str(one), "--out", str(out), "--today", TODAY, "--jobs", jobs)
    assert code == 0, output
    # 20 patients planned before, 1 now: the other 19 plans would re-send outdated plans.
    assert sorted(p.name for p in out.glob("*.json")) == ["notes.json", f"{everyone[0]}.json"]
    assert _row(output, "earlier plans removed (patients not in this input)") == str(
        len(everyone) - 1
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_gz_file_that_is_not_gzip_is_one_rejected_input(tmp_path: Path, jobs: str) -> None:
    source = tmp_path / "in"
    shutil.copytree(DEMO, source)
    (source / "Extra.ndjson.gz").write_bytes(b'{"resourceType": "Patient"}\n')  # not gzipped
    out = tmp_path / "out"
    code, output = _run("plan", str(source), "--out", str(out), "--today", TODAY, "--jobs", jobs)
    assert code == 1, output
    assert "1 input(s) rejected" in output
    (outcome,) = [orjson.loads(line) for line in (out / "errors.ndjson").read_bytes().splitlines()]
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert str(source / "Extra.ndjson.gz") in diagnostics and "not gzip" in diagnostics
    assert len(list(out.glob("*.json"))) == len(_patients(DEMO))  # the rest is planned


def test_a_folder_without_fhir_files_counts_them_and_exits_1(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "readme.txt").write_text("hello")
    (source / "export.csv").write_text("a,b")
    code, output = _run("plan", str(source), "--out", str(tmp_path / "out"), "--today", TODAY)
    assert code == 1, output
    assert _row(output, "files skipped (not FHIR: .json, .ndjson, .jsonl)") == "2"
    assert "no FHIR resource was read" in output


def test_plan_out_that_is_a_file_names_the_output_path(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, output = _run("plan", str(DEMO), "--out", str(afile), "--today", TODAY)
    assert code == 2
    assert f"--out {afile}: exists and is not a folder" in output
    assert "cannot read input" not in output and "Traceback" not in output


def test_summary_words_units_and_duplicates_of_a_folder_given_twice(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _run("plan", str(DEMO), str(DEMO), "--out", str(out), "--today", TODAY)
    assert code == 0, output
    lines = sum(len(p.read_bytes().splitlines()) for p in DEMO.glob("*.ndjson"))
    # Every resource is read twice; each second copy is a duplicate, Patients and dispenses
    # that were never handed over included.
    assert _row(output, "resources read") == str(2 * lines)
    assert _row(output, "duplicate copies skipped") == str(lines)
    (busiest,) = [line for line in output.splitlines() if "busiest:" in line]
    assert re.search(r"│ +\d+ patients? │", busiest), busiest  # the count has its unit
    assert "As needed (PRN)" in output and "as-needed" not in output


def test_generate_prints_a_table_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    code, output = _run("generate", "--out", str(out), "--patients", "3", "--today", TODAY)
    assert code == 0, output
    assert "DatasetStats(" not in output and "patients" in output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, output = _run("generate", "--out", str(out), "--patients", "4", "--seed", "9")
    assert code == 2 and "--overwrite" in output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing changed
    code, output = _run(
        "generate", "--out", str(out), "--patients", "4", "--seed", "9", "--overwrite"
    )
    assert code == 0, output


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_generate_into_a_bad_path_is_one_line_and_exit_2(tmp_path: Path, kind: str) -> None:
    if kind == "file":
        target = tmp_path / "afile"
        target.write_text("x")
    else:
        target = Path("/proc/fhir-sync-cannot-write-here")
    code, output = _run("generate", "--out", str(target), "--patients", "2")
    assert code == 2, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1
    assert str(target) in output


def test_plans_read_as_input_from_the_output_folder_are_never_removed(tmp_path: Path) -> None:
    out = tmp_path / "plans"
    code, output = _run("plan", str(DEMO), "--out", str(out), "--today", TODAY)
    assert code == 0, output
    before = sorted(p.name for p in out.glob("*.json"))
    code, output = _run("plan", str(out), "--out", str(out), "--today", TODAY)
    assert code == 0, output  # read, though nothing in them is planned (CarePlans, Tasks)
    assert sorted(p.name for p in out.glob("*.json")) == before
