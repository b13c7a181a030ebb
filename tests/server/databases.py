"""Throwaway databases for the server tests: a SQLite file, and a PostgreSQL database with a
unique name created for the test session and dropped after it.

PostgreSQL is at 127.0.0.1:5432 (override with FHIR_SYNC_TEST_POSTGRES_URL). Without it the
PostgreSQL half of the suite skips on a developer machine and fails when
FHIR_SYNC_REQUIRE_INTEGRATION is set (CI), so it can never pass unseen.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from fhir_sync.store import tables as _tables  # noqa: F401  (registers the models)
from fhir_sync.store.database import is_sqlite, open_engine
from fhir_sync.store.migrate import upgrade

ADMIN_URL = os.environ.get(
    "FHIR_SYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRED = bool(os.environ.get("FHIR_SYNC_REQUIRE_INTEGRATION"))
# Every table the schema has (the models in fhir_sync/store/tables.py), so none is left full.
TABLES = tuple(sorted(SQLModel.metadata.tables))


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}"
        if REQUIRED:
            pytest.fail(f"{message}; FHIR_SYNC_REQUIRE_INTEGRATION is set")
        pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database; its SQLAlchemy URL. Dropped afterwards, connections and all."""
    name = f"fhir_sync_test_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / f'fhir-sync-{uuid.uuid4().hex[:8]}.sqlite3'}"


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        with sqlite_database(folder) as url:
            yield url


def migrated_engine(url: str) -> Engine:
    engine = open_engine(url)
    upgrade(engine)
    return engine


def empty_tables(engine: Engine) -> None:
    """Remove every row, keeping the schema (much faster than migrating again)."""
    with engine.begin() as connection:
        if is_sqlite(engine):
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))
        else:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
