"""`fhir-sync users add|list|disable|password` against a real SQLite database, and the
sign-in rules they set up (a disabled user's sessions end; a new password unlocks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.services.staff_accounts import MAX_FAILURES, session_of, sign_in
from fhir_sync.store.database import open_engine

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("FHIR_SYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv("FHIR_SYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def _users(*args: str, password: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["users", *args], input=password)
    return result.exit_code, result.output


def test_add_list_password_disable(data_dir: Path) -> None:
    code, output = _users(
        "add",
        "Anna",
        "--role",
        "pharmacist",
        "--password-stdin",
        password="correct horse battery\n",
    )
    assert code == 0 and "user anna added (pharmacist)" in output
    code, output = _users("add", "anna", "--password-stdin", password="another password\n")
    assert code == 2 and "exists already" in output
    code, output = _users("add", "short", "--password-stdin", password="abc\n")
    assert code == 2 and "at least 10 characters" in output
    code, output = _users("add", "ben", "--role", "cashier", "--password-stdin", password="x" * 12)
    assert code == 2 and "pharmacist or technician" in output

    (database,) = data_dir.glob("*.sqlite3")
    engine = open_engine(f"sqlite:///{database}")
    try:
        for _ in range(MAX_FAILURES):
            assert sign_in(engine, "anna", "wrong password") is None
        code, output = _users("list")
        assert code == 0 and "anna" in output and "locked" in output
        assert sign_in(engine, "anna", "correct horse battery") is None  # locked
        code, _ = _users("password", "anna", "--password-stdin", password="a new passphrase\n")
        assert code == 0
        signed = sign_in(engine, "anna", "a new passphrase")
        assert signed is not None
        assert session_of(engine, signed.token) is not None
        code, _ = _users("disable", "anna")
        assert code == 0
        assert session_of(engine, signed.token) is None, "disabling ends the user's sessions"
        assert sign_in(engine, "anna", "a new passphrase") is None
        code, output = _users("list")
        assert "disabled" in output
        code, output = _users("disable", "nobody")
        assert code == 2 and "no user nobody" in output
    finally:
        engine.dispose()
