"""The tests' oracle for withdrawal decisions: the database path. It reads every feature with one SQL query of
scalar subqueries (no memory, no commit log), decides with the same pure `decide`, and stores the decision
under the commit-log lock as the service's group commit does, one transaction per request.

The service never runs it: its one decision path is `bastion.risk.hotpath` (state in memory). The tests run
both on the same seeded traffic and compare (`test_live.py`), so a change to what the hot path remembers or
how it catches up is checked against a plain reading of the tables. Call it as `from risk.oracle import ...`.
"""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Select, String, Table, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from bastion.risk import holds as account_holds
from bastion.risk.clock import now_utc, utc
from bastion.risk.decide import decision
from bastion.risk.decide.features import DAY, NEVER_HOURS, NOT_SENT, Lists
from bastion.risk.decide.locks import lock_for
from bastion.risk.models import RiskAddress, RiskDecision, RiskDevice, RiskLogin, RiskRuleHit, RiskSnooze, RiskUserState
from bastion.risk.schemas import WithdrawalRequest, normalize_address
from bastion.risk.state import commit_log
from bastion.risk.state.config import RiskRuntime


def _hours(since: datetime | None, at: datetime) -> float | None:
    return None if since is None else max((at - utc(since)).total_seconds() / 3600, 0.0)


@functools.cache
def _statement() -> Select[Any]:
    """The one feature query, built once per process with bind parameters (building SQL expressions per
    request cost more than running them)."""
    u = bindparam("u", type_=String())
    addr = bindparam("addr", type_=String())
    dev = bindparam("dev", type_=String())
    at = bindparam("at", type_=RiskDecision.requested_at.type)
    t0 = bindparam("t0", type_=RiskDecision.requested_at.type)
    not_blocked = and_(
        RiskDecision.decision.not_in(NOT_SENT),
        or_(RiskDecision.review_status.is_(None), RiskDecision.review_status != "rejected"),
    )
    recent = and_(RiskDecision.user_id == u, RiskDecision.requested_at >= t0, RiskDecision.requested_at <= at)
    logins = and_(RiskLogin.user_id == u, RiskLogin.at >= t0, RiskLogin.at <= at)
    sq = {
        "device_first": select(RiskDevice.first_seen_at).where(
            RiskDevice.user_id == u, RiskDevice.device == dev, RiskDevice.first_seen_at <= at
        ),
        "address_added": select(RiskAddress.added_at).where(
            RiskAddress.user_id == u, RiskAddress.address == addr, RiskAddress.removed_at.is_(None)
        ),
        "cred_at": select(RiskUserState.last_credential_change_at).where(RiskUserState.user_id == u),
        "allowlist": select(RiskUserState.allowlist_enabled).where(RiskUserState.user_id == u),
        "count_24h": select(func.count()).where(recent),
        "usd_24h": select(func.coalesce(func.sum(RiskDecision.amount_usd), 0)).where(recent, not_blocked),
        "used_before": select(func.count()).where(
            RiskDecision.user_id == u,
            RiskDecision.address == addr,
            RiskDecision.requested_at < at,
            or_(RiskDecision.decision == "allow", RiskDecision.review_status == "approved"),
        ),
        "travel": select(func.max(RiskLogin.travel_kmh)).where(logins, RiskLogin.success.is_(True)),
        "new_asn": select(func.count()).where(logins, RiskLogin.new_asn.is_(True)),
        "new_country": select(func.count()).where(logins, RiskLogin.new_country.is_(True)),
        "failed": select(func.count(case((RiskLogin.success.is_(False), 1)))).where(logins),
        "dest_users": select(func.count(func.distinct(RiskDecision.user_id))).where(
            RiskDecision.address == addr,
            RiskDecision.requested_at >= t0,
            RiskDecision.requested_at <= at,
            RiskDecision.user_id != u,
        ),
        "snoozes": select(func.count()).where(RiskSnooze.user_id == u, RiskSnooze.until > at),
    }
    return select(*[q.scalar_subquery().label(k) for k, q in sq.items()])


def compute(session: Session, req: WithdrawalRequest, at: datetime, lists: Lists) -> tuple[dict[str, Any], set[str]]:
    """Features (see `bastion.risk.decide.rules.FEATURES`) and the rule ids snoozed for this user at `at`."""
    u, addr = req.user_id, normalize_address(req.address)
    params = {"u": u, "addr": addr, "dev": req.device_fingerprint or "", "at": at, "t0": at - DAY}
    row = session.connection().execute(_statement(), params).one()._mapping
    amount = float(req.amount_usd)
    balance = float(req.balance_usd) if req.balance_usd is not None else None
    prior_usd = float(Decimal(row["usd_24h"] or 0))
    device_age = _hours(row["device_first"], at)
    address_age = _hours(row["address_added"], at)
    cred_hours = _hours(row["cred_at"], at)
    f: dict[str, Any] = {
        "amount_usd": amount,
        "balance_share": amount / balance if balance else 0.0,
        "drained_share_24h": (prior_usd + amount) / (balance + prior_usd) if balance else 0.0,
        "withdrawals_24h_count": int(row["count_24h"]) + 1,
        "withdrawals_24h_usd": prior_usd + amount,
        "device_known": device_age is not None,
        "device_age_hours": device_age or 0.0,
        "address_in_book": address_age is not None,
        "address_age_hours": address_age or 0.0,
        "address_used_before": int(row["used_before"]) > 0,
        "allowlist_enabled": bool(row["allowlist"]),
        "hours_since_credential_change": NEVER_HOURS if cred_hours is None else cred_hours,
        "destination_on_phishing_list": addr in lists.phishing_addresses,
        "ip_on_reputation_list": lists.ip_is_bad(str(req.ip) if req.ip is not None else None),
        "login_new_asn_24h": int(row["new_asn"]) > 0,
        "login_new_country_24h": int(row["new_country"]) > 0,
        "max_travel_kmh_24h": float(row["travel"] or 0.0),
        "failed_logins_24h": int(row["failed"]),
        "destination_users_24h": int(row["dest_users"]),
    }
    snoozed: set[str] = set()
    if row["snoozes"]:
        snoozed = set(session.scalars(select(RiskSnooze.rule_id).where(RiskSnooze.user_id == u, RiskSnooze.until > at)))
    return f, snoozed


class _Sql:
    def __init__(self, dialect: str) -> None:
        d = cast(Table, RiskDecision.__table__)
        # A retry racing its original finds the row already there and returns nothing (then read it) instead
        # of failing the transaction.
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self.decision_put: Any = pg_insert(d).on_conflict_do_nothing(index_elements=["event_id"])
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self.decision_put = sqlite_insert(d).on_conflict_do_nothing(index_elements=["event_id"])
        self.decision_put = self.decision_put.returning(d.c.id)
        self.hit_put = cast(Table, RiskRuleHit.__table__).insert()


@functools.cache
def _sql(dialect: str) -> _Sql:
    return _Sql(dialect)


def evaluate(
    session: Session,
    runtime: RiskRuntime,
    req: WithdrawalRequest,
    step_up_methods: decision.MethodsLookup | None = None,
) -> decision.DecisionOut:
    """Decide on one withdrawal request from the database and store the decision (caller commits). Without
    `step_up_methods`, a step-up decision finds no factor and is held for review."""
    runtime.refresh(session)
    runtime.relax_commit(session)
    version, scenario, lists, model = runtime.snapshot()
    at = req.at or now_utc()
    feats, snoozed = compute(session, req, at, lists)
    held = account_holds.load(session.connection(), [req.user_id]).get(req.user_id)
    lock = lock_for(session, req.user_id, req.address, at)
    d = decision.decide(req, at, feats, snoozed, version, scenario, model, held, lock)
    if d.decision == "step_up":
        decision.settle_step_up(d, step_up_methods(session, req.user_id) if step_up_methods else [])
    # Decisions are inserted under the commit-log lock (the service's batched writer counts on it).
    conn = commit_log.lock_session(session)
    sql = _sql(conn.dialect.name)
    decision_id = conn.execute(sql.decision_put, d.values).scalar()
    if decision_id is None:  # the same event id was stored meanwhile: answer as the retry we are
        prior = decision.existing(session, req)
        assert prior is not None
        return prior
    if d.hits:
        conn.execute(sql.hit_put, [{"decision_id": decision_id, **h} for h in d.hits])
    entry = decision.live_entry(d.values)
    commit_log.append(session, entry["user_id"], "decision", entry["data"])
    d.out.decision_id = decision_id
    return d.out
