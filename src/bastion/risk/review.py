"""The analysts' queue of held withdrawals: list, approve or reject, with an audit trail; each outcome is a
label for the learned model (rejected = fraud, approved = legitimate)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.bounds import Identifier, Text, Timestamp
from bastion.errors import ConflictError, NotFoundError
from bastion.risk.clock import now_utc, utc
from bastion.risk.decide import score
from bastion.risk.decide.decision import DecisionOut, stored_answer
from bastion.risk.decide.locks import lock_for
from bastion.risk.ingest import is_frozen
from bastion.risk.models import RiskDecision, RiskReviewAction
from bastion.risk.state import commit_log


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored

    action: Literal["approve", "reject"]
    analyst: Identifier
    note: Text | None = None
    at: Timestamp | None = None


class ReviewActionOut(BaseModel):
    action: str
    analyst: str
    note: str | None
    at: datetime


def pending(session: Session, limit: int = 100, offset: int = 0) -> list[DecisionOut]:
    rows = session.scalars(
        select(RiskDecision)
        .where(RiskDecision.review_status == "pending")
        .order_by(RiskDecision.requested_at, RiskDecision.id)
        .limit(limit)
        .offset(offset)
    )
    return [stored_answer(d, duplicate=False) for d in rows]


def trail(session: Session, decision_id: int) -> list[ReviewActionOut]:
    rows = session.scalars(
        select(RiskReviewAction).where(RiskReviewAction.decision_id == decision_id).order_by(RiskReviewAction.id)
    )
    return [ReviewActionOut(action=r.action, analyst=r.analyst, note=r.note, at=utc(r.at)) for r in rows]


def review(session: Session, decision_id: int, r: ReviewIn) -> DecisionOut:
    """Approve or reject a held withdrawal. Repeating the same outcome is a no-op; the opposite is refused."""
    d = session.scalars(select(RiskDecision).where(RiskDecision.id == decision_id).with_for_update()).first()
    if d is None:
        raise NotFoundError(f"decision {decision_id} does not exist")
    outcome = "approved" if r.action == "approve" else "rejected"
    if d.review_status is None:
        raise ConflictError(f"decision {decision_id} was {d.decision}ed, not held for review")
    if d.review_status == outcome:
        return stored_answer(d, duplicate=True)
    if d.review_status != "pending":
        raise ConflictError(f"decision {decision_id} is already {d.review_status}")
    if outcome == "approved" and is_frozen(session, d.user_id):
        raise ConflictError(f"decision {decision_id}: the account is frozen; its withdrawals cannot be approved")
    at = r.at or now_utc()
    if outcome == "approved":
        # A hard lock that began while the withdrawal waited (a password or 2FA change, allowlist-only switched
        # off) outranks the analyst, as it outranks a passed step-up: approving would release the money the lock
        # exists to keep.
        lock = lock_for(session, d.user_id, d.address, at)
        if lock is not None:
            until = f" until {lock.until.isoformat()}" if lock.until else ""
            raise ConflictError(f"decision {decision_id}: withdrawals are locked ({lock.reason}){until}")
    d.review_status, d.reviewed_by, d.reviewed_at = outcome, r.analyst, at
    session.add(RiskReviewAction(decision_id=d.id, action=r.action, analyst=r.analyst, note=r.note, at=at))
    score.learn(session, d.features, fraud=(outcome == "rejected"))
    commit_log.append(
        session,
        d.user_id,
        "review",
        {"e": d.event_id, "a": d.address, "at": utc(d.requested_at).isoformat(), "r": outcome},
    )
    return stored_answer(d, duplicate=False)


def block_pending(session: Session, user_id: str, by: str, at: datetime) -> list[int]:
    """Cancel every withdrawal of `user_id` held for review (the account was frozen): rejected, with the
    reason in the audit trail, and not taught to the model (a freeze says nothing about that withdrawal)."""
    rows = session.scalars(
        select(RiskDecision)
        .where(RiskDecision.user_id == user_id, RiskDecision.review_status == "pending")
        .with_for_update()
    ).all()
    for d in rows:
        d.review_status, d.reviewed_by, d.reviewed_at = "rejected", by[:64], at
        session.add(RiskReviewAction(decision_id=d.id, action="reject", analyst=by[:64], note="account_frozen", at=at))
        commit_log.append(
            session,
            d.user_id,
            "review",
            {"e": d.event_id, "a": d.address, "at": utc(d.requested_at).isoformat(), "r": "rejected"},
        )
    return [d.id for d in rows]
