"""The fast read by id (`fetch_resource`, no pre-ping, no transaction) on a connection that
died in the pool: that request fails, the connection is dropped, the next read works."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from fhir_sync.server.indexing import resource_row
from fhir_sync.store.database import open_engine, write_transaction
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.resources import fetch_resource, save_resources
from tests.server.databases import ADMIN_URL, database

STAMP = datetime(2026, 11, 22, 9, 30, 0, 123456, tzinfo=UTC)


def test_a_read_after_the_database_dropped_the_connection(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        engine = open_engine(url, pool_size=1, max_overflow=0)
        try:
            upgrade(engine)
            patient = {"resourceType": "Patient", "id": "pt-1", "active": True}
            with write_transaction(engine) as connection:
                save_resources(
                    connection,
                    [resource_row(patient, version_id=3, last_updated=STAMP, payer="Org/a")],
                )
            served = fetch_resource(engine, "Patient", "pt-1")
            assert served is not None
            assert (served.version_id, served.last_updated, served.payer) == (3, STAMP, "Org/a")
            raw = engine.raw_connection()
            pid = raw.driver_connection.info.backend_pid  # type: ignore[union-attr]
            raw.close()
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(psycopg.OperationalError):
                fetch_resource(engine, "Patient", "pt-1")
            again = fetch_resource(engine, "Patient", "pt-1")
            assert again == served
            assert fetch_resource(engine, "Patient", "nobody") is None
        finally:
            engine.dispose()
