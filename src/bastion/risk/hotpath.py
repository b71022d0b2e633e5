"""The service's withdrawal decisions: state in memory, one shared catch-up read and one group commit for
all the requests in flight, the answer only once the decision is stored.

Per request, on the worker's event loop:
1. `prepare`: wait for a catch-up that *started after the request arrived*: it reads the live log (every
   change committed by any worker since the last one), reloads the rules/lists/model if they changed, and
   loads the user and the destination if this worker does not hold them yet. One database round trip
   serves every request waiting at that moment.
2. features from memory (`LiveState.features`), the rules and the learned score (`decide.decision.decide`); the
   decision enters this worker's state at once, so the user's next request sees it even before it is stored.
3. `store`: the decision joins the next group commit (one transaction: decisions, rule hits and live-log
   entries as multi-row INSERTs, then COMMIT). The writer takes whatever is queued while the previous
   commit runs, so the wait is at most about one commit; nothing is answered before its commit.
A retry (an event id already decided) is answered from the database, as before: same body, the original
answer; another body, a 409.

A decision a step-up rule touched (`step_up`, rare) reads the user's enrolled factors from the database before
it is stored (`step_up_methods`, wired by the service); no other decision does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Connection, Engine, String, Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from bastion.risk.clock import now_utc
from bastion.risk.decide import decision as risk_decision
from bastion.risk.decide.features import LiveDecision
from bastion.risk.models import RiskDecision, RiskRuleHit
from bastion.risk.schemas import WithdrawalRequest, normalize_address
from bastion.risk.state import commit_log
from bastion.risk.state.config import RiskRuntime
from bastion.risk.state.memory import LOAD_BACK, LiveState, load_addresses, load_users

# Most decisions in one group commit (more wait for the next).
MAX_BATCH = 256
# How often the writer prunes the live log.
PRUNE_EVERY_S = 60.0


class HoldCheck(Protocol):
    """Another domain's reason to hold a withdrawal (the Travel Rule's `TravelRuleGate`). `screen` runs on the
    event loop from memory and answers whether the withdrawal needs a look at all, so a withdrawal no check
    touches costs no extra database round trip; `check` runs in a worker thread and answers the hold
    (`{"reason": ..., "missing": [...]}`) or None."""

    def screen(self, req: WithdrawalRequest, at: datetime) -> bool: ...

    def check(self, req: WithdrawalRequest, at: datetime) -> dict[str, Any] | None: ...


@dataclass
class _Need:
    user_id: str
    address: str
    at: datetime
    future: asyncio.Future[None]


@dataclass
class _Write:
    values: dict[str, Any]
    hits: list[dict[str, Any]]
    future: asyncio.Future[int | None]


@dataclass
class HotPath:
    """One per service worker (per app). All state is touched from the event loop; database work runs in
    worker threads, one catch-up and one commit at a time."""

    engine: Engine
    sessionmaker: sessionmaker[Session]
    runtime: RiskRuntime
    state: LiveState = field(default_factory=LiveState)
    # Other domains' reasons to hold a withdrawal (wired by the service: the Travel Rule).
    hold_checks: list[HoldCheck] = field(default_factory=list)
    # The user's enrolled step-up factors (the service wires `bastion.stepup.enrolled_methods`); None: none.
    step_up_methods: risk_decision.MethodsLookup | None = None
    _needs: list[_Need] = field(default_factory=list)
    _sync_task: asyncio.Task[None] | None = None
    _writes: list[_Write] = field(default_factory=list)
    _write_task: asyncio.Task[None] | None = None
    # Decisions made here and not stored yet: event id -> (user, decision, future of the write).
    _pending: dict[str, tuple[str, LiveDecision]] = field(default_factory=dict)
    _pending_done: dict[str, asyncio.Future[int | None]] = field(default_factory=dict)
    _last_sync: float = 0.0
    _last_prune: float = 0.0
    _closed: bool = False
    _conns: dict[str, Connection] = field(default_factory=dict)
    _aconns: dict[str, AsyncConnection] = field(default_factory=dict)
    _aengine: AsyncEngine | None = None
    # Counters and seconds spent, for the benchmark's account of where time goes.
    stats: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("syncs", "sync_s", "reader_cpu_s", "commits", "commit_s", "writer_cpu_s", "decisions", "loads", "entries"),
            0.0,
        )
    )

    # ------------------------------------------------------------------------------------- catching up
    async def prepare(self, user_id: str, address: str, at: datetime) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._needs.append(_Need(user_id, address, at, fut))
        if self._sync_task is None:
            self._sync_task = asyncio.create_task(self._sync_loop())
        await fut

    async def _sync_loop(self) -> None:
        try:
            while self._needs:
                needs, self._needs = self._needs, []
                try:
                    await self._sync_once(needs)
                except Exception as exc:
                    if len(needs) == 1:
                        _settle(needs[0].future, exc)
                        continue
                    # One request's data may be what broke the shared catch-up: catch up for each alone, so
                    # only that one fails and the others still get their answers.
                    for n in needs:
                        try:
                            await self._sync_once([n])
                        except Exception as alone:
                            _settle(n.future, alone)
                        else:
                            _settle(n.future, None)
                else:
                    for n in needs:
                        _settle(n.future, None)
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
        seq, entries, loaded_users, loaded_addresses = await self._db("reader", self._read_on, st.seq, users, addresses)
        self.stats["sync_s"] += time.monotonic() - started
        for _seq, user_id, kind, data in entries:
            st.apply(user_id, kind, data)
        st.seq = seq
        pending = [(e, u, d) for e, (u, d) in self._pending.items()]
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
        """The live log after `seq` (all of it), then the users and destinations to load (their snapshot is at
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
                if len(chunk) < 10_000:
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

    # ---------------------------------------------------------------------------------------- deciding
    async def evaluate(self, req: WithdrawalRequest) -> risk_decision.DecisionOut:
        if self._closed:
            raise RuntimeError("the service is shutting down")
        at = req.at or now_utc()
        address = normalize_address(req.address)
        # Before the state is prepared: nothing may await between the catch-up and the decision.
        held = await self._outside_holds(req, at)
        for _ in range(5):
            prior = self._pending_done.get(req.event_id)
            if prior is not None:  # a retry of a decision of ours still being stored
                with contextlib.suppress(Exception):
                    await asyncio.shield(prior)
                return await self._existing(req)
            await self.prepare(req.user_id, address, at)
            if req.event_id in self._pending_done:
                continue
            user = self.state.users.get(req.user_id)
            if user is not None and req.event_id in user.decisions:
                return await self._existing(req)  # decided and stored already: a retry
            if user is not None and address in self.state.addresses:
                break
            # Dropped meanwhile (a failed write of another request): load again.
        else:
            raise RuntimeError("could not load the decision state")
        version, scenario, lists, model = self.runtime.snapshot()
        feats, snoozed = self.state.features(req, at, lists)
        u = self.state.users[req.user_id]
        d = risk_decision.decide(
            req, at, feats, snoozed, version, scenario, model, u.holds, self.state.lock(req, at), held
        )
        live = LiveDecision(at, Decimal(req.amount_usd), address, d.decision, d.values["review_status"])
        self.state.add_decision(req.event_id, req.user_id, live)
        self._pending[req.event_id] = (req.user_id, live)
        fut: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending_done[req.event_id] = fut
        if d.decision == "step_up":
            # The only extra round trip, and only here: which factors can confirm it (none: held for review).
            try:
                methods = await self._methods(req.user_id)
            except BaseException:
                _settle(fut, None)  # a retry waiting on it reads the database, finds nothing and fails alike
                self.state.drop_decision(req.event_id, req.user_id, address)
                self._pending.pop(req.event_id, None)
                self._pending_done.pop(req.event_id, None)
                raise
            risk_decision.settle_step_up(d, methods)
            live.decision, live.review = d.decision, d.values["review_status"]
        self._writes.append(_Write(d.values, d.hits, fut))
        if self._write_task is None:
            self._write_task = asyncio.create_task(self._write_loop())
        try:
            decision_id = await asyncio.shield(fut)
        except BaseException:
            self.state.drop_decision(req.event_id, req.user_id, address)
            raise
        finally:
            self._pending.pop(req.event_id, None)
            self._pending_done.pop(req.event_id, None)
        if decision_id is None:  # the event id was stored meanwhile (another worker): answer as the retry
            self.state.drop_decision(req.event_id, req.user_id, address)
            return await self._existing(req)
        d.out.decision_id = decision_id
        return d.out

    async def _outside_holds(self, req: WithdrawalRequest, at: datetime) -> list[dict[str, Any]]:
        held: list[dict[str, Any]] = []
        for check in self.hold_checks:
            if check.screen(req, at):  # memory only; most withdrawals stop here
                found = await asyncio.to_thread(check.check, req, at)
                if found:
                    held.append(found)
        return held

    async def _methods(self, user_id: str) -> list[str]:
        lookup = self.step_up_methods
        if lookup is None:
            return []

        def run() -> list[str]:
            with self.sessionmaker() as session:
                return lookup(session, user_id)

        return await asyncio.to_thread(run)

    async def _existing_or_none(self, req: WithdrawalRequest) -> risk_decision.DecisionOut | None:
        def run() -> risk_decision.DecisionOut | None:
            with self.sessionmaker() as session:
                return risk_decision.existing(session, req)

        return await asyncio.to_thread(run)

    async def _existing(self, req: WithdrawalRequest) -> risk_decision.DecisionOut:
        found = await self._existing_or_none(req)
        if found is None:
            raise RuntimeError(f"decision {req.event_id!r} was neither stored nor refused")
        return found

    # ----------------------------------------------------------------------------------------- storing
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
                        _settle(batch[0].future, exc)
                        continue
                    # The group commit is all or nothing, so one poisoned decision failed every one in it: store
                    # each alone, so only the one that cannot be stored fails (nothing of the batch was kept).
                    for w in batch:
                        try:
                            alone = await self._commit([w])
                        except Exception as failed:
                            _settle(w.future, failed)
                        else:
                            self.stats["decisions"] += 1
                            _settle(w.future, alone.get(w.values["event_id"]))
                else:
                    self.stats["commits"] += 1
                    self.stats["commit_s"] += time.monotonic() - started
                    self.stats["decisions"] += len(batch)
                    for w in batch:
                        _settle(w.future, ids.get(w.values["event_id"]))
        finally:
            self._write_task = None

    async def _commit(self, batch: list[_Write]) -> dict[str, int]:
        rows = [(w.values, w.hits) for w in batch]
        pg = self.engine.dialect.name == "postgresql"
        ids: dict[str, int] = await self._db("writer", self._commit_pg if pg else self._commit_on, rows)
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
                if self.runtime.async_commit and conn.dialect.name == "postgresql":
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
                    commit_log.insert_rows(conn, [risk_decision.live_entry(v) for v, _ in fresh], now)
                if now.timestamp() - self._last_prune > PRUNE_EVERY_S:
                    self._last_prune = now.timestamp()
                    commit_log.prune(conn, now)
        finally:
            for v, _ in rows:
                v.pop("id", None)
        return ids

    def _commit_pg(self, conn: Connection, rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[str, int]:
        """PostgreSQL: the whole batch in ONE statement on an autocommit connection, so one round trip is the
        whole group commit (durable when it returns, unless BASTION_RISK_ASYNC_COMMIT). The rows travel as
        JSON; the live-log lock is taken (an InitPlan, before the first row reaches the INSERT) and held to the
        statement's commit; an event id already taken is skipped (ON CONFLICT DO NOTHING) and left out of
        the ids returned."""
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
            log.append({"event_id": e, "data": risk_decision.live_entry(v)["data"]})
        params = {
            "rows": orjson.dumps(decisions, default=str).decode(),
            "hits": orjson.dumps(hits, default=str).decode(),
            "log": orjson.dumps(log).decode(),
        }
        if self.runtime.async_commit and not conn.info.get("risk_async_commit"):
            conn.exec_driver_sql("SET synchronous_commit TO OFF")  # this connection only writes decisions
            conn.info["risk_async_commit"] = True
        ids = {e: i for e, i in conn.exec_driver_sql(_PG_BATCH, params)}
        conn.commit()
        now = now_utc()
        if now.timestamp() - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = now.timestamp()
            commit_log.prune(conn, now)
            conn.commit()
        return ids

    # Database work. PostgreSQL: on the event loop through SQLAlchemy's asyncio layer (psycopg async), one
    # connection each for the reader and the writer kept for the process's life, so a round trip costs no
    # thread hop and no wait for the GIL behind the requests being served. SQLite: a worker thread, with
    # its own long-lived connection each.
    async def _db(self, which: str, fn: Any, *args: Any) -> Any:
        if self.engine.dialect.name != "postgresql":
            return await asyncio.to_thread(self._in_thread, which, fn, *args)
        aconn = self._aconns.get(which)
        if aconn is None or aconn.closed or aconn.invalidated:
            if self._aengine is None:
                self._aengine = create_async_engine(self.engine.url, pool_size=2, max_overflow=2)
            aconn = await self._aengine.connect()
            # No BEGIN/COMMIT round trips: the reader's statements each see the latest commits (the log read,
            # then the loads); the writer's single statement is its own transaction.
            aconn = await aconn.execution_options(isolation_level="AUTOCOMMIT")
            self._aconns[which] = aconn
        try:
            return await aconn.run_sync(fn, *args)
        except Exception:
            self._aconns.pop(which, None)
            with contextlib.suppress(Exception):
                await aconn.invalidate()
                await aconn.close()
            raise

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
        """Stop taking decisions and flush the ones queued (shutdown)."""
        self._closed = True
        for _ in range(100):
            task = self._write_task
            if task is None and not self._writes:
                break
            if task is not None:
                await asyncio.wait([task], timeout=5)
            elif self._writes:
                self._write_task = asyncio.create_task(self._write_loop())
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


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Answer a waiting request once: an exception fails it, anything else is its result."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _chunks(wanted: dict[str, datetime], size: int = 500) -> list[dict[str, datetime]]:
    items = list(wanted.items())
    return [dict(items[i : i + size]) for i in range(0, len(items), size)]


_STATEMENTS: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    s = _STATEMENTS.get(dialect)
    if s is None:
        s = _STATEMENTS[dialect] = _Statements(dialect)
    return s
