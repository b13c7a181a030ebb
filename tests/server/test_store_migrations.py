"""The migrations build exactly the schema the models describe, from empty, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from fhir_sync.store.database import open_engine
from fhir_sync.store.migrate import current_revision, head_revision, schema_differences, upgrade
from tests.server.conftest import BACKENDS
from tests.server.databases import TABLES, database


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_from_empty_matches_the_models(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        engine = open_engine(url)
        try:
            assert current_revision(engine) is None
            upgrade(engine)
            upgrade(engine)  # a second run (a restart) changes nothing
            assert current_revision(engine) == head_revision()
            assert set(TABLES) <= set(inspect(engine).get_table_names())
            with engine.connect() as connection:
                assert schema_differences(connection) == []
        finally:
            engine.dispose()


def test_a_missing_migration_is_detected(tmp_path: Path) -> None:
    """The check can fail: a database migrated one table short differs from the models."""
    with database("sqlite", tmp_path) as url:
        engine = open_engine(url)
        upgrade(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE pull_cursor")
        with engine.connect() as connection:
            differences = schema_differences(connection)
        engine.dispose()
    assert any("pull_cursor" in str(difference) for difference in differences)
