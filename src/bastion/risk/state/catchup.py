"""The catch-up: before a worker decides, its memory is brought up to date with every change committed by
any worker, in one database round trip shared by all the requests waiting at that moment.

`prepare(user, destination, at)` waits for a catch-up that *started after the request arrived*: it reads the
commit log after the last entry applied, reloads the rules, lists and model if their counters moved
(`config.py`), and loads the user and the destination if this worker does not hold them (or not far enough
back). So an event or decision acknowledged by any worker is in every worker's state before its next
decision. A worker idle for half the log's retention drops its memory and starts over (entries it never read
may be pruned). If one request's data breaks the shared catch-up, each request catches up alone, so only
that one fails.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from bastion.risk.decide.features import LiveDecision
from bastion.risk.futures import settle
from bastion.risk.state import commit_log
from bastion.risk.state.config import RiskRuntime
from bastion.risk.state.memory import LOAD_BACK, LiveState, load_addresses, load_users
from bastion.risk.store.connections import Connections


@dataclass
class _Need:
    user_id: str
    address: str
    at: datetime
    future: asyncio.Future[None]


class CatchUp:
    """One per hot path; all of it runs on the event loop but the database work (`Connections`)."""

    def __init__(
        self,
        state: LiveState,
        runtime: RiskRuntime,
        db: Connections,
        sessions: sessionmaker[Session],
        stats: dict[str, float],
        pending: dict[str, tuple[str, LiveDecision]],
    ) -> None:
        self.state = state
        self.runtime = runtime
        self.db = db
        self.sessionmaker = sessions
        self.stats = stats
        # This worker's decisions not stored yet (event id -> user, decision): a user or destination loaded
        # now gets them too, since the tables do not have them yet.
        self.pending = pending
        self._needs: list[_Need] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._last_sync = 0.0

    async def prepare(self, user_id: str, address: str, at: datetime) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._needs.append(_Need(user_id, address, at, fut))
        if self._sync_task is None:
            self._sync_task = asyncio.create_task(self._sync_loop())
        await fut

    async def _sync_loop(self) -> None:
        try:
            # One more turn of the event loop before the first round trip, so the requests whose bytes arrive
            # in the next poll join this catch-up instead of each starting a small one of its own: every
            # catch-up is a round trip (a send, a wake-up of the backend, a receive), whatever its size.
            await asyncio.sleep(0)
            while self._needs:
                needs, self._needs = self._needs, []
                try:
                    await self._sync_once(needs)
                except Exception as exc:
                    if len(needs) == 1:
                        settle(needs[0].future, exc)
                        continue
                    # One request's data may be what broke the shared catch-up: catch up for each alone, so
                    # only that one fails and the others still get their answers.
                    for n in needs:
                        try:
                            await self._sync_once([n])
                        except Exception as alone:
                            settle(n.future, alone)
                        else:
                            settle(n.future, None)
                else:
                    for n in needs:
                        settle(n.future, None)
        finally:
            self._sync_task = None

    async def _sync_once(self, needs: list[_Need]) -> None:
        st = self.state
        if time.monotonic() - self._last_sync > commit_log.RETENTION.total_seconds() / 2:
            st.clear()  # idle for long: entries we have not read may be pruned; start over
            st.seq = -1
        users: dict[str, datetime] = {}
        addresses: dict[str, datetime] = {}
        for n in needs:
            miss_user, miss_address = st.missing(n.user_id, n.address, n.at)
            horizon = n.at - LOAD_BACK
            if miss_user:
                users[n.user_id] = min(horizon, users.get(n.user_id, horizon))
            if miss_address:
                addresses[n.address] = min(horizon, addresses.get(n.address, horizon))
        started = time.monotonic()
        if self.runtime.due():
            await asyncio.to_thread(self._refresh_runtime)
        if self.db.dialect == "postgresql" and st.seq >= 0 and not users and not addresses:
            # The common case once warm: only the log, one statement on the driver's connection.
            seq, entries = await self.db.run_driver("reader", _read_log_pg, st.seq)
            loaded_users, loaded_addresses = [], []
        else:
            seq, entries, loaded_users, loaded_addresses = await self.db.run(
                "reader", self._read_on, st.seq, users, addresses
            )
        self.stats["sync_s"] += time.monotonic() - started
        for _seq, user_id, kind, data in entries:
            st.apply(user_id, kind, data)
        st.seq = seq
        pending = [(e, u, d) for e, (u, d) in self.pending.items()]
        for u in loaded_users:
            st.install_user(u, pending)
        for a in loaded_addresses:
            st.install_address(a, pending)
        self._last_sync = started
        self.stats["syncs"] += 1
        self.stats["entries"] += len(entries)
        self.stats["loads"] += len(loaded_users) + len(loaded_addresses)

    def _read_on(
        self, conn: Connection, seq: int, users: dict[str, datetime], addresses: dict[str, datetime]
    ) -> tuple[int, list[Any], list[Any], list[Any]]:
        """The commit log after `seq` (all of it), then the users and destinations to load (their snapshot is at
        least as new as the log read, so nothing falls between)."""
        entries: list[Any] = []
        if seq < 0:
            seq = commit_log.last_seq(conn)
        else:
            while True:
                chunk = commit_log.read_after(conn, seq)
                entries.extend(chunk)
                if not chunk:
                    break
                seq = chunk[-1][0]
                if len(chunk) < commit_log.READ_LIMIT:
                    break
        loaded_users: list[Any] = []
        loaded_addresses: list[Any] = []
        for part in _chunks(users):
            loaded_users += load_users(conn, part)
        for part in _chunks(addresses):
            loaded_addresses += load_addresses(conn, part)
        conn.commit()
        return seq, entries, loaded_users, loaded_addresses

    def _refresh_runtime(self) -> None:
        with self.sessionmaker() as session:
            self.runtime.refresh(session)
            session.commit()  # the refresh may have installed the built-in rule set (first start)


_PG_READ_LOG = (
    "SELECT seq, user_id, kind, data FROM risk_live_log WHERE seq > %(after)s ORDER BY seq LIMIT %(limit)s"
)


_ORJSON_READY: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()


async def _read_log_pg(conn: psycopg.AsyncConnection[Any], seq: int) -> tuple[int, list[Any]]:
    """The commit log after `seq` (all of it), as `_read_on` reads it, on the reader's driver connection
    (autocommit: each statement sees the latest commits); `data` parsed by orjson."""
    if conn not in _ORJSON_READY:
        set_json_loads(orjson.loads, conn)  # once per connection (each call makes new loader classes)
        _ORJSON_READY.add(conn)
    entries: list[Any] = []
    while True:
        cur = await conn.execute(_PG_READ_LOG, {"after": seq, "limit": commit_log.READ_LIMIT})
        chunk = await cur.fetchall()
        entries.extend(chunk)
        if not chunk:
            break
        seq = chunk[-1][0]
        if len(chunk) < commit_log.READ_LIMIT:
            break
    return seq, entries


def _chunks(wanted: dict[str, datetime], size: int = 500) -> list[dict[str, datetime]]:
    items = list(wanted.items())
    return [dict(items[i : i + size]) for i in range(0, len(items), size)]
