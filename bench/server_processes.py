"""The servers the benchmark drives, each a real process on 127.0.0.1 stopped when its block
ends (SIGTERM, then SIGKILL): `fhir-sync serve`, and the sekmet-fhir peer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg


@contextmanager
def fresh_database(backend: str, folder: Path, admin_url: str) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file in `folder`, or a PostgreSQL database
    created through `admin_url` and dropped when the block ends."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'fhir-sync-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    name = f"fhir_sync_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fhir_sync_serve(
    database_url: str,
    log: Path,
    *,
    workers: int = 1,
    environ: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """The FHIR base URL of a server on `database_url` (already migrated)."""
    port = free_port()
    process = start_fhir_sync(database_url, log, port, workers=workers, environ=environ)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        wait_until_up(base, process, log)
        yield base
    finally:
        _stop(process)


def start_fhir_sync(
    database_url: str,
    log: Path,
    port: int,
    *,
    workers: int = 1,
    environ: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`fhir-sync serve` on 127.0.0.1:`port` (already migrated), its output appended to `log`;
    up once `wait_until_up` returns."""
    env = {
        **os.environ,
        "FHIR_SYNC_DATABASE_URL": database_url,
        "FHIR_SYNC_MIGRATE_ON_START": "0",
        **(environ or {}),
    }
    command = [sys.executable, "-m", "fhir_sync", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not come up; see {log}")


def spawn_sekmet(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`sekmet serve` with the config at `config_path`, run in its folder, its output to
    `log_path` (the benchmark's peers and the integration tests' are started alike)."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sekmet.cli", "serve", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=config_path.parent,
        )


@contextmanager
def sekmet_serve(folder: Path, db_path: Path, **settings: Any) -> Iterator[str]:
    """The FHIR base URL of a sekmet-fhir peer on 127.0.0.1 with its SQLite at `db_path`,
    quiet (no traffic log, no simulator)."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}/fhir"
    config = {
        "host": "127.0.0.1",
        "port": port,
        "base_url": base,
        "db_path": str(db_path),
        "data_dir": str(folder / "data"),
        "own_private_key_path": str(folder / "keys" / "none.pem"),
        "simulator": {"enabled": False},
        "log_inbound": False,
        **settings,
    }
    config_path = folder / "sekmet.yaml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    log = folder / "sekmet.log"
    process = spawn_sekmet(config_path, log)
    try:
        wait_until_up(base, process, log)
        yield base
    finally:
        _stop(process)
