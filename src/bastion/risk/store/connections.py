"""The hot path's own database connections, one per job (the catch-up reader, the decision writer), kept for the
process's life.

PostgreSQL: on the event loop through SQLAlchemy's asyncio layer (psycopg async), in autocommit, so a round
trip costs no thread hop and no wait for the GIL behind the requests being served. SQLite: a worker thread,
with its own long-lived connection each. Either way the work is a plain function of a `Connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class Connections:
    """`run("reader" | "writer", fn, *args)`: `fn(conn, *args)` on that job's connection. A connection that
    failed is dropped (the next call opens another); CPU spent in worker threads is counted in `stats`."""

    def __init__(self, engine: Engine, stats: dict[str, float]) -> None:
        self.engine = engine
        self.stats = stats
        self._conns: dict[str, Connection] = {}
        self._aconns: dict[str, AsyncConnection] = {}
        self._aengine: AsyncEngine | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def run(self, which: str, fn: Any, *args: Any) -> Any:
        if self.engine.dialect.name != "postgresql":
            return await asyncio.to_thread(self._in_thread, which, fn, *args)
        aconn = await self._aconn(which)
        try:
            return await aconn.run_sync(fn, *args)
        except Exception:
            await self._drop(which, aconn)
            raise

    async def run_driver(self, which: str, fn: Any, *args: Any) -> Any:
        """PostgreSQL only: `await fn(driver_conn, *args)` with the job's psycopg `AsyncConnection` itself
        (autocommit), for the statements every decision pays for (the group commit, the log read): no
        SQLAlchemy execution layer and no greenlet hop around each round trip."""
        aconn = await self._aconn(which)
        try:
            raw = await aconn.get_raw_connection()
            return await fn(raw.driver_connection, *args)
        except Exception:
            await self._drop(which, aconn)
            raise

    async def _aconn(self, which: str) -> AsyncConnection:
        aconn = self._aconns.get(which)
        if aconn is None or aconn.closed or aconn.invalidated:
            if self._aengine is None:
                self._aengine = create_async_engine(self.engine.url, pool_size=2, max_overflow=2)
            aconn = await self._aengine.connect()
            # No BEGIN/COMMIT round trips: the reader's statements each see the latest commits (the log read,
            # then the loads); the writer's single statement is its own transaction.
            aconn = await aconn.execution_options(isolation_level="AUTOCOMMIT")
            self._aconns[which] = aconn
        return aconn

    async def _drop(self, which: str, aconn: AsyncConnection) -> None:
        """A connection that failed: dropped (the next call opens another)."""
        if self._aconns.get(which) is aconn:
            self._aconns.pop(which, None)
        with contextlib.suppress(Exception):
            await aconn.invalidate()
            await aconn.close()

    def _in_thread(self, which: str, fn: Any, *args: Any) -> Any:
        cpu = time.thread_time()
        conn = self._conns.get(which)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conns[which] = self.engine.connect()
        try:
            return fn(conn, *args)
        except Exception:
            self._conns.pop(which, None)
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()
            raise
        finally:
            self.stats[f"{which}_cpu_s"] += time.thread_time() - cpu

    async def close(self) -> None:
        for aconn in list(self._aconns.values()):
            with contextlib.suppress(Exception):
                await aconn.close()
        self._aconns.clear()
        if self._aengine is not None:
            await self._aengine.dispose()
        for conn in list(self._conns.values()):
            with contextlib.suppress(Exception):
                conn.close()
        self._conns.clear()
