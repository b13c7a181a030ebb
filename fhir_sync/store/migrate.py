"""Schema migrations, run by `fhir-sync db upgrade` and when the server starts.

Several server processes may start at once against one PostgreSQL; an advisory lock makes the
second wait for the first instead of both creating the same tables.
"""

from __future__ import annotations

from typing import Final

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlmodel import SQLModel

from fhir_sync.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata
from fhir_sync.store.database import is_sqlite, write_transaction

SCRIPT_LOCATION: Final = "fhir_sync.store:migrations"
_LOCK_KEY: Final = 0x66687273796E63  # "fhrsync": any constant no other application uses


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest), creating it on an empty database."""
    with write_transaction(engine) as connection:
        if not is_sqlite(connection):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_differences(connection: Connection) -> list[object]:
    """What the migrated schema lacks or has beyond the models (empty when they agree)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))
