"""The group-commit writer: every decision the hot path makes is stored here, many in one transaction, and
none is answered before its commit.

Decisions queue (`put`) while the previous commit runs; the writer then stores everything queued, up to
`MAX_BATCH`, as one transaction: decisions, rule hits and commit-log entries. On PostgreSQL the whole batch is
ONE statement (`_PG_BATCH`: the rows as JSON record sets, `ON CONFLICT (event_id) DO NOTHING`) on an
autocommit connection driven from the event loop, one round trip per batch; on SQLite, a worker thread and
one transaction of prepared multi-row INSERTs. An event id already taken (by another worker, or earlier in the
batch) is left out and answered None, so the request answers as the retry it is. A batch that fails is
stored again one decision at a time, so only a decision that cannot be stored fails.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import Connection, String, Table, bindparam, func, select

from bastion.risk.clock import now_utc
from bastion.risk.decide.decision import live_entry
from bastion.risk.futures import settle
from bastion.risk.models import RiskDecision, RiskRuleHit
from bastion.risk.state import commit_log
from bastion.risk.store.connections import Connections

# Most decisions in one group commit (more wait for the next).
MAX_BATCH = 256
# How often the writer prunes the commit log.
PRUNE_EVERY_S = 60.0


@dataclass
class _Write:
    values: dict[str, Any]
    hits: list[dict[str, Any]]
    future: asyncio.Future[int | None]


class GroupWriter:
    """One per hot path. `put` from the event loop; the future gets the decision's id once it is committed
    (None: the event id was taken meanwhile), or the exception that kept it from being stored."""

    def __init__(self, db: Connections, stats: dict[str, float], async_commit: bool = False) -> None:
        self.db = db
        self.stats = stats
        # BASTION_RISK_ASYNC_COMMIT (PostgreSQL): the commit does not wait for the WAL flush.
        self.async_commit = async_commit
        self._writes: list[_Write] = []
        self._write_task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        # The driver connection already told not to wait for the WAL flush (BASTION_RISK_ASYNC_COMMIT).
        self._async_commit_on: object | None = None

    def put(self, values: dict[str, Any], hits: list[dict[str, Any]], future: asyncio.Future[int | None]) -> None:
        self._writes.append(_Write(values, hits, future))
        if self._write_task is None:
            self._write_task = asyncio.create_task(self._write_loop())

    async def flush(self) -> None:
        """Store everything queued (shutdown: the hot path takes no more decisions)."""
        for _ in range(100):
            task = self._write_task
            if task is None and not self._writes:
                break
            if task is not None:
                await asyncio.wait([task], timeout=5)
            elif self._writes:
                self._write_task = asyncio.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        try:
            while self._writes:
                batch = self._writes[:MAX_BATCH]
                del self._writes[:MAX_BATCH]
                started = time.monotonic()
                try:
                    ids = await self._commit(batch)
                except Exception as exc:
                    if len(batch) == 1:
                        settle(batch[0].future, exc)
                        continue
                    # The group commit is all or nothing, so one poisoned decision failed every one in it: store
                    # each alone, so only the one that cannot be stored fails (nothing of the batch was kept).
                    for w in batch:
                        try:
                            alone = await self._commit([w])
                        except Exception as failed:
                            settle(w.future, failed)
                        else:
                            self.stats["decisions"] += 1
                            settle(w.future, alone.get(w.values["event_id"]))
                else:
                    self.stats["commits"] += 1
                    self.stats["commit_s"] += time.monotonic() - started
                    self.stats["decisions"] += len(batch)
                    for w in batch:
                        settle(w.future, ids.get(w.values["event_id"]))
        finally:
            self._write_task = None

    async def _commit(self, batch: list[_Write]) -> dict[str, int]:
        rows = [(w.values, w.hits) for w in batch]
        ids: dict[str, int]
        if self.db.dialect == "postgresql":
            ids = await self.db.run_driver("writer", self._commit_pg, rows)
        else:
            ids = await self.db.run("writer", self._commit_on, rows)
        return ids

    def _commit_on(self, conn: Connection, rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[str, int]:
        """One transaction for the batch; returns event id -> decision id for the rows stored (an event id
        already taken, by an earlier decision or earlier in this batch, is left out).

        Every decision insert holds the commit-log lock (here and in the tests' oracle), so the look-up of taken
        event ids is exact, and the ids can be drawn up front: the rows then go as one prepared INSERT sent
        for many rows (psycopg pipelines it) instead of a multi-row statement parsed anew for each size."""
        sql = _statements(conn.dialect.name)
        now = now_utc()
        try:
            with conn.begin():
                if self.async_commit and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                commit_log.lock(conn)
                wanted = [v["event_id"] for v, _ in rows]
                taken = {r[0] for r in conn.execute(sql.taken(wanted), sql.taken_params(wanted))}
                fresh: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
                for v, hs in rows:
                    if v["event_id"] not in taken:
                        taken.add(v["event_id"])
                        fresh.append((v, hs))
                ids: dict[str, int] = {}
                if fresh:
                    new_ids = sql.next_ids(conn, len(fresh))
                    for (v, _), i in zip(fresh, new_ids, strict=True):
                        v["id"] = ids[v["event_id"]] = i
                    conn.execute(sql.decisions, [v for v, _ in fresh])
                    hits = [{"decision_id": v["id"], **h} for v, hs in fresh for h in hs]
                    if hits:
                        conn.execute(sql.hits, hits)
                    commit_log.insert_rows(conn, [live_entry(v) for v, _ in fresh], now)
                if now.timestamp() - self._last_prune > PRUNE_EVERY_S:
                    self._last_prune = now.timestamp()
                    commit_log.prune(conn, now)
        finally:
            for v, _ in rows:
                v.pop("id", None)
        return ids

    async def _commit_pg(
        self, conn: psycopg.AsyncConnection[Any], rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    ) -> dict[str, int]:
        """PostgreSQL: the whole batch in ONE statement on an autocommit connection, so one round trip is the
        whole group commit (durable when it returns, unless BASTION_RISK_ASYNC_COMMIT). The rows travel as
        JSON; the live-log lock is taken (an InitPlan, before the first row reaches the INSERT) and held to the
        statement's commit; an event id already taken is skipped (ON CONFLICT DO NOTHING) and left out of
        the ids returned. Sent on the driver's connection (`Connections.run_driver`)."""
        seen: set[str] = set()
        decisions: list[dict[str, Any]] = []
        hits: list[dict[str, Any]] = []
        log: list[dict[str, Any]] = []
        for v, hs in rows:
            e = v["event_id"]
            if e in seen:  # the same event id twice in one batch: the first is stored, the other a retry
                continue
            seen.add(e)
            decisions.append(v)
            hits.extend({"event_id": e, **h} for h in hs)
            log.append({"event_id": e, "data": live_entry(v)["data"]})
        params = {
            "rows": orjson.dumps(decisions, default=str).decode(),
            "hits": orjson.dumps(hits, default=str).decode(),
            "log": orjson.dumps(log).decode(),
        }
        if self.async_commit and self._async_commit_on is not conn:
            await conn.execute("SET synchronous_commit TO OFF")  # this connection only writes decisions
            self._async_commit_on = conn
        cur = await conn.execute(_PG_BATCH, params)
        ids = {str(e): int(i) for e, i in await cur.fetchall()}
        now = now_utc()
        if now.timestamp() - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = now.timestamp()
            await conn.execute(_PG_PRUNE, {"before": now - commit_log.RETENTION})
        return ids


_DECISION_COLUMNS = (
    "event_id, payload_hash, user_id, requested_at, asset, amount, amount_usd, address, decision, score, "
    "rules_score, model_score, ruleset_version, model_version, inputs, features, rule_results, model_detail, "
    "review_status"
)
_PG_BATCH = f"""
WITH ins AS (
    INSERT INTO risk_decisions ({_DECISION_COLUMNS})
    SELECT {_DECISION_COLUMNS}
    FROM json_populate_recordset(NULL::risk_decisions, CAST(%(rows)s AS json))
    WHERE (SELECT pg_advisory_xact_lock({commit_log.ADVISORY_LOCK_KEY})::text) IS NOT NULL
    ON CONFLICT (event_id) DO NOTHING
    RETURNING id, event_id, user_id, requested_at
), hits AS (
    INSERT INTO risk_rule_hits (decision_id, rule_id, requested_at, contribution, snoozed)
    SELECT ins.id, h.rule_id, ins.requested_at, h.contribution, h.snoozed
    FROM json_to_recordset(CAST(%(hits)s AS json)) AS h(event_id text, rule_id text, contribution float8, snoozed bool)
    JOIN ins ON ins.event_id = h.event_id
), log AS (
    INSERT INTO risk_live_log (user_id, kind, data, created_at)
    SELECT ins.user_id, 'decision', l.data, now()
    FROM json_to_recordset(CAST(%(log)s AS json)) AS l(event_id text, data json)
    JOIN ins ON ins.event_id = l.event_id
)
SELECT event_id, id FROM ins
"""
_PG_PRUNE = "DELETE FROM risk_live_log WHERE created_at < %(before)s"


class _Statements:
    def __init__(self, dialect: str) -> None:
        d = cast(Table, RiskDecision.__table__)
        self.dialect = dialect
        self.decision_table = d
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            self._taken: Any = select(d.c.event_id).where(
                d.c.event_id == func.any(bindparam("ids", type_=ARRAY(String())))
            )
        self.decisions = d.insert()
        self.hits = cast(Table, RiskRuleHit.__table__).insert()

    def taken(self, event_ids: list[str]) -> Any:
        if self.dialect == "postgresql":
            return self._taken
        d = self.decision_table
        return select(d.c.event_id).where(d.c.event_id.in_(event_ids))

    def taken_params(self, event_ids: list[str]) -> dict[str, Any]:
        return {"ids": event_ids} if self.dialect == "postgresql" else {}

    def next_ids(self, conn: Connection, n: int) -> list[int]:
        """Ids for n new decisions: from the table's sequence (PostgreSQL), or after the largest (SQLite, whose
        single writer we are inside this transaction)."""
        if self.dialect == "postgresql":
            q = "SELECT nextval(pg_get_serial_sequence('risk_decisions', 'id')) FROM generate_series(1, %(n)s)"
            return [int(r[0]) for r in conn.exec_driver_sql(q, {"n": n})]
        top = int(conn.execute(select(func.coalesce(func.max(self.decision_table.c.id), 0))).scalar() or 0)
        return list(range(top + 1, top + 1 + n))


_STATEMENTS: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    s = _STATEMENTS.get(dialect)
    if s is None:
        s = _STATEMENTS[dialect] = _Statements(dialect)
    return s
