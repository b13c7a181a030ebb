"""Reads on PostgreSQL that leave the event loop free while the database answers.

Reads by id and light searches run on the server's event loop (a thread hop cost more than
the query). With SQLite the query is a local call; with PostgreSQL it is a round trip, and a
blocking driver call kept the loop idle for it: one process served 1,500 reads/s against
3,000 on SQLite. Here those two statements go through psycopg's async connections, so many
requests wait on the database at once. Everything else (writes, includes, exports) keeps the
SQLAlchemy engine; both see the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, Final

from psycopg import AsyncConnection
from sqlalchemy import Dialect, Engine, Select

from fhir_sync.store.resources import READ_SQL, Served, served_from_row
from fhir_sync.store.search import ResourceQuery, page_statement

POOL_SIZE: Final = 10  # connections per server process, besides the engine's own pool


class AsyncReads:
    """A small pool of autocommit async connections to the engine's PostgreSQL database."""

    def __init__(self, engine: Engine, size: int = POOL_SIZE) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._dialect = engine.dialect
        self._size = size
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[AsyncConnection[Any]] = []

    async def fetch_resource(self, resource_type: str, resource_id: str) -> Served | None:
        async with self._connection() as connection:
            cursor = await connection.execute(READ_SQL, (resource_type, resource_id))
            row = await cursor.fetchone()
        return None if row is None else served_from_row(row)

    async def search_page(self, query: ResourceQuery) -> list[tuple[str, bytes]]:
        """What store.search.search_page returns, for the same query."""
        statement, values = page_statement(query)
        sql, defaults = _compiled(statement, self._dialect)
        params = {**defaults, **values}
        async with self._connection() as connection:
            cursor = await connection.execute(sql, params)
            rows = await cursor.fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        async with self._slots:
            if self._idle:
                connection = self._idle.pop()
            else:
                connection = await AsyncConnection.connect(self._conninfo, autocommit=True)
            try:
                yield connection
            except BaseException:
                # whatever went wrong, this connection is not handed out again
                await connection.close()
                raise
            if connection.closed:
                return
            self._idle.append(connection)


@lru_cache(maxsize=512)  # as many as store.search keeps statements: one per query shape
def _compiled(statement: Select[Any, Any], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The statement's SQL for psycopg (`%(name)s` parameters) and the values it carries
    itself (its LIMIT)."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)
