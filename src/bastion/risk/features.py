"""The features of one withdrawal request, read in one database round trip (scalar subqueries)."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from bastion.risk.events import WithdrawalRequest, utc
from bastion.risk.locks import WithdrawalLock, withdrawal_lock
from bastion.risk.models import RiskAddress, RiskDecision, RiskDevice, RiskLogin, RiskSnooze, RiskUserState
from bastion.risk.runtime import Lists, normalize_address

NEVER_HOURS = 1e6
DAY = timedelta(hours=24)
# Decisions whose funds never left: not counted in the 24 h sums (a held withdrawal is resubmitted later).
NOT_SENT = ("block", "hold")


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
    """Features (see `bastion.risk.rules.FEATURES`) and the rule ids snoozed for this user at `at`."""
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


def lock(session: Session, req: WithdrawalRequest, at: datetime) -> WithdrawalLock | None:
    """As `LiveState.lock`, from the database."""
    return lock_for(session, req.user_id, req.address, at)


def lock_for(session: Session, user_id: str, address: str, at: datetime) -> WithdrawalLock | None:
    """The hard lock a withdrawal of `user_id` to `address` at `at` is under (`locks.py`), from the database."""
    st = session.get(RiskUserState, user_id)
    if st is None:
        return None
    added = None
    if st.allowlist_enabled:
        row = session.get(RiskAddress, (user_id, normalize_address(address)))
        added = utc(row.added_at) if row is not None and row.removed_at is None else None
    return withdrawal_lock(
        at=at,
        frozen=st.frozen_at is not None,
        credential_at=utc(st.last_credential_change_at) if st.last_credential_change_at else None,
        credential_kind=st.last_credential_change_kind,
        allowlist=bool(st.allowlist_enabled),
        address_added_at=added,
    )
