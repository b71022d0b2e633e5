"""Due-diligence requests: opened by a trigger (or an operator), answered by the user (questionnaire and
documents, sealed at rest), decided by an operator; withdrawals above the active triggers' `hold_over_usd` are
held (`risk.holds`, reason `due_diligence`) while the user has a request that is not approved.

States: `open` (waiting for the user) -> `answered` -> `approved` | `rejected`; `overdue` is an open request
past its deadline, computed with the caller's clock, never stored. A rejected request keeps the hold (the
user failed due diligence: the exchange's offboarding decides what follows). Every change and every read of
a user's answers or documents by an operator is in `diligence_audit` with the acting credential's name.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from annotated_types import Le, MaxLen, MinLen
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bastion.bounds import Identifier, NonNegativeMoney, PositiveMoney, Text, Timestamp
from bastion.db.sealing import Keyring
from bastion.diligence import alerts
from bastion.diligence import documents as docs
from bastion.diligence import rules as dd_rules
from bastion.diligence.models import (
    DiligenceAnswer,
    DiligenceAudit,
    DiligenceDeposit,
    DiligenceDocument,
    DiligenceRequest,
)
from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.risk import holds as account_holds

Status = Literal["open", "answered", "approved", "rejected"]
State = Literal["open", "answered", "approved", "rejected", "overdue"]
UNDECIDED = ("open", "answered")
# Requests that hold the user's larger withdrawals: every one not approved.
HOLDING = ("open", "answered", "rejected")
Purpose = Literal["source_of_funds", "source_of_wealth"]


def sealer(key_material: bytes) -> Keyring:
    return Keyring.derived(key_material, "diligence")


def _answer_context(r: DiligenceRequest) -> bytes:
    return f"diligence-answer:{r.id}:{r.user_id}".encode()


def _document_context(r: DiligenceRequest) -> bytes:
    return f"diligence-document:{r.id}:{r.user_id}".encode()


def state_of(r: DiligenceRequest, now: datetime) -> State:
    if r.status == "open" and r.due_at <= now:
        return "overdue"
    return r.status  # type: ignore[return-value]


def _audit(session: Session, r: DiligenceRequest | None, action: str, actor: str, at: datetime, **detail: Any) -> None:
    session.add(
        DiligenceAudit(
            request_id=None if r is None else r.id,
            user_id=None if r is None else r.user_id,
            action=action,
            actor=actor,
            at=at,
            detail=detail,
        )
    )


# ------------------------------------------------------------------------------------------- opening
def refresh_hold(session: Session, user_id: str, at: datetime) -> None:
    """Place or lift the user's `due_diligence` hold to match their requests."""
    session.flush()
    holding = session.scalar(
        select(func.count()).where(DiligenceRequest.user_id == user_id, DiligenceRequest.status.in_(HOLDING))
    )
    if holding:
        _, triggers = dd_rules.active(session)
        account_holds.place(session, user_id, account_holds.DUE_DILIGENCE, triggers.hold_over_usd, at)
    else:
        account_holds.lift(session, user_id, account_holds.DUE_DILIGENCE)


def refresh_all_holds(session: Session, at: datetime) -> int:
    """Every held user's limit to the active triggers' `hold_over_usd` (after a new version is activated)."""
    users = session.scalars(select(DiligenceRequest.user_id).where(DiligenceRequest.status.in_(HOLDING)).distinct())
    n = 0
    for user_id in list(users):
        refresh_hold(session, user_id, at)
        n += 1
    return n


def open_request(
    session: Session, user_id: str, reason: dd_rules.Reason, detail: dict[str, Any], actor: str, at: datetime
) -> tuple[DiligenceRequest, bool]:
    """Open a request (and the hold, and the user's alert); an undecided one for this user and reason is
    returned instead (False). Two racing openers meet on the unique `open_key`: the loser's commit fails and
    its retry finds the winner's request."""
    key = f"{user_id}|{reason}"
    found = session.scalars(select(DiligenceRequest).where(DiligenceRequest.open_key == key)).first()
    if found is not None:
        return found, False
    version, triggers = dd_rules.active(session)
    r = DiligenceRequest(
        user_id=user_id,
        reason=reason,
        status="open",
        open_key=key,
        detail=detail,
        rules_version=version,
        opened_at=at,
        due_at=triggers.deadline(at),
    )
    session.add(r)
    session.flush()
    _audit(session, r, "opened", actor, at, reason=reason, **detail)
    refresh_hold(session, user_id, at)
    alerts.request_opened(session, user_id, r.id, r.due_at, at)
    return r, True


class DepositSignal(BaseModel):
    """A credited deposit (counted once per event id towards the 30-day sum)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["deposit"]
    event_id: Identifier
    user_id: Identifier
    amount_usd: PositiveMoney
    at: Timestamp


class RiskScoreSignal(BaseModel):
    """A withdrawal risk score reported for the user (e.g. the decision's `score`)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["risk_score"]
    user_id: Identifier
    score: float = Field(ge=0, le=1e6, allow_inf_nan=False)
    ref: Identifier | None = None
    at: Timestamp


class JurisdictionSignal(BaseModel):
    """The user's jurisdiction (residence or nationality), as known at `at`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["jurisdiction"]
    user_id: Identifier
    country: dd_rules.Country
    at: Timestamp


Signal = Annotated[DepositSignal | RiskScoreSignal | JurisdictionSignal, Discriminator("type")]


class SignalOut(BaseModel):
    user_id: str
    triggered: bool
    request_id: int | None = None
    created: bool = False


def ingest(session: Session, sig: Signal, actor: str) -> SignalOut:
    """One fact; opens a request when the active triggers say so (idempotent: a repeat opens nothing)."""
    version, t = dd_rules.active(session)
    reason: dd_rules.Reason | None = None
    detail: dict[str, Any] = {"rules_version": version}
    if isinstance(sig, DepositSignal):
        if session.get(DiligenceDeposit, sig.event_id) is None:
            session.add(
                DiligenceDeposit(event_id=sig.event_id, user_id=sig.user_id, amount_usd=sig.amount_usd, at=sig.at)
            )
            session.flush()
        if t.deposits_30d_usd is not None:
            total = _deposits_30d(session, sig.user_id, sig.at)
            if total >= t.deposits_30d_usd:
                reason = "deposits_30d"
                detail |= {"deposits_30d_usd": str(total), "threshold_usd": str(t.deposits_30d_usd)}
    elif isinstance(sig, RiskScoreSignal):
        if t.risk_score_at_least is not None and sig.score >= t.risk_score_at_least:
            reason = "risk_score"
            detail |= {"score": str(sig.score), "threshold": str(t.risk_score_at_least), "ref": sig.ref or ""}
    elif sig.country in t.high_risk_jurisdictions:
        reason = "jurisdiction"
        detail |= {"country": sig.country}
    if reason is None:
        return SignalOut(user_id=sig.user_id, triggered=False)
    r, created = open_request(session, sig.user_id, reason, detail, actor, sig.at)
    return SignalOut(user_id=sig.user_id, triggered=True, request_id=r.id, created=created)


def scan_risk_scores(session: Session, since: datetime, until: datetime, actor: str) -> list[SignalOut]:
    """The `risk_score` trigger from the risk engine's own stored decisions in [since, until): each user's
    highest score there, as a signal (so no feed has to relay scores); idempotent like any signal."""
    from bastion.risk.models import RiskDecision as D

    _, t = dd_rules.active(session)
    if t.risk_score_at_least is None:
        return []
    rows = session.execute(
        select(D.user_id, func.max(D.score), func.max(D.requested_at))
        .where(D.requested_at >= since, D.requested_at < until, D.score >= t.risk_score_at_least)
        .group_by(D.user_id)
        .order_by(D.user_id)
    ).all()
    out = []
    for user_id, score, at in rows:
        sig = RiskScoreSignal(type="risk_score", user_id=user_id, score=float(score), ref="risk_decisions", at=at)
        out.append(ingest(session, sig, actor))
    return out


def _deposits_30d(session: Session, user_id: str, at: datetime) -> Decimal:
    rows = session.scalars(
        select(DiligenceDeposit.amount_usd).where(
            DiligenceDeposit.user_id == user_id,
            DiligenceDeposit.at > at - dd_rules.WINDOW,
            DiligenceDeposit.at <= at,
        )
    )
    # Summed here, exactly: SQLite keeps these amounts as text.
    return sum(rows, Decimal(0))


# ------------------------------------------------------------------------------------------- the user
def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be blank")
    return v


# Text (no control characters but line breaks) of bounded length, not blank.
Line = Annotated[Text, MinLen(2), MaxLen(200), AfterValidator(_not_blank)]
Paragraph = Annotated[Text, MinLen(2), AfterValidator(_not_blank)]
IncomeSource = Literal[
    "employment", "self_employment", "business", "investments", "pension", "inheritance", "savings", "other"
]


class Questionnaire(BaseModel):
    """The user's answers: who they are economically and what they will do with the account."""

    model_config = ConfigDict(extra="forbid")
    occupation: Line
    employer: Line | None = None
    source_of_income: IncomeSource
    source_of_income_detail: Text | None = None
    expected_monthly_volume_usd: Annotated[NonNegativeMoney, Le(Decimal(10) ** 12)]
    expected_activity: Paragraph
    source_of_funds: Paragraph
    source_of_wealth: Paragraph | None = None


class DocumentOut(BaseModel):
    id: int
    purpose: str
    media_type: str
    size: int
    uploaded_at: datetime


class MyRequestOut(BaseModel):
    """What the user sees of their request. Not why it was opened: telling a user which signal (a risk
    score, a report) caused it could tip them off."""

    id: int
    state: State
    opened_at: datetime
    due_at: datetime
    answered: bool
    answered_at: datetime | None
    decided_at: datetime | None
    documents: list[DocumentOut]


def _documents(session: Session, r: DiligenceRequest) -> list[DocumentOut]:
    rows = session.scalars(
        select(DiligenceDocument).where(DiligenceDocument.request_id == r.id).order_by(DiligenceDocument.id)
    )
    return [
        DocumentOut(id=d.id, purpose=d.purpose, media_type=d.media_type, size=d.size, uploaded_at=d.uploaded_at)
        for d in rows
    ]


def _answered(session: Session, r: DiligenceRequest) -> bool:
    return session.get(DiligenceAnswer, r.id) is not None


def _mine(session: Session, user_id: str, request_id: int, lock: bool = False) -> DiligenceRequest:
    """The user's own request; another user's and a missing one are the same 404."""
    q = select(DiligenceRequest).where(DiligenceRequest.id == request_id, DiligenceRequest.user_id == user_id)
    r = session.scalars(q.with_for_update() if lock else q).first()
    if r is None:
        raise NotFoundError("due-diligence request not found")
    return r


def myqueue_row(session: Session, r: DiligenceRequest, now: datetime) -> MyRequestOut:
    return MyRequestOut(
        id=r.id,
        state=state_of(r, now),
        opened_at=r.opened_at,
        due_at=r.due_at,
        answered=_answered(session, r),
        answered_at=r.answered_at,
        decided_at=r.decided_at,
        documents=_documents(session, r),
    )


def my_requests(session: Session, user_id: str, now: datetime) -> list[MyRequestOut]:
    rows = session.scalars(
        select(DiligenceRequest).where(DiligenceRequest.user_id == user_id).order_by(DiligenceRequest.id.desc())
    )
    return [myqueue_row(session, r, now) for r in rows]


def my_request(session: Session, user_id: str, request_id: int, now: datetime) -> MyRequestOut:
    return myqueue_row(session, _mine(session, user_id, request_id), now)


def _undecided(r: DiligenceRequest) -> None:
    if r.status not in UNDECIDED:
        raise ConflictError(f"due-diligence request {r.id} is already {r.status}")


def answer(
    session: Session, box: Keyring, user_id: str, request_id: int, q: Questionnaire, at: datetime
) -> MyRequestOut:
    """Store (or replace, until decided) the user's answers, sealed; the request is then `answered`."""
    r = _mine(session, user_id, request_id, lock=True)
    _undecided(r)
    plain = json.dumps(q.model_dump(mode="json"), sort_keys=True).encode()
    sealed = box.seal(plain, _answer_context(r))
    row = session.get(DiligenceAnswer, r.id)
    if row is None:
        session.add(DiligenceAnswer(request_id=r.id, sealed=sealed, answered_at=at))
    else:
        row.sealed, row.answered_at = sealed, at
    r.status, r.answered_at = "answered", at
    _audit(session, r, "answered", f"user:{user_id}", at)
    session.flush()
    return myqueue_row(session, r, at)


def add_document(
    session: Session,
    box: Keyring,
    user_id: str,
    request_id: int,
    purpose: Purpose,
    data: bytes,
    max_bytes: int,
    max_documents: int,
    at: datetime,
) -> DocumentOut:
    """Check the document by its content and size, seal it and attach it to the user's undecided request."""
    r = _mine(session, user_id, request_id, lock=True)
    _undecided(r)
    if len(data) > max_bytes:
        raise docs.too_large(max_bytes)
    mime = docs.media_type(data)
    count = session.scalar(select(func.count()).where(DiligenceDocument.request_id == r.id)) or 0
    if count >= max_documents:
        raise InvalidInputError("file", f"this request already holds {max_documents} documents")
    d = DiligenceDocument(
        request_id=r.id,
        purpose=purpose,
        media_type=mime,
        size=len(data),
        sealed=box.seal(data, _document_context(r)),
        uploaded_at=at,
    )
    session.add(d)
    session.flush()
    _audit(session, r, "document_added", f"user:{user_id}", at, document_id=d.id, purpose=purpose, media_type=mime)
    return DocumentOut(id=d.id, purpose=purpose, media_type=mime, size=d.size, uploaded_at=at)


# ---------------------------------------------------------------------------------------- operators
class AuditOut(BaseModel):
    action: str
    actor: str
    at: datetime
    detail: dict[str, Any]


class RequestOut(BaseModel):
    """The operator's view of a request (the queue's rows: no answers)."""

    id: int
    user_id: str
    reason: str
    state: State
    detail: dict[str, Any]
    rules_version: int
    opened_at: datetime
    due_at: datetime
    answered_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None
    purged_at: datetime | None
    documents: int


class RequestDetailOut(RequestOut):
    answers: dict[str, Any] | None
    document_list: list[DocumentOut]
    trail: list[AuditOut]


def queue_row(session: Session, r: DiligenceRequest, now: datetime) -> RequestOut:
    n = session.scalar(select(func.count()).where(DiligenceDocument.request_id == r.id)) or 0
    return RequestOut(
        id=r.id,
        user_id=r.user_id,
        reason=r.reason,
        state=state_of(r, now),
        detail=r.detail,
        rules_version=r.rules_version,
        opened_at=r.opened_at,
        due_at=r.due_at,
        answered_at=r.answered_at,
        decided_at=r.decided_at,
        decided_by=r.decided_by,
        decision_note=r.decision_note,
        purged_at=r.purged_at,
        documents=int(n),
    )


def _get(session: Session, request_id: int, lock: bool = False) -> DiligenceRequest:
    q = select(DiligenceRequest).where(DiligenceRequest.id == request_id)
    r = session.scalars(q.with_for_update() if lock else q).first()
    if r is None:
        raise NotFoundError(f"due-diligence request {request_id} does not exist")
    return r


def queue(
    session: Session, now: datetime, state: State | None = None, limit: int = 100, offset: int = 0
) -> list[RequestOut]:
    """Requests, deadline first; by state (overdue: open past the deadline at `now`; open: not yet past)."""
    q = select(DiligenceRequest)
    if state == "overdue":
        q = q.where(DiligenceRequest.status == "open", DiligenceRequest.due_at <= now)
    elif state == "open":
        q = q.where(DiligenceRequest.status == "open", DiligenceRequest.due_at > now)
    elif state is not None:
        q = q.where(DiligenceRequest.status == state)
    rows = session.scalars(q.order_by(DiligenceRequest.due_at, DiligenceRequest.id).limit(limit).offset(offset))
    return [queue_row(session, r, now) for r in rows]


def detail(session: Session, box: Keyring, request_id: int, actor: str, now: datetime) -> RequestDetailOut:
    """Everything about a request, answers opened; the read is audited (personal data)."""
    r = _get(session, request_id)
    row = session.get(DiligenceAnswer, r.id)
    answers = None if row is None else json.loads(box.open(row.sealed, _answer_context(r)))
    if row is not None:
        _audit(session, r, "answers_read", actor, now)
    trail = session.scalars(select(DiligenceAudit).where(DiligenceAudit.request_id == r.id).order_by(DiligenceAudit.id))
    return RequestDetailOut(
        **queue_row(session, r, now).model_dump(),
        answers=answers,
        document_list=_documents(session, r),
        trail=[AuditOut(action=a.action, actor=a.actor, at=a.at, detail=a.detail) for a in trail],
    )


def document(
    session: Session, box: Keyring, request_id: int, document_id: int, actor: str, at: datetime
) -> tuple[bytes, str]:
    """A document's bytes and type, for an operator; the read is audited."""
    r = _get(session, request_id)
    d = session.get(DiligenceDocument, document_id)
    if d is None or d.request_id != r.id:
        raise NotFoundError(f"document {document_id} of request {request_id} does not exist")
    _audit(session, r, "document_read", actor, at, document_id=d.id)
    return box.open(d.sealed, _document_context(r)), d.media_type


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["approve", "reject"]
    # The person who decided, beside the credential (the trail shows "<credential> for <person>").
    officer: Identifier | None = None
    note: Text | None = None


def decide(session: Session, request_id: int, action: Literal["approve", "reject"], actor: str,
           note: str | None, at: datetime) -> RequestOut:  # fmt: skip
    """Approve (answered requests only) or reject; the same outcome again is a no-op, the other one a 409."""
    r = _get(session, request_id, lock=True)
    outcome = "approved" if action == "approve" else "rejected"
    if r.status == outcome:
        return queue_row(session, r, at)
    _undecided(r)
    if outcome == "approved" and r.status != "answered":
        raise ConflictError(f"due-diligence request {r.id} is not answered yet: it can be rejected, not approved")
    r.status, r.open_key, r.decided_at, r.decided_by, r.decision_note = outcome, None, at, actor, note
    _audit(session, r, outcome, actor, at, note=note or "")
    refresh_hold(session, r.user_id, at)
    return queue_row(session, r, at)


class OperatorRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Identifier
    officer: Identifier | None = None
    note: Text | None = None


# ------------------------------------------------------------------------------------------ retention
class PurgeOut(BaseModel):
    before: datetime
    requests: int
    answers: int
    documents: int
    deposits: int


def purge(session: Session, now: datetime, retention_days: int, actor: str) -> PurgeOut:
    """Delete the answers and documents of requests decided more than `retention_days` before `now`, and
    deposit records older than that; the requests stay (purged_at set) with their audit trail."""
    before = now - timedelta(days=retention_days)
    due = list(
        session.scalars(
            select(DiligenceRequest).where(
                DiligenceRequest.status.in_(("approved", "rejected")),
                DiligenceRequest.decided_at < before,
                DiligenceRequest.purged_at.is_(None),
            )
        )
    )
    ids = [r.id for r in due]
    answers = documents = 0
    for part in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        answers += _deleted(session.execute(delete(DiligenceAnswer).where(DiligenceAnswer.request_id.in_(part))))
        documents += _deleted(session.execute(delete(DiligenceDocument).where(DiligenceDocument.request_id.in_(part))))
    for r in due:
        r.purged_at = now
        _audit(session, r, "purged", actor, now, retention_days=retention_days)
    deposits = _deleted(session.execute(delete(DiligenceDeposit).where(DiligenceDeposit.at < before)))
    out = PurgeOut(before=before, requests=len(due), answers=answers, documents=documents, deposits=deposits)
    _audit(session, None, "purge", actor, now, **{k: str(v) for k, v in out.model_dump(mode="json").items()})
    session.flush()
    return out


def _deleted(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
