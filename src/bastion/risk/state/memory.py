"""Decision state in memory: what a withdrawal decision reads about its user and its destination, kept by
each service worker so that deciding costs no database query.

A user is loaded once from the database (devices, address book, account settings, the decisions and logins
of the window the request needs, earlier uses of destinations, snoozes); a destination likewise (who sent to
it recently, for `destination_users_24h`). From then on the worker applies the commit log (`commit_log`), which
every writer appends in commit order, so a change acknowledged by any worker is in every worker's state
before its next decision (`LiveState.apply`). Its own decisions enter its state the moment they are made,
before they are stored, so concurrent requests of one user see each other (the database path could not).

The records themselves and the features computed from them are the decision's (`bastion.risk.decide.features`);
`LiveState.features` computes exactly what the tests' database oracle (`tests/risk/oracle.py`) computes from
the tables: the tests compare the two on the same data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Table, func, or_, select

from bastion.risk import holds as account_holds
from bastion.risk.clock import utc
from bastion.risk.decide.features import (
    DAY,
    AddressState,
    Lists,
    LiveDecision,
    LiveLogin,
    UserState,
    compute,
)
from bastion.risk.decide.locks import WithdrawalLock, withdrawal_lock
from bastion.risk.models import RiskAddress, RiskDecision, RiskDevice, RiskLogin, RiskSnooze, RiskUserState
from bastion.risk.schemas import WithdrawalRequest, normalize_address

# How far back a user's or destination's window goes when it is loaded: the request's 24 h plus slack, so
# a user whose requests come in slightly out of order is not reloaded.
LOAD_BACK = DAY + timedelta(hours=1)
# Cached users and destinations; past this, the least recently used half is dropped (reloaded on demand).
MAX_CACHED = 200_000
# Records older than this before a user's newest request are dropped from memory (the window moves on).
KEEP = timedelta(hours=48)


def _ts(s: str | None) -> datetime | None:
    return None if s is None else utc(datetime.fromisoformat(s))


def _t(model: Any) -> Table:
    return cast(Table, model.__table__)


def load_users(conn: Connection, wanted: dict[str, datetime]) -> list[UserState]:
    """Users' state from the database (user id -> horizon): all-time facts, and decisions and logins since
    each one's horizon. One query per table for all of them (a catch-up may need many at once)."""
    if not wanted:
        return []
    dev, book, st, d, lg, sn = (
        _t(m) for m in (RiskDevice, RiskAddress, RiskUserState, RiskDecision, RiskLogin, RiskSnooze)
    )
    ids = list(wanted)
    since = min(wanted.values())
    users = {u: UserState(user_id=u, horizon=h) for u, h in wanted.items()}
    for uid, device, first in conn.execute(
        select(dev.c.user_id, dev.c.device, dev.c.first_seen_at).where(dev.c.user_id.in_(ids))
    ):
        users[uid].devices[device] = utc(first)
    q = select(book.c.user_id, book.c.address, book.c.added_at).where(
        book.c.user_id.in_(ids), book.c.removed_at.is_(None)
    )
    for uid, address, added in conn.execute(q):
        users[uid].book[address] = utc(added)
    qs = select(
        st.c.user_id,
        st.c.last_credential_change_at,
        st.c.last_credential_change_kind,
        st.c.allowlist_enabled,
        st.c.frozen_at,
    ).where(st.c.user_id.in_(ids))
    for uid, cred, cred_kind, allow, frozen_at in conn.execute(qs):
        users[uid].credential_at = None if cred is None else utc(cred)
        users[uid].credential_kind = cred_kind
        users[uid].allowlist = bool(allow)
        users[uid].frozen = frozen_at is not None
    q = select(
        d.c.user_id, d.c.event_id, d.c.requested_at, d.c.amount_usd, d.c.address, d.c.decision, d.c.review_status
    ).where(d.c.user_id.in_(ids), d.c.requested_at >= since)
    for r in conn.execute(q):
        u, at = users[r[0]], utc(r[2])
        if at >= u.horizon:
            u.decisions[r[1]] = LiveDecision(at, Decimal(r[3]), r[4], r[5], r[6])
    q2 = (
        select(d.c.user_id, d.c.address, func.min(d.c.requested_at))
        .where(d.c.user_id.in_(ids), or_(d.c.decision == "allow", d.c.review_status == "approved"))
        .group_by(d.c.user_id, d.c.address)
    )
    for uid, address, first_use in conn.execute(q2):
        users[uid].used[address] = utc(first_use)
    q3 = select(
        lg.c.user_id, lg.c.event_id, lg.c.at, lg.c.success, lg.c.new_asn, lg.c.new_country, lg.c.travel_kmh
    ).where(lg.c.user_id.in_(ids), lg.c.at >= since)
    for uid, e, at_, ok, new_asn, new_country, travel in conn.execute(q3):
        u, at = users[uid], utc(at_)
        if at >= u.horizon:
            u.logins[e] = LiveLogin(at, bool(ok), bool(new_asn), bool(new_country), travel)
    q4 = select(sn.c.user_id, sn.c.id, sn.c.rule_id, sn.c.until).where(sn.c.user_id.in_(ids), sn.c.until > since)
    for uid, sid, rule, until in conn.execute(q4):
        users[uid].snoozes[sid] = (rule, utc(until))
    for uid, held in account_holds.load(conn, ids).items():
        users[uid].holds = held
    return list(users.values())


def load_user(conn: Connection, user_id: str, horizon: datetime) -> UserState:
    return load_users(conn, {user_id: horizon})[0]


def load_addresses(conn: Connection, wanted: dict[str, datetime]) -> list[AddressState]:
    """Destinations' recent senders (address -> horizon), in one query."""
    if not wanted:
        return []
    d = _t(RiskDecision)
    out = {a: AddressState(address=a, horizon=h) for a, h in wanted.items()}
    q = select(d.c.address, d.c.event_id, d.c.user_id, d.c.requested_at).where(
        d.c.address.in_(list(wanted)), d.c.requested_at >= min(wanted.values())
    )
    for address, e, user_id, at_ in conn.execute(q):
        a, at = out[address], utc(at_)
        if at >= a.horizon:
            a.senders[e] = (user_id, at)
    return list(out.values())


def load_address(conn: Connection, address: str, horizon: datetime) -> AddressState:
    return load_addresses(conn, {address: horizon})[0]


class LiveState:
    """One worker's users and destinations. Not thread-safe: the service touches it from its event loop."""

    def __init__(self) -> None:
        self.users: dict[str, UserState] = {}
        self.addresses: dict[str, AddressState] = {}
        self.seq = -1  # the last live-log entry applied; -1: not started

    # ----------------------------------------------------------------------------------------- loading
    def missing(self, user_id: str, address: str, at: datetime) -> tuple[bool, bool]:
        """Whether the user / the destination must be (re)loaded before deciding at `at`."""
        need = at - DAY
        u = self.users.get(user_id)
        a = self.addresses.get(address)
        return (u is None or u.horizon > need), (a is None or a.horizon > need)

    def install_user(self, u: UserState, pending: Iterable[tuple[str, str, LiveDecision]] = ()) -> None:
        old = self.users.get(u.user_id)
        if old is not None and old.horizon <= u.horizon:
            return  # a wider window is already here (loaded by a concurrent request)
        for event_id, user_id, dec in pending:  # this worker's decisions not stored yet
            if user_id == u.user_id:
                self._add_decision(u, event_id, dec)
        self.users[u.user_id] = u
        self._bound(self.users)

    def install_address(self, a: AddressState, pending: Iterable[tuple[str, str, LiveDecision]] = ()) -> None:
        old = self.addresses.get(a.address)
        if old is not None and old.horizon <= a.horizon:
            return
        for event_id, user_id, dec in pending:
            if dec.address == a.address and dec.at >= a.horizon:
                a.senders[event_id] = (user_id, dec.at)
        self.addresses[a.address] = a
        self._bound(self.addresses)

    @staticmethod
    def _bound(cache: dict[str, Any]) -> None:
        if len(cache) <= MAX_CACHED:
            return
        by_age = sorted(cache.items(), key=lambda kv: kv[1].touched)
        for key, _ in by_age[: len(by_age) // 2]:
            del cache[key]

    def clear(self) -> None:
        self.users.clear()
        self.addresses.clear()

    # ---------------------------------------------------------------------------------------- changes
    @staticmethod
    def _add_decision(u: UserState, event_id: str, dec: LiveDecision) -> None:
        if dec.at >= u.horizon:
            u.decisions[event_id] = dec
        if dec.decision == "allow" or dec.review == "approved":
            first = u.used.get(dec.address)
            if first is None or dec.at < first:
                u.used[dec.address] = dec.at

    def add_decision(self, event_id: str, user_id: str, dec: LiveDecision) -> None:
        """A decision (this worker's own as it is made, or anyone's from the log)."""
        u = self.users.get(user_id)
        if u is not None:
            self._add_decision(u, event_id, dec)
        a = self.addresses.get(dec.address)
        if a is not None and dec.at >= a.horizon:
            a.senders[event_id] = (user_id, dec.at)

    def drop_decision(self, event_id: str, user_id: str, address: str) -> None:
        """Forget a decision of this worker that was not stored (its event id was taken, or the write failed).
        The user is reloaded on next use: an earlier use of the destination may have come from it."""
        self.users.pop(user_id, None)
        a = self.addresses.get(address)
        if a is not None:
            a.senders.pop(event_id, None)

    def apply(self, user_id: str, kind: str, data: dict[str, Any]) -> None:
        """One live-log entry. Entries carry resulting state, so applying one twice changes nothing."""
        if kind == "decision":
            dec = LiveDecision(cast(datetime, _ts(data["at"])), Decimal(data["usd"]), data["a"], data["d"], data["r"])
            self.add_decision(data["e"], user_id, dec)
            return
        u = self.users.get(user_id)
        if u is None:
            return  # loaded with everything committed when first needed
        if kind == "review":
            dec_ = u.decisions.get(data["e"])
            if dec_ is not None:
                dec_.review = data["r"]
            if data["r"] == "approved":
                at = cast(datetime, _ts(data["at"]))
                first = u.used.get(data["a"])
                if first is None or at < first:
                    u.used[data["a"]] = at
        elif kind == "login":
            at = cast(datetime, _ts(data["at"]))
            if at >= u.horizon:
                u.logins[data["e"]] = LiveLogin(at, data["ok"], data["asn"], data["country"], data["travel"])
        elif kind == "device":
            first_seen = cast(datetime, _ts(data["first"]))
            known = u.devices.get(data["d"])
            if known is None or first_seen < known:
                u.devices[data["d"]] = first_seen
        elif kind == "address":
            if data["removed"]:
                u.book.pop(data["a"], None)
            else:
                u.book[data["a"]] = cast(datetime, _ts(data["added"]))
        elif kind == "user":
            u.credential_at = _ts(data["cred"])
            u.credential_kind = data.get("kind")
            u.allowlist = bool(data["allow"])
            u.frozen = bool(data.get("frozen", False))
        elif kind == "snooze":
            u.snoozes[int(data["id"])] = (data["rule"], cast(datetime, _ts(data["until"])))
        elif kind == "hold":
            if data["over"] is None:
                u.holds.pop(data["reason"], None)
            else:
                u.holds[data["reason"]] = Decimal(data["over"])

    # --------------------------------------------------------------------------------------- features
    def lock(self, req: WithdrawalRequest, at: datetime) -> WithdrawalLock | None:
        """The hard lock this withdrawal is under (`locks.py`), from memory (the user must be loaded)."""
        u = self.users[req.user_id]
        return withdrawal_lock(
            at=at,
            frozen=u.frozen,
            credential_at=u.credential_at,
            credential_kind=u.credential_kind,
            allowlist=u.allowlist,
            address_added_at=u.book.get(normalize_address(req.address)),
        )

    def features(self, req: WithdrawalRequest, at: datetime, lists: Lists) -> tuple[dict[str, Any], set[str]]:
        """The request's features (`decide.features.compute`) from this worker's memory (the user and the
        destination must be loaded); touches both for the cache's bound and trims a long history."""
        u = self.users[req.user_id]
        a = self.addresses[normalize_address(req.address)]
        u.touched = a.touched = time.monotonic()
        if u.newest is None or at > u.newest:
            u.newest = at
        out = compute(u, a, req, at, lists)
        if len(u.decisions) + len(u.logins) > 256:
            self._trim(u)
        return out

    @staticmethod
    def _trim(u: UserState) -> None:
        assert u.newest is not None
        cut = u.newest - KEEP
        if cut <= u.horizon:
            return
        u.decisions = {k: v for k, v in u.decisions.items() if v.at >= cut}
        u.logins = {k: v for k, v in u.logins.items() if v.at >= cut}
        u.horizon = cut
