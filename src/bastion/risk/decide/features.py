"""What a withdrawal decision reads, and the features computed from it.

The records (`UserState`, `AddressState` and the decisions and logins they hold) are the facts about the user
and the destination that a decision needs; `bastion.risk.state.memory` keeps them per worker, loaded from the
tables and kept current by the commit log. `compute` turns them into the named features the rules read
(`rules.FEATURES` says what each means). Pure: the tests' database oracle (`tests/risk/oracle.py`) computes the
same features with one SQL query, and the tests compare the two.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bastion.risk.schemas import WithdrawalRequest, normalize_address

NEVER_HOURS = 1e6
DAY = timedelta(hours=24)
# Decisions whose funds never left: not counted in the 24 h sums (a held withdrawal is resubmitted later).
NOT_SENT = ("block", "hold")


@dataclass
class Lists:
    phishing_addresses: frozenset[str] = frozenset()
    bad_ips: frozenset[str] = frozenset()
    bad_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def ip_is_bad(self, ip: str | None) -> bool:
        if not ip:
            return False
        if ip in self.bad_ips:
            return True
        if not self.bad_networks:
            return False
        addr = ipaddress.ip_address(ip)
        return any(addr in net for net in self.bad_networks)


@dataclass(slots=True)
class LiveDecision:
    at: datetime
    usd: Decimal
    address: str
    decision: str
    review: str | None


@dataclass(slots=True)
class LiveLogin:
    at: datetime
    success: bool
    new_asn: bool
    new_country: bool
    travel_kmh: float | None


@dataclass(slots=True)
class UserState:
    user_id: str
    # Everything with a time at or after `horizon` is here (decisions, logins); older ones may not be.
    horizon: datetime
    devices: dict[str, datetime] = field(default_factory=dict)  # device -> first seen
    book: dict[str, datetime] = field(default_factory=dict)  # address as stored -> added at (not removed)
    credential_at: datetime | None = None
    credential_kind: str | None = None
    allowlist: bool = False
    frozen: bool = False
    decisions: dict[str, LiveDecision] = field(default_factory=dict)  # by event id
    used: dict[str, datetime] = field(default_factory=dict)  # address -> first allowed/approved decision
    logins: dict[str, LiveLogin] = field(default_factory=dict)  # by event id
    snoozes: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # id -> (rule, until)
    touched: float = 0.0
    newest: datetime | None = None
    # reason -> limit: withdrawals above it are held (`risk.holds`, e.g. an open due-diligence request)
    holds: dict[str, Decimal] = field(default_factory=dict)


@dataclass(slots=True)
class AddressState:
    address: str
    horizon: datetime
    senders: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # decision event id -> (user, at)
    touched: float = 0.0


def _hours(since: datetime | None, at: datetime) -> float | None:
    return None if since is None else max((at - since).total_seconds() / 3600, 0.0)


def compute(
    u: UserState, a: AddressState, req: WithdrawalRequest, at: datetime, lists: Lists
) -> tuple[dict[str, Any], set[str]]:
    """The request's features and the rule ids snoozed for this user at `at`, from the user's and the
    destination's records (their windows must reach 24 h before `at`)."""
    user_id, addr = req.user_id, normalize_address(req.address)
    t0 = at - DAY
    first_seen = u.devices.get(req.device_fingerprint or "")
    device_age = _hours(first_seen if first_seen is not None and first_seen <= at else None, at)
    address_age = _hours(u.book.get(addr), at)
    cred_hours = _hours(u.credential_at, at)
    count = 0
    prior = Decimal(0)
    for d in u.decisions.values():
        if t0 <= d.at <= at:
            count += 1
            if d.decision not in NOT_SENT and d.review != "rejected":
                prior += d.usd
    first_use = u.used.get(addr)
    travel = 0.0
    new_asn = new_country = False
    failed = 0
    for lg in u.logins.values():
        if t0 <= lg.at <= at:
            if lg.success:
                if lg.travel_kmh is not None and lg.travel_kmh > travel:
                    travel = lg.travel_kmh
            else:
                failed += 1
            new_asn = new_asn or lg.new_asn
            new_country = new_country or lg.new_country
    others = {uid for uid, t in a.senders.values() if uid != user_id and t0 <= t <= at}
    amount = float(req.amount_usd)
    balance = float(req.balance_usd) if req.balance_usd is not None else None
    prior_usd = float(prior)
    f: dict[str, Any] = {
        "amount_usd": amount,
        "balance_share": amount / balance if balance else 0.0,
        "drained_share_24h": (prior_usd + amount) / (balance + prior_usd) if balance else 0.0,
        "withdrawals_24h_count": count + 1,
        "withdrawals_24h_usd": prior_usd + amount,
        "device_known": device_age is not None,
        "device_age_hours": device_age or 0.0,
        "address_in_book": address_age is not None,
        "address_age_hours": address_age or 0.0,
        "address_used_before": first_use is not None and first_use < at,
        "allowlist_enabled": u.allowlist,
        "hours_since_credential_change": NEVER_HOURS if cred_hours is None else cred_hours,
        "destination_on_phishing_list": addr in lists.phishing_addresses,
        "ip_on_reputation_list": lists.ip_is_bad(str(req.ip) if req.ip is not None else None),
        "login_new_asn_24h": new_asn,
        "login_new_country_24h": new_country,
        "max_travel_kmh_24h": travel,
        "failed_logins_24h": failed,
        "destination_users_24h": len(others),
    }
    snoozed = {rule for rule, until in u.snoozes.values() if until > at}
    return f, snoozed

