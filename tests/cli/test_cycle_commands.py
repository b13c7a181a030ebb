"""`fhir-sync cycle run` and `fhir-sync worklist` on a migrated SQLite database: the day's
items printed in each format, a re-run creating nothing, a bad setting refused (exit 2).

Expected days from docs/cycle.md (defaults lead 7, prep 3): anchor 2027-01-29, call on
01-22, preparation on 01-26; with --prep-days 2 the preparation is on 01-27.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.store.database import open_engine
from fhir_sync.store.enrollments import ENROLLMENT
from fhir_sync.store.migrate import upgrade

runner = CliRunner()
NOW = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cycle.sqlite3'}"
    engine = open_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        for patient in ("pa", "pb"):
            connection.execute(
                insert(ENROLLMENT).values(
                    patient_id=patient,
                    status="active",
                    cycle_days=30,
                    anchor_date=date(2027, 1, 29),
                    closed_weekdays="",
                    lead_days=7,
                    enrolled_at=NOW,
                    updated_at=NOW,
                    version=1,
                )
            )
    engine.dispose()
    monkeypatch.setenv("FHIR_SYNC_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return url


def test_cycle_run_and_worklist(db: str) -> None:
    first = runner.invoke(app, ["cycle", "run", "--date", "2027-01-20"])
    assert first.exit_code == 0, first.output
    result = runner.invoke(app, ["cycle", "run", "--date", "2027-01-26"])
    assert result.exit_code == 0, result.output
    assert "4 new items" in result.output and "5 missed days caught up" in result.output
    again = runner.invoke(app, ["cycle", "run", "--date", "2027-01-26"])
    assert "0 new items" in again.output
    table = runner.invoke(app, ["worklist", "--date", "2027-01-22"])
    assert table.exit_code == 0 and "calls (2)" in table.output
    lines = runner.invoke(
        app, ["worklist", "--date", "2027-01-26", "--format", "ndjson"]
    ).output.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [(r["patient"], r["kind"], r["state"]) for r in rows] == [
        ("pa", "prepare", "requested"),
        ("pb", "prepare", "requested"),
    ]
    csv_out = runner.invoke(app, ["worklist", "--date", "2027-01-22", "--format", "csv"]).output
    assert csv_out.splitlines()[0].startswith("group,kind,patient")
    assert len(csv_out.splitlines()) == 3


def test_prep_days_flag_and_a_bad_value(db: str) -> None:
    result = runner.invoke(app, ["cycle", "run", "--date", "2027-01-27", "--prep-days", "2"])
    assert result.exit_code == 0, result.output
    rows = runner.invoke(app, ["worklist", "--date", "2027-01-27", "--kind", "preparations"])
    assert "preparations (2)" in rows.output
    bad = runner.invoke(app, ["cycle", "run", "--call-retries", "99"])
    assert bad.exit_code == 2 and "--call-retries" in bad.output
