"""Devices and sessions: every login the exchange's login service reports records its device and its session
id (`sid`, as in the user's session JWTs); a user lists their devices and removes one or all the others, and
the sessions of a removed device stop working at once (`session_refused`, checked on every session request).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime
from typing import Annotated, Any

from annotated_types import MaxLen
from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress
from sqlalchemy import Connection, Select, String, bindparam, func, select, update
from sqlalchemy.orm import Session

from bastion.account import audit
from bastion.account.models import AccountDevice, AccountSession, AccountState
from bastion.bounds import Identifier, LongIdentifier, Text, Timestamp
from bastion.errors import ConflictError, NotFoundError
from bastion.risk import clock as risk_clock
from bastion.risk import ingest as risk_ingest
from bastion.risk import schemas as risk_schemas

SidField = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")


class LoginIn(BaseModel):
    """A successful login, as the exchange's login service reports it (failed ones go to the risk engine's
    `/v1/events/logins`)."""

    model_config = ConfigDict(extra="forbid")
    user_id: Identifier
    sid: str = SidField
    device_fingerprint: LongIdentifier
    user_agent: Annotated[Text, MaxLen(512)] | None = None
    ip: IPvAnyAddress
    asn: int | None = Field(default=None, ge=0, le=4294967295)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    at: Timestamp | None = None


class LoginOut(BaseModel):
    user_id: str
    sid: str
    device_id: str
    new_device: bool
    # The account is frozen: the login service must not let this session in (its tokens are refused anyway).
    frozen: bool


class DeviceOut(BaseModel):
    device_id: str
    user_agent: str | None
    ip: str | None
    country: str | None
    asn: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    active_sessions: int
    current: bool  # the device of the session making this request


class RemovedOut(BaseModel):
    removed_devices: list[str]
    sessions_ended: int
    kept_device_id: str | None = None


def _new_device_id() -> str:
    return "dev_" + secrets.token_hex(12)


def _risk_event_id(sid: str) -> str:
    # The risk engine's event ids are at most 64 characters of a narrow alphabet; a sid may be longer.
    return "account-login:" + hashlib.sha256(sid.encode()).hexdigest()[:40]


def record_login(session: Session, ev: LoginIn, now: datetime) -> LoginOut:
    """Record the login's device and session (the caller commits). A retry of the same login is answered
    again; a sid already used by another user, or one that was ended, is a conflict: an ended session never
    comes back, whoever names it."""
    at = ev.at or now
    known = session.get(AccountSession, ev.sid)
    frozen = _frozen(session, ev.user_id)
    if known is not None:
        if known.user_id != ev.user_id:
            raise ConflictError("sid is already the session of another login")
        if known.ended_at is not None:
            raise ConflictError("sid names a session that was ended; the login service must issue a new sid")
        device = session.get(AccountDevice, known.device_id)
        assert device is not None
        if device.fingerprint != ev.device_fingerprint:
            raise ConflictError("sid is already the session of another device")
        return LoginOut(user_id=ev.user_id, sid=ev.sid, device_id=device.id, new_device=False, frozen=frozen)
    device, new = _login_device(session, ev, at)
    session.add(
        AccountSession(
            sid=ev.sid,
            user_id=ev.user_id,
            device_id=device.id,
            started_at=at,
            ended_at=at if frozen else None,
            end_reason="account_frozen" if frozen else None,
        )
    )
    audit.record(session, ev.user_id, "login", "login-service", at, device_id=device.id, new_device=new, ip=str(ev.ip))
    if new:
        audit.alert(
            session,
            ev.user_id,
            "new_device",
            {
                "device": ev.user_agent or ev.device_fingerprint,
                "device_id": device.id,
                "ip": str(ev.ip),
                "at": at.isoformat(),
                "country": ev.country or "",  # always there: the template tests it
            },
            f"new_device:{device.id}:{at.isoformat()}",
            at,
        )
    # The risk engine sees the same login (devices, new ASN/country, travel), so the login service reports a
    # successful login once, here.
    risk_ingest.ingest_login(
        session,
        risk_schemas.LoginEvent(
            event_id=_risk_event_id(ev.sid),
            user_id=ev.user_id,
            at=at,
            ip=ev.ip,
            device_fingerprint=ev.device_fingerprint,
            user_agent=ev.user_agent,
            country=ev.country,
            asn=ev.asn,
        ),
    )
    return LoginOut(user_id=ev.user_id, sid=ev.sid, device_id=device.id, new_device=new, frozen=frozen)


def _login_device(session: Session, ev: LoginIn, at: datetime) -> tuple[AccountDevice, bool]:
    """The login's device, added or seen again (flushed), and whether it counts as new."""
    device = session.scalars(
        select(AccountDevice)
        .where(AccountDevice.user_id == ev.user_id, AccountDevice.fingerprint == ev.device_fingerprint)
        .with_for_update()
    ).first()
    new = device is None or device.removed_at is not None
    if device is None:
        device = AccountDevice(
            id=_new_device_id(),
            user_id=ev.user_id,
            fingerprint=ev.device_fingerprint,
            first_seen_at=at,
            last_seen_at=at,
        )
        session.add(device)
    elif device.removed_at is not None:  # removed by the user: logging in again makes it new again
        device.removed_at, device.first_seen_at, device.last_seen_at = None, at, at
    else:
        device.last_seen_at = max(risk_clock.utc(device.last_seen_at), at)
    device.user_agent, device.ip, device.asn, device.country = ev.user_agent, str(ev.ip), ev.asn, ev.country
    session.flush()
    return device, new


def _frozen(session: Session, user_id: str) -> bool:
    st = session.get(AccountState, user_id)
    return st is not None and st.frozen_at is not None


def end_sessions(session: Session, user_id: str, reason: str, at: datetime, device_ids: list[str] | None = None) -> int:
    """End the user's open sessions (of these devices, or all); how many."""
    q = update(AccountSession).where(AccountSession.user_id == user_id, AccountSession.ended_at.is_(None))
    if device_ids is not None:
        if not device_ids:
            return 0
        q = q.where(AccountSession.device_id.in_(device_ids))
    res = session.execute(q.values(ended_at=at, end_reason=reason))
    return int(getattr(res, "rowcount", 0) or 0)


def current_device(session: Session, user_id: str, sid: str | None) -> str | None:
    if sid is None:
        return None
    s = session.get(AccountSession, sid)
    return s.device_id if s is not None and s.user_id == user_id else None


def list_devices(session: Session, user_id: str, sid: str | None) -> list[DeviceOut]:
    current = current_device(session, user_id, sid)
    active = dict(
        session.execute(
            select(AccountSession.device_id, func.count())
            .where(AccountSession.user_id == user_id, AccountSession.ended_at.is_(None))
            .group_by(AccountSession.device_id)
        ).all()
    )
    rows = session.scalars(
        select(AccountDevice)
        .where(AccountDevice.user_id == user_id, AccountDevice.removed_at.is_(None))
        .order_by(AccountDevice.last_seen_at.desc(), AccountDevice.id)
    )
    return [
        DeviceOut(
            device_id=d.id,
            user_agent=d.user_agent,
            ip=d.ip,
            country=d.country,
            asn=d.asn,
            first_seen_at=risk_clock.utc(d.first_seen_at),
            last_seen_at=risk_clock.utc(d.last_seen_at),
            active_sessions=int(active.get(d.id, 0)),
            current=d.id == current,
        )
        for d in rows
    ]


def _remove(session: Session, user_id: str, devices: list[AccountDevice], at: datetime, actor: str) -> RemovedOut:
    ids = [d.id for d in devices]
    for d in devices:
        d.removed_at = at
    ended = end_sessions(session, user_id, "device_removed", at, ids)
    for d in devices:
        audit.record(session, user_id, "device_removed", actor, at, device_id=d.id)
        audit.alert(
            session,
            user_id,
            "device_removed",
            {"device": d.user_agent or d.fingerprint, "device_id": d.id, "at": at.isoformat()},
            f"device_removed:{d.id}:{at.isoformat()}",
            at,
        )
    return RemovedOut(removed_devices=ids, sessions_ended=ended)


def remove_device(session: Session, user_id: str, device_id: str, at: datetime) -> RemovedOut:
    """Remove one of the user's devices; another user's device answers exactly as one that does not exist."""
    d = session.scalars(
        select(AccountDevice)
        .where(AccountDevice.id == device_id, AccountDevice.user_id == user_id, AccountDevice.removed_at.is_(None))
        .with_for_update()
    ).first()
    if d is None:
        raise NotFoundError("no such device")
    return _remove(session, user_id, [d], at, "user")


def remove_others(session: Session, user_id: str, sid: str | None, at: datetime) -> RemovedOut:
    """Remove every device but the one of the caller's session (all of them when that session is unknown)."""
    keep = current_device(session, user_id, sid)
    rows = session.scalars(
        select(AccountDevice)
        .where(AccountDevice.user_id == user_id, AccountDevice.removed_at.is_(None))
        .with_for_update()
    ).all()
    out = _remove(session, user_id, [d for d in rows if d.id != keep], at, "user")
    out.kept_device_id = keep
    return out


@functools.cache
def _refusal_statement() -> Select[Any]:
    """One round trip, two primary-key look-ups: the session's end and owner, the user's freeze and cut-off."""
    sid = bindparam("sid", type_=String())
    uid = bindparam("uid", type_=String())
    return select(
        select(AccountSession.ended_at).where(AccountSession.sid == sid).scalar_subquery().label("ended"),
        select(AccountSession.user_id).where(AccountSession.sid == sid).scalar_subquery().label("owner"),
        select(AccountState.frozen_at).where(AccountState.user_id == uid).scalar_subquery().label("frozen"),
        select(AccountState.sessions_not_before).where(AccountState.user_id == uid).scalar_subquery().label("nbf"),
    )


def session_refused(db: Session | Connection, uid: str, sid: str, issued_at: datetime | None) -> str | None:
    """Why a validly signed session token must still be refused, or None: its session was ended (device
    removed, account frozen), its sid is another user's, the account is frozen, or it was issued before the
    account's cut-off (a freeze ends even sessions the login service never reported)."""
    row = db.execute(_refusal_statement(), {"sid": sid, "uid": uid}).one()
    if row.ended is not None:
        return "session ended"
    if row.owner is not None and row.owner != uid:
        return "session ended"
    if row.frozen is not None:
        return "account frozen"
    if row.nbf is not None and (issued_at is None or issued_at < risk_clock.utc(row.nbf)):
        return "session ended"
    return None
