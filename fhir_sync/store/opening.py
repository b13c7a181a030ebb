"""Opening the configured database for a command, with one clear sentence when it cannot be
used (malformed URL, unsupported database, unreachable, missing) instead of a driver traceback.

Commands that only read never create a database: a missing SQLite file or a database that was
never migrated is an error for them, so a mistyped setting or another working folder cannot
silently answer from a new empty database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from fhir_sync.store.database import open_engine
from fhir_sync.store.location import DATA_DIR_ENV

SUPPORTED_DRIVERS: Final = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})
CREATE_HINT: Final = "run `fhir-sync db upgrade` to create it"


class DatabaseProblemError(Exception):
    """Why the database cannot be used, in one line that names no credentials."""


def describe_database(url: str) -> str:
    """The URL without user name or password (for logs and messages)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(malformed URL)"
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{parsed.database or ':memory:'}"
    bare = parsed._replace(drivername=parsed.get_backend_name(), username=None, password=None)
    return bare.render_as_string(hide_password=True)


def open_database(url: str, *, create: bool, require_schema: bool = False) -> Engine:
    """A connected Engine on `url`. `create`: a missing SQLite file (and its folder) may be
    made, as `serve`, `worker` and `db upgrade` do; else it is a DatabaseProblemError.
    `require_schema`: a database that was never migrated is a DatabaseProblemError too."""
    parsed = _parse(url)
    shown = describe_database(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed, create=create)
    engine = open_engine(url)
    try:
        with engine.connect():
            pass
        if require_schema:
            from fhir_sync.store.migrate import current_revision

            if current_revision(engine) is None:
                raise DatabaseProblemError(f"{shown} has no fhir-sync schema yet: {CREATE_HINT}")
    except DBAPIError as exc:
        engine.dispose()
        reason = _first_line(exc)
        raise DatabaseProblemError(f"cannot reach the database {shown}: {reason}") from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseProblemError(f"cannot use the database {shown}: {_first_line(exc)}") from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseProblemError(
            "malformed database URL (FHIR_SYNC_DATABASE_URL): expected "
            "postgresql://user@host:5432/name or sqlite:///path/file.sqlite3"
        ) from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise DatabaseProblemError(
            f"unsupported database {parsed.drivername!r} (FHIR_SYNC_DATABASE_URL): use "
            "postgresql:// (PostgreSQL) or sqlite:/// (an embedded file)"
        )
    return parsed


def _check_sqlite_file(parsed: URL, *, create: bool) -> None:
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.is_file():
        return
    if path.exists():
        raise DatabaseProblemError(f"the database path {path} is not a file")
    if not create:
        raise DatabaseProblemError(
            f"no database at {path}: {CREATE_HINT}, or point FHIR_SYNC_DATABASE_URL "
            f"(or {DATA_DIR_ENV}) at the server's database"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseProblemError(
            f"cannot create the folder {path.parent}: {exc.strerror or exc}"
        ) from None


def _first_line(exc: SQLAlchemyError) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
