"""`fhir-sync serve` as a new user meets it: it says which database it uses and whether tokens
are enforced, and a client registered while it runs switches tokens on without a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.server.security.keys import ec_key, jwks

from .server_support import fhir_sync_env, serving, start_process, stopping, wait_until

CLIENT = ["--id", "ehr-main", "--role", "ehr"]


def test_serve_says_its_database_and_notices_a_new_client(tmp_path: Path) -> None:
    database = tmp_path / "data" / "server.sqlite3"
    env = fhir_sync_env(f"sqlite:///{database}", FHIR_SYNC_AUTH="auto")
    with serving(tmp_path, env) as server:
        log = server.log_tail()
        assert f"database: sqlite:///{database}" in log
        assert "access tokens: not enforced yet (FHIR_SYNC_AUTH=auto)" in log
        assert httpx.get(f"{server.base_url}/CarePlan", timeout=5).status_code == 200

        keys = tmp_path / "jwks.json"
        keys.write_text(jwks(ec_key("ec-1")))
        added = subprocess.run(
            [sys.executable, "-m", "fhir_sync", "clients", "add", *CLIENT, "--jwks", str(keys)],
            env={**env, "COLUMNS": "200"},
            cwd=tmp_path,  # another folder than the server's: the database is the same
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        assert f"in the database sqlite:///{database}" in added.stdout

        def refused() -> bool:
            return httpx.get(f"{server.base_url}/CarePlan", timeout=5).status_code == 401

        wait_until(refused, timeout=15, what="tokens enforced after the first client", interval=0.5)


LOG_LIMIT = 1_000_000


def test_worker_says_its_database_and_whether_tokens_are_enforced(tmp_path: Path) -> None:
    database = tmp_path / "worker.sqlite3"
    env = fhir_sync_env(f"sqlite:///{database}", FHIR_SYNC_AUTH="1")
    worker = start_process(tmp_path, "worker", ["worker"], env)
    with stopping(worker):
        # The whole log: the migrations' lines (alembic writes them through a buffered stream)
        # may land after the start-up lines and push them out of a short tail.
        # "access tokens:" is the start-up line; migration 0005's message says "access tokens"
        # too, and on a loaded machine it comes well before.
        wait_until(
            lambda: "access tokens: " in worker.log_tail(LOG_LIMIT),
            timeout=30,
            what="worker start",
        )
        log = worker.log_tail(LOG_LIMIT)
    assert f"database: sqlite:///{database}" in log
    assert "access tokens: enforced (FHIR_SYNC_AUTH=1)" in log
    assert database.is_file()  # the worker, like serve, creates and migrates its database
