"""Connecting to the database: an embedded SQLite file by default, PostgreSQL for production.

SQLite allows one writer at a time. A transaction that reads and then writes under SQLite's
default deferred BEGIN can fail with "database is locked" at the upgrade, without waiting, when
another connection wrote in between; so every writing transaction starts with BEGIN IMMEDIATE
(`write_transaction`) and waits its turn, while reads stay deferred and run alongside.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

_BEGIN_OPTION: Final = "fhir_sync_begin"


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def open_engine(url: str, **options: Any) -> Engine:
    """An Engine with the settings the server relies on for either database."""
    parsed = make_url(url)
    # A database error's message would otherwise carry the statement's parameters: patient
    # ids, identifiers, whole resources; messages end up in logs (see services/log_privacy.py).
    options.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **options
        )
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout, as much as the query of a read by
    # id. A connection that turns out broken (the database restarted) fails its request, and
    # SQLAlchemy then invalidates the whole pool, so the next requests reconnect; connections
    # are also renewed every half hour.
    options.setdefault("pool_recycle", 1800)
    return create_engine(url, **options)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, emit BEGIN, so that it can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it safe
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        # Straight to sqlite3: every read begins a transaction, and SQLAlchemy's statement
        # machinery would cost more than the BEGIN itself.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute(f"BEGIN {mode}")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any exception."""
    with engine.connect() as connection:
        if is_sqlite(engine):
            connection = connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work: one consistent snapshot, never holding the write lock."""
    with engine.connect() as connection, connection.begin():
        yield connection


@contextmanager
def single_statement(engine: Engine) -> Iterator[Connection]:
    """For a read that is one SQL statement, which is its own snapshot: on PostgreSQL no
    transaction around it, one round trip instead of BEGIN, the statement and COMMIT. (SQLite
    keeps its transaction: BEGIN is a local call there, and SQLAlchemy's AUTOCOMMIT would
    leave the connection in the sqlite3 module's own transaction handling afterwards.)"""
    if is_sqlite(engine):
        with read_transaction(engine) as connection:
            yield connection
        return
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def snapshot_transaction(engine: Engine) -> Iterator[Connection]:
    """A long read (an export paging through a population) whose every statement sees the same
    snapshot. PostgreSQL's default READ COMMITTED takes a new snapshot per statement, so this
    asks for REPEATABLE READ; a SQLite WAL reader already keeps one snapshot per transaction."""
    with engine.connect() as connection:
        if not is_sqlite(engine):
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection
