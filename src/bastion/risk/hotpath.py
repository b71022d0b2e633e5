"""The service's withdrawal decisions, one request at a time on the worker's event loop: the one decision path.

`HotPath.evaluate(request)`:
1. other domains' holds (`hold_checks`, the Travel Rule: from memory, a database look only when one applies);
2. `state.catchup`: wait for a catch-up that started after the request arrived (the commit log of every
   worker, the rules/lists/model if they changed, the user and destination if not held yet), one database
   round trip shared by every request waiting at that moment;
3. `decide`: features from memory (`state.memory.LiveState.features` -> `decide.features`), the hard lock
   (`decide.locks`), the rules and the learned score (`decide.decision.decide`); the decision enters this
   worker's state at once, so the user's next request sees it even before it is stored;
4. `store.writer`: the decision joins the next group commit; it is answered once committed.
A retry (an event id already decided) is answered from the database: same body, the original answer; another
body, a 409. A decision a step-up rule touched (`step_up`, rare) reads the user's enrolled factors from the
database before it is stored (`step_up_methods`, wired by the service); no other decision does.

Built once per service process, in the app's lifespan (`service/deps.py`); `close` flushes the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bastion.risk.clock import now_utc
from bastion.risk.decide import decision as risk_decision
from bastion.risk.decide.features import LiveDecision
from bastion.risk.futures import settle
from bastion.risk.schemas import WithdrawalRequest, normalize_address
from bastion.risk.state.catchup import CatchUp
from bastion.risk.state.config import RiskRuntime
from bastion.risk.state.memory import LiveState
from bastion.risk.store.connections import Connections
from bastion.risk.store.writer import GroupWriter


class HoldCheck(Protocol):
    """Another domain's reason to hold a withdrawal (the Travel Rule's `TravelRuleGate`). `screen` runs on the
    event loop from memory and answers whether the withdrawal needs a look at all, so a withdrawal no check
    touches costs no extra database round trip; `check` runs in a worker thread and answers the hold
    (`{"reason": ..., "missing": [...]}`) or None."""

    def screen(self, req: WithdrawalRequest, at: datetime) -> bool: ...

    def check(self, req: WithdrawalRequest, at: datetime) -> dict[str, Any] | None: ...


@dataclass
class HotPath:
    """One per service worker (per app). All state is touched from the event loop; database work runs on the
    hot path's own connections (`store.connections`), one catch-up and one commit at a time."""

    engine: Engine
    sessionmaker: sessionmaker[Session]
    runtime: RiskRuntime
    state: LiveState = field(default_factory=LiveState)
    # Other domains' reasons to hold a withdrawal (wired by the service: the Travel Rule).
    hold_checks: list[HoldCheck] = field(default_factory=list)
    # The user's enrolled step-up factors (the service wires `bastion.stepup.enrolled_methods`); None: none.
    step_up_methods: risk_decision.MethodsLookup | None = None
    # Counters and seconds spent, for the benchmark's account of where time goes.
    stats: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("syncs", "sync_s", "reader_cpu_s", "commits", "commit_s", "writer_cpu_s", "decisions", "loads", "entries"),
            0.0,
        )
    )
    # Decisions made here and not stored yet: event id -> (user, decision), and the future of the write.
    _pending: dict[str, tuple[str, LiveDecision]] = field(default_factory=dict)
    _pending_done: dict[str, asyncio.Future[int | None]] = field(default_factory=dict)
    _closed: bool = False

    def __post_init__(self) -> None:
        self.db = Connections(self.engine, self.stats)
        self.catchup = CatchUp(self.state, self.runtime, self.db, self.sessionmaker, self.stats, self._pending)
        self.writer = GroupWriter(self.db, self.stats, async_commit=self.runtime.async_commit)

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
            await self.catchup.prepare(req.user_id, address, at)
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
                settle(fut, None)  # a retry waiting on it reads the database, finds nothing and fails alike
                self.state.drop_decision(req.event_id, req.user_id, address)
                self._pending.pop(req.event_id, None)
                self._pending_done.pop(req.event_id, None)
                raise
            risk_decision.settle_step_up(d, methods)
            live.decision, live.review = d.decision, d.values["review_status"]
        self.writer.put(d.values, d.hits, fut)
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

    async def close(self) -> None:
        """Stop taking decisions and flush the ones queued (shutdown)."""
        self._closed = True
        await self.writer.flush()
        await self.db.close()
