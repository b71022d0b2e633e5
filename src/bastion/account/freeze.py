"""Freeze and recovery.

A freeze (the user in one step, an operator, or a service such as the risk engine on a confirmed takeover)
at once: blocks every withdrawal decision (`risk/decide/locks.py`, through the live log, on every worker), cancels
the withdrawals held for review, ends every session (also tokens the login service never reported: any
token issued before the freeze is refused), makes the user's API keys answer OKX's 50007 (`keys/auth.py`),
and alerts the user. All in one transaction.

Unfreezing is an operator case: one credential opens it, another closes it after re-verifying the user's
identity (who, how, the evidence's reference), and the withdrawal lock of 24 hours starts then. Every step
is in `account_audit`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.account import audit, devices
from bastion.account.models import AccountState, AccountUnfreezeCase
from bastion.bounds import Identifier, LongIdentifier, Text
from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.keys.authcache import announce_change
from bastion.risk import clock as risk_clock
from bastion.risk import ingest as risk_ingest
from bastion.risk import review as risk_review
from bastion.risk.decide.locks import LOCK
from bastion.risk.models import RiskUserState

Source = Literal["user", "operator", "service"]
VerificationMethod = Literal["video_call", "id_document", "in_person", "kyc_provider"]


class FreezeOut(BaseModel):
    user_id: str
    frozen: bool
    frozen_at: datetime | None
    sessions_ended: int
    reviews_cancelled: list[int]
    already_frozen: bool = False


class StateOut(BaseModel):
    user_id: str
    frozen: bool
    frozen_at: datetime | None
    frozen_by: str | None
    frozen_reason: str | None
    withdrawals_locked_until: datetime | None
    open_case: int | None


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Identifier
    note: Text | None = None
    actor: Identifier | None = None  # the person pressing the button (the credential is recorded too)


class UnfreezeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verification_method: VerificationMethod
    evidence_ref: LongIdentifier  # where the evidence lives in the case system (never the evidence itself)
    verified_by: Identifier  # the person who re-verified the user's identity


class CaseOut(BaseModel):
    id: int
    user_id: str
    status: str
    opened_by: str
    opened_at: datetime
    note: str | None
    verified_by: str | None
    verification_method: str | None
    evidence_ref: str | None
    closed_at: datetime | None
    withdrawals_locked_until: datetime | None = None


def _state(session: Session, user_id: str) -> AccountState:
    st = session.scalars(select(AccountState).where(AccountState.user_id == user_id).with_for_update()).first()
    if st is None:
        st = AccountState(user_id=user_id)
        session.add(st)
        session.flush()  # two concurrent first freezes: one waits on the key here, the route retries it
    return st


def freeze(session: Session, user_id: str, *, source: Source, by: str, reason: str | None, at: datetime) -> FreezeOut:
    st = _state(session, user_id)
    already = st.frozen_at is not None
    if not already:
        st.frozen_at, st.frozen_by, st.frozen_reason = at, f"{source}:{by}"[:128], (reason or "")[:256] or None
    # Even when already frozen: sessions the login service reported since are ended again, nothing loosens.
    nbf = risk_clock.utc(st.sessions_not_before) if st.sessions_not_before else None
    st.sessions_not_before = at if nbf is None else max(nbf, at)
    ended = devices.end_sessions(session, user_id, "account_frozen", at)
    risk_ingest.set_frozen(session, user_id, True, at)
    announce_change(session)  # the API keys' cached "account not frozen" is dropped in every process
    cancelled = risk_review.block_pending(session, user_id, f"account_frozen:{source}", at)
    audit.record(
        session,
        user_id,
        "freeze",
        f"{source}:{by}",
        at,
        reason=reason,
        sessions_ended=ended,
        reviews_cancelled=cancelled,
        already_frozen=already,
    )
    if not already:
        audit.alert(
            session,
            user_id,
            "account_frozen",
            {"at": at.isoformat(), "by": source},
            f"account_frozen:{user_id}:{at.isoformat()}",
            at,
        )
    return FreezeOut(
        user_id=user_id,
        frozen=True,
        frozen_at=risk_clock.utc(st.frozen_at) if st.frozen_at else at,
        sessions_ended=ended,
        reviews_cancelled=cancelled,
        already_frozen=already,
    )


def state(session: Session, user_id: str, at: datetime) -> StateOut:
    st = session.get(AccountState, user_id)
    risk = session.get(RiskUserState, user_id)
    until = None
    if risk is not None and risk.last_credential_change_at is not None:
        end = risk_clock.utc(risk.last_credential_change_at) + LOCK
        until = end if at < end else None
    case = session.scalars(
        select(AccountUnfreezeCase.id).where(
            AccountUnfreezeCase.user_id == user_id, AccountUnfreezeCase.status == "open"
        )
    ).first()
    frozen_at = st.frozen_at if st is not None else None
    return StateOut(
        user_id=user_id,
        frozen=frozen_at is not None,
        frozen_at=risk_clock.utc(frozen_at) if frozen_at else None,
        frozen_by=st.frozen_by if st else None,
        frozen_reason=st.frozen_reason if st else None,
        withdrawals_locked_until=until,
        open_case=case,
    )


def _case_out(c: AccountUnfreezeCase, until: datetime | None = None) -> CaseOut:
    return CaseOut(
        id=c.id,
        user_id=c.user_id,
        status=c.status,
        opened_by=c.opened_by,
        opened_at=risk_clock.utc(c.opened_at),
        note=c.note,
        verified_by=c.verified_by,
        verification_method=c.verification_method,
        evidence_ref=c.evidence_ref,
        closed_at=risk_clock.utc(c.closed_at) if c.closed_at else None,
        withdrawals_locked_until=until,
    )


def open_case(session: Session, body: CaseIn, *, by: str, at: datetime) -> CaseOut:
    st = _state(session, body.user_id)
    if st.frozen_at is None:
        raise ConflictError(f"account {body.user_id!r} is not frozen")
    if session.scalars(
        select(AccountUnfreezeCase.id).where(
            AccountUnfreezeCase.user_id == body.user_id, AccountUnfreezeCase.status == "open"
        )
    ).first():
        raise ConflictError(f"account {body.user_id!r} already has an open unfreeze case")
    c = AccountUnfreezeCase(user_id=body.user_id, opened_by=by[:128], opened_at=at, note=body.note, status="open")
    session.add(c)
    session.flush()
    audit.record(session, body.user_id, "unfreeze_case_opened", by, at, case_id=c.id, note=body.note)
    return _case_out(c)


def credential_of(actor: str) -> str:
    """The credential part of an acting-credential string ('<credential> for <person>')."""
    return actor.split(" for ", 1)[0]


def unfreeze(session: Session, case_id: int, body: UnfreezeIn, *, by: str, at: datetime) -> CaseOut:
    """Close the case: the identity re-verification recorded, the account unfrozen, withdrawals locked 24 h."""
    c = session.scalars(select(AccountUnfreezeCase).where(AccountUnfreezeCase.id == case_id).with_for_update()).first()
    if c is None:
        raise NotFoundError(f"unfreeze case {case_id} does not exist")
    if c.status != "open":
        raise ConflictError(f"unfreeze case {case_id} is {c.status}")
    if credential_of(by) == credential_of(c.opened_by):
        raise ConflictError("four eyes: the credential that opened the case cannot also close it")
    if not body.evidence_ref.strip():
        raise InvalidInputError("evidence_ref", "required: the reference of the identity evidence")
    st = _state(session, c.user_id)
    c.status, c.closed_at = "unfrozen", at
    # Who verified: the acting credential with the person it names ('<credential> for <person>'), never the body alone.
    c.verified_by, c.verification_method, c.evidence_ref = by[:128], body.verification_method, body.evidence_ref
    st.frozen_at, st.frozen_by, st.frozen_reason = None, None, None
    # Sessions start afresh: a token the login service minted while the account was frozen stays refused.
    st.sessions_not_before = at
    risk_ingest.set_frozen(session, c.user_id, False, at)  # starts the 24 h withdrawal lock
    announce_change(session)  # the API keys' cached "account frozen" is dropped in every process
    # Withdrawals decided while the freeze was being committed (in flight on another worker) may have been
    # held after the freeze cancelled the held ones; none of them was the user's to approve: cancel them now.
    risk_review.block_pending(session, c.user_id, "account_frozen:unfreeze", at)
    until = at + LOCK
    audit.record(
        session,
        c.user_id,
        "unfrozen",
        by,
        at,
        case_id=c.id,
        verified_by=body.verified_by,
        verification_method=body.verification_method,
        evidence_ref=body.evidence_ref,
        withdrawals_locked_until=until.isoformat(),
    )
    audit.alert(
        session,
        c.user_id,
        "account_unfrozen",
        {"at": at.isoformat(), "lock_until": until.isoformat()},
        f"account_unfrozen:{c.id}",
        at,
    )
    return _case_out(c, until)


def cases(session: Session, user_id: str) -> list[CaseOut]:
    rows = session.scalars(
        select(AccountUnfreezeCase).where(AccountUnfreezeCase.user_id == user_id).order_by(AccountUnfreezeCase.id)
    )
    return [_case_out(c) for c in rows]


def is_frozen(session: Session, user_id: str) -> bool:
    """For the API-key check (`keys/auth.py`): one primary-key look-up."""
    st = session.get(AccountState, user_id)
    return st is not None and st.frozen_at is not None
