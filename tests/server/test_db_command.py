"""`fhir-sync db upgrade|current|check` on the database FHIR_SYNC_DATABASE_URL names."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.store.migrate import head_revision


def test_upgrade_then_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.sqlite3"
    monkeypatch.setenv("FHIR_SYNC_DATABASE_URL", f"sqlite:///{path}")
    runner = CliRunner()
    missing = runner.invoke(app, ["db", "current"])
    assert missing.exit_code == 2 and "no database at" in missing.output
    assert not path.exists()  # reading never creates a database
    sqlite3.connect(path).close()  # an empty database: no schema yet
    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 0 and "current none" in before.output
    assert runner.invoke(app, ["db", "check"]).exit_code == 1  # empty: tables missing
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"revision {head_revision()}" in upgraded.output
    assert str(path) in upgraded.output
    checked = runner.invoke(app, ["db", "check"])
    assert checked.exit_code == 0 and "matches" in checked.output
