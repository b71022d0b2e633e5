"""Events in: logins, credential changes and address-book changes, each idempotent by its event id.

Each ingest function records the event (`schemas.py` has its type), then updates the derived state decisions
read (devices, login flags, account settings, address book) and appends the resulting state to the commit log,
all in the caller's transaction.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Table, and_, bindparam, case, func, select
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError
from bastion.risk.clock import now_utc, utc
from bastion.risk.decide.locks import LOCK
from bastion.risk.models import RiskAddress, RiskDevice, RiskEvent, RiskLogin, RiskUserState
from bastion.risk.schemas import (
    AddressBookEvent,
    AddressBookItem,
    CredentialChangeEvent,
    CredentialChangeItem,
    EventIn,
    IngestResult,
    LoginEvent,
    LoginItem,
    payload_hash,
)
from bastion.risk.state import commit_log


def _payload(ev: BaseModel) -> dict[str, Any]:
    # `type` only routes batch items: the same event sent alone or in a batch is the same event.
    return ev.model_dump(mode="json", exclude={"at", "type"})


class _Sql:
    """Statements of the ingestion path, built once and run on the session's connection: building SQL
    expressions and the ORM's bulk bookkeeping cost more per event than the database work itself."""

    def __init__(self) -> None:
        ev, dev, lg = (cast(Table, m.__table__) for m in (RiskEvent, RiskDevice, RiskLogin))
        p = bindparam
        self.event_get = select(ev.c.payload_hash, ev.c.kind).where(ev.c.event_id == p("event_id"))
        self.event_put = ev.insert()
        self.device_get = select(dev.c.first_seen_at).where(dev.c.user_id == p("u"), dev.c.device == p("d"))
        self.device_put = dev.insert()
        self.device_touch = (
            dev.update()
            .where(dev.c.user_id == p("u"), dev.c.device == p("d"))
            .values(
                first_seen_at=case(
                    (dev.c.first_seen_at > p("at", type_=dev.c.first_seen_at.type), p("at")), else_=dev.c.first_seen_at
                ),
                last_seen_at=case((dev.c.last_seen_at < p("at"), p("at")), else_=dev.c.last_seen_at),
            )
        )
        ok = and_(lg.c.user_id == p("u"), lg.c.success.is_(True))
        self.login_seen = select(
            func.count(),
            func.count(case((lg.c.asn == p("asn", type_=lg.c.asn.type), 1))),
            func.count(case((lg.c.country == p("country", type_=lg.c.country.type), 1))),
        ).where(ok)
        self.login_last = (
            select(lg.c.at, lg.c.latitude, lg.c.longitude, lg.c.country)
            .where(ok, lg.c.at <= p("at", type_=lg.c.at.type))
            .order_by(lg.c.at.desc())
            .limit(1)
        )
        self.login_put = lg.insert()


@functools.cache
def _sql() -> _Sql:
    return _Sql()


def _record(session: Session, kind: str, ev: EventIn, at: datetime) -> bool:
    """Store the event; False when it is a duplicate. Raises ConflictError for an id reused differently."""
    payload = _payload(ev)
    h = payload_hash(payload)
    conn = session.connection()
    existing = conn.execute(_sql().event_get, {"event_id": ev.event_id}).first()
    if existing is not None:
        if existing.payload_hash != h or existing.kind != kind:
            raise ConflictError(f"event_id {ev.event_id!r} was already used for a different event")
        return False
    conn.execute(
        _sql().event_put,
        {
            "event_id": ev.event_id,
            "kind": kind,
            "user_id": ev.user_id,
            "occurred_at": at,
            "payload": payload,
            "payload_hash": h,
        },
    )
    return True


# Rough country centroids, used for impossible travel when a login carries a country but no coordinates.
COUNTRY_CENTROIDS: dict[str, tuple[float, float]] = {
    "US": (39.8, -98.6),
    "CA": (56.1, -106.3),
    "MX": (23.6, -102.6),
    "BR": (-14.2, -51.9),
    "AR": (-38.4, -63.6),
    "GB": (55.4, -3.4),
    "IE": (53.4, -8.2),
    "FR": (46.2, 2.2),
    "DE": (51.2, 10.5),
    "NL": (52.1, 5.3),
    "ES": (40.5, -3.7),
    "IT": (41.9, 12.6),
    "CH": (46.8, 8.2),
    "PL": (51.9, 19.1),
    "UA": (48.4, 31.2),
    "RU": (61.5, 105.3),
    "TR": (39.0, 35.2),
    "AE": (23.4, 53.8),
    "IN": (20.6, 78.9),
    "PK": (30.4, 69.3),
    "CN": (35.9, 104.2),
    "HK": (22.3, 114.2),
    "TW": (23.7, 121.0),
    "JP": (36.2, 138.3),
    "KR": (35.9, 127.8),
    "SG": (1.35, 103.8),
    "VN": (14.1, 108.3),
    "TH": (15.9, 100.9),
    "ID": (-0.8, 113.9),
    "PH": (12.9, 121.8),
    "MY": (4.2, 101.98),
    "AU": (-25.3, 133.8),
    "NZ": (-40.9, 174.9),
    "ZA": (-30.6, 22.9),
    "NG": (9.1, 8.7),
    "KE": (-0.02, 37.9),
    "EG": (26.8, 30.8),
    "SC": (-4.7, 55.5),
}


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _where(lat: float | None, lon: float | None, country: str | None) -> tuple[float, float] | None:
    if lat is not None and lon is not None:
        return (lat, lon)
    return COUNTRY_CENTROIDS.get(country) if country else None


# Two logins closer than this in distance are "the same place" whatever the time (IP geolocation noise).
TRAVEL_MIN_KM = 300.0


def ingest_login(session: Session, ev: LoginEvent) -> IngestResult:
    at = ev.at or now_utc()
    if not _record(session, "login", ev, at):
        return IngestResult(event_id=ev.event_id, duplicate=True)
    new_device = new_asn = new_country = False
    travel_kmh: float | None = None
    sql, conn = _sql(), session.connection()
    if ev.success:
        key = {"u": ev.user_id, "d": ev.device_fingerprint}
        first_seen = conn.execute(sql.device_get, key).scalar()
        new_device = first_seen is None
        if first_seen is None:
            conn.execute(
                sql.device_put,
                {"user_id": ev.user_id, "device": ev.device_fingerprint, "first_seen_at": at, "last_seen_at": at},
            )
        else:
            conn.execute(sql.device_touch, {**key, "at": at})
        first = at if first_seen is None else min(utc(first_seen), at)
        commit_log.append(session, ev.user_id, "device", {"d": ev.device_fingerprint, "first": first.isoformat()})
        # One round trip: how many earlier successful logins, and how many from this ASN / country.
        seen = conn.execute(sql.login_seen, {"u": ev.user_id, "asn": ev.asn, "country": ev.country}).one()
        if seen[0]:
            new_asn = ev.asn is not None and seen[1] == 0
            new_country = ev.country is not None and seen[2] == 0
        last = conn.execute(sql.login_last, {"u": ev.user_id, "at": at}).first()
        here = _where(ev.latitude, ev.longitude, ev.country)
        if last is not None and here is not None:
            there = _where(last.latitude, last.longitude, last.country)
            if there is not None:
                km = haversine_km(here, there)
                hours = max((at - utc(last.at)).total_seconds() / 3600, 1 / 60)
                travel_kmh = 0.0 if km < TRAVEL_MIN_KM else km / hours
    conn.execute(
        sql.login_put,
        {
            "event_id": ev.event_id,
            "user_id": ev.user_id,
            "at": at,
            "success": ev.success,
            "ip": str(ev.ip),
            "device": ev.device_fingerprint,
            "country": ev.country,
            "asn": ev.asn,
            "latitude": ev.latitude,
            "longitude": ev.longitude,
            "new_device": new_device,
            "new_asn": new_asn,
            "new_country": new_country,
            "travel_kmh": travel_kmh,
        },
    )
    commit_log.append(
        session,
        ev.user_id,
        "login",
        {
            "e": ev.event_id,
            "at": at.isoformat(),
            "ok": ev.success,
            "asn": new_asn,
            "country": new_country,
            "travel": travel_kmh,
        },
    )
    return IngestResult(event_id=ev.event_id, duplicate=False)


def _state(session: Session, user_id: str) -> RiskUserState:
    st = session.get(RiskUserState, user_id)
    if st is None:
        st = RiskUserState(user_id=user_id, allowlist_enabled=False)
        session.add(st)
    return st


def note_credential_change(session: Session, user_id: str, kind: str, at: datetime) -> None:
    st = _state(session, user_id)
    if st.last_credential_change_at is None or utc(st.last_credential_change_at) <= at:
        st.last_credential_change_at = at
        st.last_credential_change_kind = kind
    _log_user(session, st)


def _log_user(session: Session, st: RiskUserState) -> None:
    cred = st.last_credential_change_at
    commit_log.append(
        session,
        st.user_id,
        "user",
        {
            "cred": None if cred is None else utc(cred).isoformat(),
            "kind": st.last_credential_change_kind,
            "allow": bool(st.allowlist_enabled),
            "frozen": st.frozen_at is not None,
        },
    )


def set_frozen(session: Session, user_id: str, frozen: bool, at: datetime) -> None:
    """Freeze (every withdrawal decision blocks, `locks.py`) or unfreeze the account; unfreezing starts the 24 h
    withdrawal lock, as a credential change does. In the caller's transaction, on every worker at its next
    decision (the live log)."""
    st = _state(session, user_id)
    if frozen:
        if st.frozen_at is None:
            st.frozen_at = at
        _log_user(session, st)
    else:
        st.frozen_at = None
        note_credential_change(session, user_id, "unfreeze", at)


def is_frozen(session: Session, user_id: str) -> bool:
    st = session.get(RiskUserState, user_id)
    return st is not None and st.frozen_at is not None


def _had_anti_phishing_code(session: Session, user_id: str, event_id: str) -> bool:
    """Whether an earlier event set this user's anti-phishing code (so this one changes it)."""
    payloads = session.scalars(
        select(RiskEvent.payload).where(
            RiskEvent.user_id == user_id, RiskEvent.kind == "credential_change", RiskEvent.event_id != event_id
        )
    )
    return any(p.get("kind") == "anti_phishing" for p in payloads)


def _log_address(session: Session, row: RiskAddress) -> None:
    commit_log.append(
        session,
        row.user_id,
        "address",
        {"a": row.address, "added": utc(row.added_at).isoformat(), "removed": row.removed_at is not None},
    )


def ingest_credential_change(session: Session, ev: CredentialChangeEvent) -> IngestResult:
    at = ev.at or now_utc()
    if not _record(session, "credential_change", ev, at):
        return IngestResult(event_id=ev.event_id, duplicate=True)
    # Setting a first anti-phishing code protects the user and starts no lock; changing it does (whoever
    # changes it can make phishing mails look genuine), as a password or 2FA change does.
    if ev.kind != "anti_phishing" or _had_anti_phishing_code(session, ev.user_id, ev.event_id):
        note_credential_change(session, ev.user_id, ev.kind, at)
        return IngestResult(event_id=ev.event_id, duplicate=False, withdrawals_locked_until=at + LOCK)
    return IngestResult(event_id=ev.event_id, duplicate=False)


def ingest_address_book(session: Session, ev: AddressBookEvent) -> IngestResult:
    if ev.action in ("add", "remove") and not ev.address:
        raise InvalidInputError("address", f"required for action {ev.action!r}")
    at = ev.at or now_utc()
    if not _record(session, "address_book", ev, at):
        return IngestResult(event_id=ev.event_id, duplicate=True)
    if ev.action == "add":
        assert ev.address is not None
        row = session.get(RiskAddress, (ev.user_id, ev.address))
        if row is None:
            row = RiskAddress(
                user_id=ev.user_id,
                address=ev.address,
                chain=ev.chain,
                label=ev.label,
                added_at=at,
                removed_at=None,
            )
            session.add(row)
        elif row.removed_at is not None:
            row.added_at, row.removed_at, row.chain, row.label = at, None, ev.chain, ev.label
        _log_address(session, row)
    elif ev.action == "remove":
        row = session.get(RiskAddress, (ev.user_id, ev.address))
        if row is not None and row.removed_at is None:
            row.removed_at = at
            _log_address(session, row)
    elif ev.action == "allowlist_on":
        st = _state(session, ev.user_id)
        st.allowlist_enabled = True
        _log_user(session, st)
    else:
        st = _state(session, ev.user_id)
        st.allowlist_enabled = False
        # Turning the allowlist off loosens security like a credential change does: same 24 h lock.
        note_credential_change(session, ev.user_id, "allowlist_off", at)
    return IngestResult(event_id=ev.event_id, duplicate=False)


def ingest_batch(
    session: Session,
    items: list[LoginItem | CredentialChangeItem | AddressBookItem],
    on_credential_change: Callable[[Session, CredentialChangeEvent, IngestResult], None] | None = None,
) -> int:
    """Ingest events in order, all or nothing (the caller commits only if this returns); returns how many
    were new. Errors name the row. `on_credential_change` sees each new credential change with its result
    (the account domain's lock alert, in the same transaction)."""
    new = 0
    for i, item in enumerate(items):
        try:
            if isinstance(item, LoginItem):
                r = ingest_login(session, item)
            elif isinstance(item, CredentialChangeItem):
                r = ingest_credential_change(session, item)
                if on_credential_change is not None and not r.duplicate:
                    on_credential_change(session, item, r)
            else:
                r = ingest_address_book(session, item)
        except InvalidInputError as exc:
            raise InvalidInputError(exc.field, exc.message, row=i) from None
        except ConflictError as exc:
            raise ConflictError(f"row {i}: {exc}") from None
        new += not r.duplicate
    return new


