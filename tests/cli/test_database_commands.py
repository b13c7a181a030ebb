"""Which database the server commands use, and what they say when it cannot be used: one
default location whatever the working folder, nothing created by a command that only reads,
one line and exit 2 for a bad URL (no traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app
from tests.server.security.keys import ec_key, jwks

runner = CliRunner()
READ_ONLY = [
    ["outbox", "status"],
    ["outbox", "dead"],
    ["outbox", "retry", "1"],
    ["clients", "list"],
    ["clients", "remove", "ehr-main"],
    ["db", "current"],
    ["db", "check"],
]
ALL_COMMANDS = [*READ_ONLY, ["db", "upgrade"], ["serve"], ["worker"]]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user without any configuration: the default data directory is under this HOME."""
    for name in ("FHIR_SYNC_DATABASE_URL", "FHIR_SYNC_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def _run(args: list[str], cwd: Path, **env: str) -> tuple[int, str]:
    cwd.mkdir(parents=True, exist_ok=True)
    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(app, args, env=env or None)
    finally:
        os.chdir(before)
    return result.exit_code, result.output


def test_every_command_uses_one_database_whatever_the_folder(home: Path, tmp_path: Path) -> None:
    default = home / ".local" / "share" / "fhir-sync" / "fhir-sync.sqlite3"
    code, output = _run(["db", "upgrade"], tmp_path / "a")
    assert code == 0, output
    assert default.is_file() and f"database sqlite:///{default}" in output
    assert not list((tmp_path / "a").iterdir())  # nothing in the working folder
    code, output = _run(["outbox", "status"], tmp_path / "b")  # another folder: same database
    assert code == 0, output
    assert "pending" in output


def test_the_data_directory_setting_moves_the_database(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "var" / "fhir-sync"
    code, output = _run(["db", "upgrade"], tmp_path, FHIR_SYNC_DATA_DIR=str(data))
    assert code == 0, output
    assert (data / "fhir-sync.sqlite3").is_file()
    assert not (home / ".local").exists()


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_reading_commands_never_create_a_database(
    home: Path, tmp_path: Path, args: list[str]
) -> None:
    code, output = _run(args, tmp_path)
    assert code == 2, output
    assert "no database at" in output and "fhir-sync db upgrade" in output
    assert "Traceback" not in output
    assert not home.exists()
    missing = tmp_path / "nonexistent" / "dir" / "x.sqlite3"
    code, output = _run(args, tmp_path, FHIR_SYNC_DATABASE_URL=f"sqlite:///{missing}")
    assert code == 2 and f"no database at {missing}" in output
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://postgres:s3cret@127.0.0.1:1/x", "cannot reach the database"),
        ("garbage", "malformed database URL"),
        ("mysql://x@y/z", "unsupported database 'mysql'"),
    ],
)
@pytest.mark.parametrize("args", ALL_COMMANDS, ids=" ".join)
def test_an_unusable_database_url_is_one_line_and_exit_2(
    home: Path, tmp_path: Path, args: list[str], url: str, problem: str
) -> None:
    code, output = _run(args, tmp_path, FHIR_SYNC_DATABASE_URL=url)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and problem in lines[0], output
    assert "s3cret" not in output and "postgres@" not in output  # no credentials


def test_clients_add_names_the_database_it_wrote_to(home: Path, tmp_path: Path) -> None:
    keys = tmp_path / "jwks.json"
    keys.write_text(jwks(ec_key("ec-1")))
    database = tmp_path / "server.sqlite3"
    code, output = _run(
        ["clients", "add", "--id", "ehr-main", "--role", "ehr", "--jwks", str(keys)],
        tmp_path,
        FHIR_SYNC_DATABASE_URL=f"sqlite:///{database}",
    )
    assert code == 0, output
    assert f"in the database sqlite:///{database}" in output
