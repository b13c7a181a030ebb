"""Alembic environment: runs on the connection `fhir_sync.store.migrate` hands over, or on
`sqlalchemy.url` when alembic is run by hand."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from fhir_sync.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata
from fhir_sync.store.database import open_engine

config = context.config
target_metadata = SQLModel.metadata


def _render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """Autogenerate plain SQLAlchemy types, so that migrations never depend on sqlmodel's."""
    if kind == "type" and isinstance(item, AutoString):
        return f"sa.String(length={item.length})"
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = open_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as opened:
        _run(opened)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
