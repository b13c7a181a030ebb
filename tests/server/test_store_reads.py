"""The fast reads: by id (`fetch_resource`, no pre-ping, no transaction) on a connection that
died in the pool (that request fails, the connection is dropped, the next read works), and
PostgreSQL's async reads against the engine's answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from fhir_sync.services.indexing import resource_row
from fhir_sync.store.async_reads import AsyncReads
from fhir_sync.store.database import open_engine, write_transaction
from fhir_sync.store.migrate import upgrade
from fhir_sync.store.resources import fetch_resource, save_resources
from fhir_sync.store.search import ColumnIn, ResourceQuery, search_page
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


def test_async_reads_answer_as_the_engine_does(tmp_path: Path) -> None:
    """Reads by id and search pages through psycopg's async connections (PostgreSQL) give
    what the SQLAlchemy engine gives, for several query shapes; a connection the database
    dropped fails one read and is not used again."""
    with database("postgresql", tmp_path) as url:
        engine = open_engine(url)
        try:
            upgrade(engine)
            rows = [
                resource_row(
                    {"resourceType": "Patient", "id": f"pt-{n}", "active": True},
                    version_id=n,
                    last_updated=STAMP,
                    payer="Org/a" if n % 2 else "Org/b",
                )
                for n in range(1, 8)
            ]
            with write_transaction(engine) as connection:
                save_resources(connection, rows)
            queries = [
                ResourceQuery("Patient"),
                ResourceQuery("Patient", limit=3),
                ResourceQuery("Patient", payer="Org/a", after="pt-1", limit=2),
                ResourceQuery("Patient", filters=(ColumnIn("id", ("pt-2", "pt-5", "x")),)),
                ResourceQuery("Patient", filters=(ColumnIn("id", ("pt-4",)),)),
                ResourceQuery("CarePlan"),
            ]
            with engine.connect() as connection:
                expected = [search_page(connection, query) for query in queries]
            assert expected[2] == [("pt-3", rows[2].body), ("pt-5", rows[4].body)]

            async def scenario() -> None:
                reads = AsyncReads(engine, size=2)
                try:
                    got = await asyncio.gather(*(reads.search_page(q) for q in queries * 2))
                    assert got == expected * 2
                    served = await reads.fetch_resource("Patient", "pt-3")
                    assert served == fetch_resource(engine, "Patient", "pt-3")
                    assert await reads.fetch_resource("Patient", "nobody") is None
                    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                        admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = %s AND pid <> pg_backend_pid()",
                            (engine.url.database,),
                        )
                    failures = 0
                    for _ in range(4):
                        try:
                            assert await reads.fetch_resource("Patient", "pt-3") == served
                        except psycopg.OperationalError:
                            failures += 1
                    assert 1 <= failures <= 2  # each dropped connection fails one read, once
                    assert await reads.fetch_resource("Patient", "pt-3") == served
                finally:
                    await reads.close()

            asyncio.run(scenario())
        finally:
            engine.dispose()
