"""What happens to transfers, deposits and wallets: every state change audited (`travel_rule_audit`) and, where
the user is concerned, an alert written to the outbox in the same transaction (`bastion.notify.outbox`).

Functions take the session (the caller commits), a `Context` (who we are, the sealer, the clock) and return what
the routes answer. Outgoing messages are prepared here and delivered by the caller after its commit, so no
database transaction is held open across a network call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bastion.bounds import LongIdentifier
from bastion.db.sealing import Keyring
from bastion.errors import ConflictError, InvalidInputError, NotFoundError
from bastion.notify.outbox import enqueue
from bastion.travel_rule import directory, ownership, protocol
from bastion.travel_rule import rules as tr_rules
from bastion.travel_rule.ivms101 import (
    Beneficiary,
    BeneficiaryVASP,
    IdentityPayload,
    OriginatingVASP,
    Originator,
    vasp_person,
)
from bastion.travel_rule.models import (
    TravelRuleAudit,
    TravelRuleDeposit,
    TravelRuleMessage,
    TravelRuleTransfer,
    TravelRuleWallet,
)
from bastion.travel_rule.protocol import Identity, Message, MessageRefused

SEAL_PURPOSE = "travel_rule"


@dataclass
class Context:
    me: Identity
    sealer: Keyring
    now: datetime
    hold_days: int = 14
    window_seconds: int = 300
    actor: str = "system"


@dataclass
class Outgoing:
    """A signed message to deliver after the commit, and the row that records it."""

    url: str
    token: str
    message_row_id: int
    transfer_id: str
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- audit
def audit(session: Session, ctx: Context, action: str, subject: str, **detail: Any) -> None:
    clean = {k: (str(v) if isinstance(v, Decimal | datetime) else v) for k, v in detail.items()}
    session.add(TravelRuleAudit(at=ctx.now, actor=ctx.actor[:128], action=action, subject=subject, detail=clean))


def _alert(session: Session, ctx: Context, dep: TravelRuleDeposit, kind: str, cause: str = "", **data: str) -> None:
    body = {"deposit_id": str(dep.id), "asset": dep.asset, "amount": _fmt(dep.amount), "txid": dep.txid, **data}
    key = f"{kind}:{dep.id}" + (f":{cause}" if cause else "")  # a second hold (inquiry rejected) alerts again
    enqueue(session, user_id=dep.user_id, kind=kind, data=body, dedupe_key=key, now=ctx.now)


def _fmt(d: Decimal) -> str:
    return format(d.normalize(), "f") if d != 0 else "0"


def _seal(ctx: Context, data: dict[str, Any], context: str) -> bytes:
    return ctx.sealer.seal(json.dumps(data, sort_keys=True).encode(), context.encode())


def unseal(sealer: Keyring, blob: bytes, context: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(sealer.open(blob, context.encode()))
    return out


def _message_context(sender: str, message_id: str) -> str:
    return f"travel_rule:message:{sender}:{message_id}"


def _transfer_context(transfer_id: str, role: str) -> str:
    return f"travel_rule:transfer:{transfer_id}:{role}"


def _deposit_context(ref: str) -> str:
    return f"travel_rule:deposit:{ref}"


def _record(session: Session, ctx: Context, m: Message, token: str, direction: str, status: str) -> TravelRuleMessage:
    row = TravelRuleMessage(
        message_id=m.id,
        direction=direction,
        kind=m.type,
        sender_lei=m.sender,
        receiver_lei=m.receiver,
        transfer_id=m.transfer_id,
        issued_at=datetime.fromtimestamp(m.iat, UTC),
        recorded_at=ctx.now,
        status=status,
        jws_sealed=ctx.sealer.seal(token.encode(), _message_context(m.sender, m.id).encode()),
    )
    session.add(row)
    session.flush()
    return row


def _outgoing(session: Session, ctx: Context, url: str, m: Message) -> Outgoing:
    token = protocol.sign(ctx.me, m)
    row = _record(session, ctx, m, token, "out", "pending")
    audit(session, ctx, f"message_{m.type}_prepared", f"transfer:{m.transfer_id}", message_id=m.id, to=m.receiver)
    return Outgoing(url, token, row.id, m.transfer_id)


def delivered(session: Session, ctx: Context, out: Outgoing, ok: bool, error: str = "") -> None:
    """Record how the delivery of `out` went (the caller commits)."""
    row = session.get(TravelRuleMessage, out.message_row_id)
    if row is not None:
        row.status = "sent" if ok else "failed"
    audit(session, ctx, "message_sent" if ok else "message_failed", f"transfer:{out.transfer_id}", error=error[:200])


# ------------------------------------------------------------------------------------------- deposits
class ObservedDeposit(BaseModel):
    """A deposit the wallet service saw arrive (credited to `user_id` once the Travel Rule allows)."""

    model_config = ConfigDict(extra="forbid")
    deposit_id: LongIdentifier
    user_id: str = Field(min_length=1, max_length=64)
    chain: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    asset: str = Field(pattern=r"^[A-Z0-9]{1,16}$")
    amount: Decimal = Field(gt=0, max_digits=38, decimal_places=18)
    txid: str = Field(min_length=1, max_length=128)
    to_address: str = Field(min_length=1, max_length=128)
    from_address: str | None = Field(default=None, min_length=1, max_length=128)
    amount_usd: Decimal | None = Field(default=None, ge=0, max_digits=38, decimal_places=8)
    observed_at: datetime | None = None


def observe_deposit(session: Session, ctx: Context, obs: ObservedDeposit) -> TravelRuleDeposit:
    """Clear the deposit, or hold it until the rule is met (idempotent by `deposit_id`)."""
    found = session.scalars(select(TravelRuleDeposit).where(TravelRuleDeposit.deposit_ref == obs.deposit_id)).first()
    if found is not None:
        if (found.user_id, found.txid, found.amount) != (obs.user_id, obs.txid, obs.amount):
            raise ConflictError(f"deposit_id {obs.deposit_id!r} was already reported with other details")
        return found
    at = (obs.observed_at or ctx.now).astimezone(UTC)
    to_address = directory.normalize_address(obs.to_address)
    from_address = directory.normalize_address(obs.from_address) if obs.from_address else None
    owners = directory.address_owners(session)
    owner = owners.get((obs.chain, from_address)) if from_address else None
    _, ruleset = tr_rules.active(session)
    verdict = tr_rules.judge(
        ruleset,
        tr_rules.Prices.load(session),
        jurisdiction=ctx.me.jurisdiction,
        counterparty_jurisdiction=owner[1] if owner else None,
        counterparty="vasp" if owner else "unknown",
        direction="in",
        asset=obs.asset,
        amount=obs.amount,
        day=at.date(),
        amount_usd=obs.amount_usd,
    )
    dep = TravelRuleDeposit(
        deposit_ref=obs.deposit_id,
        user_id=obs.user_id,
        chain=obs.chain,
        asset=obs.asset,
        amount=obs.amount,
        txid=obs.txid,
        to_address=to_address,
        from_address=from_address,
        source="vasp" if owner else "unknown",
        source_lei=owner[0] if owner else None,
        observed_at=at,
        status="cleared",
        rule_id=verdict.rule.id if verdict.rule else None,
        value=verdict.value,
        currency=verdict.rule.currency if verdict.rule else None,
    )
    session.add(dep)
    session.flush()
    subject = f"deposit:{dep.id}"
    if "originator_information" not in verdict.requires:
        audit(session, ctx, "deposit_cleared", subject, why="below threshold or not required", rule=dep.rule_id)
        return dep
    match = _message_for(session, dep)
    if match is not None:
        dep.transfer_id = match.transfer_id
        dep.resolved_by, dep.resolved_at = "message", ctx.now
        audit(session, ctx, "deposit_cleared", subject, why="counterparty message", transfer_id=match.transfer_id)
        return dep
    if from_address and _proven(session, dep.user_id, dep.chain, from_address):
        dep.resolved_by, dep.resolved_at = "ownership", ctx.now
        audit(session, ctx, "deposit_cleared", subject, why="the user's proven self-hosted wallet")
        return dep
    dep.status = "held"
    dep.deadline = at + timedelta(days=ctx.hold_days)
    audit(session, ctx, "deposit_held", subject, rule=dep.rule_id, value=dep.value, currency=dep.currency,
          deadline=dep.deadline)  # fmt: skip
    _alert(session, ctx, dep, "travel_rule_hold", deadline=dep.deadline.isoformat())
    return dep


def _same_transfer(dep: TravelRuleDeposit, row: TravelRuleTransfer) -> bool:
    """The deposit is what the transfer announced: same chain, asset, amount and our receiving address."""
    return (dep.chain, dep.asset, dep.amount, dep.to_address) == (row.chain, row.asset, row.amount, row.address)


def _confirmed_by(dep: TravelRuleDeposit, row: TravelRuleTransfer) -> bool:
    """A confirm names a txid, which is public: it settles only the deposit it describes, from a source that is
    the sender or one we do not know (a self-hosted wallet the originator's VASP sent from), never a rejected one."""
    return (
        row.status != "rejected"
        and dep.txid == row.txid
        and _same_transfer(dep, row)
        and (dep.source_lei is None or dep.source_lei == row.counterparty_lei)
    )


def _inquired_by(dep: TravelRuleDeposit, row: TravelRuleTransfer) -> bool:
    """An inquiry alone names no txid, so it settles only a deposit sent from the inquiring VASP's own known
    address; one from an unknown source waits for a confirm (txid and amount) or the user."""
    return row.status != "rejected" and dep.source_lei == row.counterparty_lei and _same_transfer(dep, row)


def _message_for(session: Session, dep: TravelRuleDeposit) -> TravelRuleTransfer | None:
    """A received confirm (by txid) or inquiry (by chain, account, asset, amount and sender) this deposit answers."""
    t = TravelRuleTransfer
    q = select(t).where(t.role == "beneficiary", t.status.in_(("inquired", "approved", "confirmed")))
    for by_tx in session.scalars(q.where(t.txid == dep.txid)):
        if _confirmed_by(dep, by_tx):
            return by_tx
    for cand in session.scalars(q.where(t.address == dep.to_address, t.asset == dep.asset, t.txid.is_(None))):
        if _inquired_by(dep, cand) and not _claimed(session, cand.transfer_id):
            return cand
    return None


def _claimed(session: Session, transfer_id: str) -> bool:
    return session.scalar(select(TravelRuleDeposit.id).where(TravelRuleDeposit.transfer_id == transfer_id)) is not None


REHELD = "deposit_held_again"  # audit action: released by an inquiry our operator then rejected


def _release(session: Session, ctx: Context, dep: TravelRuleDeposit, how: str, **detail: Any) -> None:
    dep.status = "released"
    dep.resolved_by, dep.resolved_at = how, ctx.now
    audit(session, ctx, "deposit_released", f"deposit:{dep.id}", by=how, **detail)
    # Held again after a rejected inquiry, a later release is news to the user too (its own alert key).
    a = TravelRuleAudit
    again = session.scalar(select(func.count(a.id)).where(a.subject == f"deposit:{dep.id}", a.action == REHELD))
    _alert(session, ctx, dep, "travel_rule_released", f"again:{again}" if again else "", resolved_by=how)


def held_deposits(session: Session, user_id: str | None = None) -> list[TravelRuleDeposit]:
    q = select(TravelRuleDeposit).where(TravelRuleDeposit.status == "held").order_by(TravelRuleDeposit.id)
    if user_id is not None:
        q = q.where(TravelRuleDeposit.user_id == user_id)
    return list(session.scalars(q))


def deposits(session: Session, status: str | None = None, limit: int = 1000) -> list[TravelRuleDeposit]:
    """Deposits in id order, of one status when given (the compliance review's list)."""
    q = select(TravelRuleDeposit).order_by(TravelRuleDeposit.id)
    if status:
        q = q.where(TravelRuleDeposit.status == status)
    return list(session.scalars(q.limit(limit)))


def user_deposits(session: Session, user_id: str) -> list[TravelRuleDeposit]:
    q = select(TravelRuleDeposit).where(TravelRuleDeposit.user_id == user_id).order_by(TravelRuleDeposit.id)
    return list(session.scalars(q))


def _own_deposit(session: Session, user_id: str, deposit_id: int) -> TravelRuleDeposit:
    dep = session.get(TravelRuleDeposit, deposit_id)
    if dep is None or dep.user_id != user_id:
        raise NotFoundError("no such deposit")  # another user's deposit answers as one that does not exist
    return dep


def supply_originator(
    session: Session, ctx: Context, user_id: str, deposit_id: int, originator: Originator
) -> TravelRuleDeposit:
    """The user tells who sent a held deposit (IVMS101 originator): stored sealed, the deposit released."""
    dep = _own_deposit(session, user_id, deposit_id)
    if dep.status != "held":
        raise ConflictError(f"deposit {deposit_id} is {dep.status}, not held")
    dep.originator_sealed = _seal(ctx, originator.as_ivms(), _deposit_context(dep.deposit_ref))
    _release(session, ctx, dep, "originator")
    return dep


def sweep(session: Session, ctx: Context) -> list[TravelRuleDeposit]:
    """Return every held deposit whose deadline has passed (nothing came): audited, the user alerted."""
    q = select(TravelRuleDeposit).where(TravelRuleDeposit.status == "held", TravelRuleDeposit.deadline <= ctx.now)
    out = list(session.scalars(q.order_by(TravelRuleDeposit.id)))
    for dep in out:
        dep.status = "returned"
        dep.resolved_by, dep.resolved_at = "deadline", ctx.now
        audit(session, ctx, "deposit_returned", f"deposit:{dep.id}", deadline=dep.deadline)
        _alert(session, ctx, dep, "travel_rule_returned")
    return out


# -------------------------------------------------------------------------------------------- wallets
def wallet_challenge(session: Session, ctx: Context, user_id: str, chain: str, address: str) -> TravelRuleWallet:
    address = ownership.normalize(chain, address)
    w = session.scalars(
        select(TravelRuleWallet).where(
            TravelRuleWallet.user_id == user_id, TravelRuleWallet.chain == chain, TravelRuleWallet.address == address
        )
    ).first()
    text = ownership.challenge(ctx.me.name, user_id, chain, address)
    if w is None:
        w = TravelRuleWallet(user_id=user_id, chain=chain, address=address, challenge=text, issued_at=ctx.now)
        session.add(w)
    elif w.proven_at is None:
        w.challenge, w.issued_at = text, ctx.now
    session.flush()
    audit(session, ctx, "wallet_challenge", f"wallet:{w.id}", user_id=user_id, chain=chain)
    return w


def wallet_proof(
    session: Session, ctx: Context, user_id: str, chain: str, address: str, signature: str
) -> tuple[TravelRuleWallet, list[TravelRuleDeposit]]:
    """Check the signature over the wallet's challenge; on success the wallet is proven, and the user's held
    deposits from it are released. A wrong signature is refused (422) and changes nothing but the audit."""
    address = ownership.normalize(chain, address)
    w = session.scalars(
        select(TravelRuleWallet).where(
            TravelRuleWallet.user_id == user_id, TravelRuleWallet.chain == chain, TravelRuleWallet.address == address
        )
    ).first()
    if w is None:
        raise InvalidInputError("address", "ask for a challenge for this wallet first")
    if w.proven_at is None:
        try:
            w.scheme = ownership.verify(chain, address, w.challenge, signature)
        except InvalidInputError:
            audit(session, ctx, "wallet_proof_refused", f"wallet:{w.id}", user_id=user_id)
            raise
        w.proven_at = ctx.now
        audit(session, ctx, "wallet_proven", f"wallet:{w.id}", user_id=user_id, scheme=w.scheme)
    released = []
    for dep in held_deposits(session, user_id):
        if dep.chain == chain and dep.from_address is not None and _same(chain, dep.from_address, address):
            _release(session, ctx, dep, "ownership", wallet=w.id)
            released.append(dep)
    return w, released


def _same(chain: str, a: str, b: str) -> bool:
    try:
        return ownership.normalize(chain, a) == b
    except InvalidInputError:
        return False


def _proven(session: Session, user_id: str, chain: str, address: str) -> bool:
    try:
        address = ownership.normalize(chain, address)
    except InvalidInputError:
        return False
    w = TravelRuleWallet
    q = select(w.id).where(w.user_id == user_id, w.chain == chain, w.address == address, w.proven_at.is_not(None))
    return session.scalar(q) is not None


# ------------------------------------------------------------------------------------------ transfers
class TransferIn(BaseModel):
    """A withdrawal to another VASP: the IVMS101 originator (our user) and beneficiary, sent before release."""

    model_config = ConfigDict(extra="forbid")
    asset: str = Field(pattern=r"^[A-Z0-9]{1,16}$")
    chain: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    amount: Decimal = Field(gt=0, max_digits=38, decimal_places=18)
    address: str = Field(min_length=1, max_length=128)
    originator: Originator
    beneficiary: Beneficiary


def start_transfer(session: Session, ctx: Context, user_id: str, t: TransferIn) -> tuple[TravelRuleTransfer, Outgoing]:
    address = directory.normalize_address(t.address)
    owners = directory.address_owners(session)
    owner = owners.get((t.chain, address))
    if owner is None:
        raise InvalidInputError(
            "address", "no VASP in the directory owns this address; for a self-hosted wallet, prove its ownership"
        )
    vasp = directory.by_lei(session, owner[0])
    assert vasp is not None
    beneficiary = t.beneficiary.model_copy(update={"accountNumber": [address]})
    originator = t.originator
    payload = IdentityPayload(
        originator=originator,
        beneficiary=beneficiary,
        originatingVASP=OriginatingVASP(originatingVASP=vasp_person(ctx.me.name, ctx.me.lei)),
        beneficiaryVASP=BeneficiaryVASP(beneficiaryVASP=vasp_person(vasp.name, vasp.lei)),
    )
    transfer_id = protocol.new_id()
    m = _our_message(
        ctx,
        "inquiry",
        vasp.lei,
        transfer_id,
        asset=protocol.Asset(symbol=t.asset, chain=t.chain),
        amount=t.amount,
        callback=ctx.me.callback,
        IVMS101=payload,
    )
    row = TravelRuleTransfer(
        transfer_id=transfer_id,
        role="originator",
        counterparty_lei=vasp.lei,
        user_id=user_id,
        asset=t.asset,
        chain=t.chain,
        amount=t.amount,
        address=address,
        callback=vasp.endpoint.rstrip("/") + protocol.MESSAGES_PATH,
        status="inquired",
        created_at=ctx.now,
        updated_at=ctx.now,
        ivms_sealed=_seal(ctx, payload.as_ivms(), _transfer_context(transfer_id, "originator")),
    )
    session.add(row)
    audit(session, ctx, "transfer_started", f"transfer:{transfer_id}", user_id=user_id, to=vasp.lei,
          asset=t.asset, amount=t.amount)  # fmt: skip
    return row, _outgoing(session, ctx, row.callback, m)


def answer_inquiry(
    session: Session, ctx: Context, transfer_id: str, approve: bool, reason: str | None = None
) -> tuple[TravelRuleTransfer, Outgoing]:
    """Our operator's answer to a received inquiry, sent to the callback it named."""
    row = session.scalars(
        select(TravelRuleTransfer).where(
            TravelRuleTransfer.transfer_id == transfer_id, TravelRuleTransfer.role == "beneficiary"
        )
    ).first()
    if row is None:
        raise NotFoundError(f"no received inquiry {transfer_id}")
    if row.status != "inquired":
        raise ConflictError(f"inquiry {transfer_id} is {row.status}, already answered")
    row.status = "approved" if approve else "rejected"
    row.reason = reason
    row.updated_at = ctx.now
    m = _our_message(ctx, "approve" if approve else "reject", row.counterparty_lei, transfer_id, reason=reason)
    audit(session, ctx, f"inquiry_{row.status}", f"transfer:{transfer_id}", reason=reason)
    if not approve:
        _rehold(session, ctx, row)
    return row, _outgoing(session, ctx, row.callback, m)


def _rehold(session: Session, ctx: Context, row: TravelRuleTransfer) -> None:
    """A deposit the inquiry released (or cleared on arrival) rested on it alone: rejected, it is held again,
    with its original deadline (counted from arrival), until the user or another message settles it."""
    d = TravelRuleDeposit
    q = select(d).where(d.transfer_id == row.transfer_id, d.resolved_by == "message", d.status != "returned")
    for dep in session.scalars(q.order_by(d.id)):
        dep.status, dep.transfer_id = "held", None
        dep.resolved_by, dep.resolved_at = None, None
        if dep.deadline is None:
            dep.deadline = dep.observed_at.astimezone(UTC) + timedelta(days=ctx.hold_days)
        audit(session, ctx, REHELD, f"deposit:{dep.id}", why="inquiry rejected",
              transfer_id=row.transfer_id, deadline=dep.deadline)  # fmt: skip
        _alert(session, ctx, dep, "travel_rule_hold", f"rejected:{row.id}", deadline=dep.deadline.isoformat())


class SentWithdrawal(BaseModel):
    """The wallet service broadcast a withdrawal the Travel Rule let through: confirm it to the beneficiary VASP."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=64)
    asset: str = Field(pattern=r"^[A-Z0-9]{1,16}$")
    amount: Decimal = Field(gt=0, max_digits=38, decimal_places=18)
    address: str = Field(min_length=1, max_length=128)
    txid: str = Field(min_length=1, max_length=128)


def withdrawal_sent(session: Session, ctx: Context, s: SentWithdrawal) -> tuple[TravelRuleTransfer, Outgoing]:
    row = _approved_transfer(session, s.user_id, directory.normalize_address(s.address), s.asset, s.amount)
    if row is None:
        raise NotFoundError("no approved Travel Rule transfer for this user, address, asset and amount")
    row.status, row.txid, row.updated_at = "confirmed", s.txid, ctx.now
    m = _our_message(ctx, "confirm", row.counterparty_lei, row.transfer_id, txid=s.txid)
    audit(session, ctx, "transfer_confirmed", f"transfer:{row.transfer_id}", txid=s.txid)
    return row, _outgoing(session, ctx, row.callback, m)


def _our_message(ctx: Context, kind: protocol.Kind, receiver: str, transfer_id: str, **fields: Any) -> Message:
    """A message from this exchange about `transfer_id`: a new id, dated now."""
    return Message(
        id=protocol.new_id(),
        type=kind,
        sender=ctx.me.lei,
        receiver=receiver,
        iat=int(ctx.now.timestamp()),
        transfer_id=transfer_id,
        **fields,
    )


def _approved_transfer(
    session: Session, user_id: str, address: str, asset: str, amount: Decimal
) -> TravelRuleTransfer | None:
    t = TravelRuleTransfer
    q = select(t).where(t.role == "originator", t.user_id == user_id, t.address == address, t.asset == asset,
                        t.status == "approved")  # fmt: skip
    # The one a withdrawal event already used first: that is the withdrawal being reported.
    q = q.order_by(t.withdrawal_event.is_(None), t.id)
    return next((r for r in session.scalars(q) if r.amount == amount), None)


def _covering_transfer(
    session: Session, user_id: str, address: str, asset: str, amount: Decimal, event_id: str | None, now: datetime
) -> bool:
    """An approved transfer covers one withdrawal: the one bound to `event_id`, else the first unbound one, which
    is bound to it here (a conditional update, so two withdrawals evaluated at once cannot both take it)."""
    t = TravelRuleTransfer
    q = select(t).where(t.role == "originator", t.user_id == user_id, t.address == address, t.asset == asset,
                        t.status == "approved").order_by(t.id)  # fmt: skip
    rows = [r for r in session.scalars(q) if r.amount == amount]
    if event_id is not None and any(r.withdrawal_event == event_id for r in rows):
        return True
    for r in rows:
        if r.withdrawal_event is not None:
            continue
        if event_id is None:
            return True  # asked without an event (nothing to bind): an unused approval exists
        took = session.execute(
            update(t)
            .where(t.id == r.id, t.withdrawal_event.is_(None))
            .values(withdrawal_event=event_id, updated_at=now)
        )
        if took.rowcount == 1:  # type: ignore[attr-defined]
            used = {"withdrawal_event": event_id}
            session.add(TravelRuleAudit(at=now, actor="risk", action="transfer_used",
                                        subject=f"transfer:{r.transfer_id}", detail=used))  # fmt: skip
            return True
    return False


# ------------------------------------------------------------------------------------ receiving
@dataclass
class Received:
    message: Message
    released: list[int]


def receive(session: Session, ctx: Context, token: str) -> Received:
    """Verify and act on one counterparty message (see `protocol` for what is refused and how)."""
    sender = protocol.sender_of(token)
    vasp = directory.by_lei(session, sender)
    if vasp is None:
        raise MessageRefused(401, f"unknown VASP {sender[:20]!r}: not in our directory")
    m = protocol.verify(token, vasp.public_jwk)
    if m.sender != vasp.lei:
        raise MessageRefused(401, "sender: the payload's sender is not the key's owner (kid)")
    if m.receiver != ctx.me.lei:
        raise MessageRefused(422, f"receiver: this message is for {m.receiver}, we are {ctx.me.lei}")
    protocol.check_time(m, ctx.now, ctx.window_seconds)
    seen = session.scalar(
        select(TravelRuleMessage.id).where(
            TravelRuleMessage.sender_lei == m.sender, TravelRuleMessage.message_id == m.id
        )
    )
    if seen is not None:
        raise MessageRefused(409, f"id: message {m.id} from {m.sender} was already received (replay)")
    released = _on_inquiry(session, ctx, vasp, m) if m.type == "inquiry" else _on_answer(session, ctx, vasp, m)
    _record(session, ctx, m, token, "in", "accepted")
    audit(session, ctx, f"message_{m.type}_received", f"transfer:{m.transfer_id}", sender=m.sender, message_id=m.id)
    return Received(m, released)


def _on_inquiry(session: Session, ctx: Context, vasp: directory.Vasp, m: Message) -> list[int]:
    assert m.callback is not None and m.IVMS101 is not None and m.asset is not None and m.amount is not None
    base = vasp.endpoint.rstrip("/") + "/"
    if not (m.callback + "/").startswith(base) and m.callback != vasp.endpoint:
        raise MessageRefused(422, "callback: not under the sender's endpoint in our directory")
    accounts = m.IVMS101.beneficiary.accountNumber or []
    if not accounts:
        raise MessageRefused(422, "IVMS101.beneficiary.accountNumber: the beneficiary's address is required")
    exists = session.scalar(
        select(TravelRuleTransfer.id).where(
            TravelRuleTransfer.transfer_id == m.transfer_id,
            TravelRuleTransfer.role == "beneficiary",
            TravelRuleTransfer.counterparty_lei == m.sender,
        )
    )
    if exists is not None:
        raise MessageRefused(409, f"transfer_id: an inquiry for transfer {m.transfer_id} was already received")
    row = TravelRuleTransfer(
        transfer_id=m.transfer_id,
        role="beneficiary",
        counterparty_lei=m.sender,
        user_id=None,
        asset=m.asset.symbol,
        chain=m.asset.chain,
        amount=m.amount,
        address=directory.normalize_address(accounts[0]),
        callback=m.callback,
        status="inquired",
        created_at=ctx.now,
        updated_at=ctx.now,
        ivms_sealed=_seal(ctx, m.IVMS101.as_ivms(), _transfer_context(m.transfer_id, "beneficiary")),
    )
    session.add(row)
    session.flush()
    released = []
    for dep in held_deposits(session):
        if _inquired_by(dep, row):
            row.user_id = dep.user_id
            dep.transfer_id = row.transfer_id
            _release(session, ctx, dep, "message", transfer_id=row.transfer_id, sender=m.sender)
            released.append(dep.id)
            break
    return released


def _on_answer(session: Session, ctx: Context, vasp: directory.Vasp, m: Message) -> list[int]:
    role = "beneficiary" if m.type == "confirm" else "originator"
    row = session.scalars(
        select(TravelRuleTransfer).where(
            TravelRuleTransfer.transfer_id == m.transfer_id,
            TravelRuleTransfer.role == role,
            TravelRuleTransfer.counterparty_lei == vasp.lei,
        )
    ).first()
    if row is None:
        raise MessageRefused(404, f"transfer_id: no transfer {m.transfer_id} between us and {vasp.lei}")
    released: list[int] = []
    if m.type == "confirm":
        # The protocol confirms a transfer we approved; one we rejected or never reviewed is not confirmable.
        if row.status != "approved":
            raise MessageRefused(409, f"transfer_id: transfer {m.transfer_id} is {row.status}, not approved")
        row.status, row.txid, row.updated_at = "confirmed", m.txid, ctx.now
        for dep in held_deposits(session):
            if _confirmed_by(dep, row):
                dep.transfer_id = row.transfer_id
                _release(session, ctx, dep, "message", transfer_id=row.transfer_id, sender=m.sender)
                released.append(dep.id)
        return released
    if row.status != "inquired":
        raise MessageRefused(409, f"transfer_id: transfer {m.transfer_id} is {row.status}, already answered")
    row.status = "approved" if m.type == "approve" else "rejected"
    row.reason, row.updated_at = m.reason, ctx.now
    return released


def transfers(session: Session, role: str | None = None, status: str | None = None) -> list[TravelRuleTransfer]:
    q = select(TravelRuleTransfer).order_by(TravelRuleTransfer.id)
    if role:
        q = q.where(TravelRuleTransfer.role == role)
    if status:
        q = q.where(TravelRuleTransfer.status == status)
    return list(session.scalars(q))


def transfer_ivms(sealer: Keyring, row: TravelRuleTransfer) -> dict[str, Any]:
    return unseal(sealer, row.ivms_sealed, _transfer_context(row.transfer_id, row.role))


# ------------------------------------------------------------------------------------- withdrawals
def withdrawal_missing(
    session: Session,
    *,
    user_id: str,
    asset: str,
    amount: Decimal,
    address: str,
    chain: str | None,
    owner: tuple[str, str] | None,
    requires: tuple[str, ...],
    event_id: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """What the rule still needs before this withdrawal may leave (empty: nothing). `owner` is the destination's
    VASP (LEI, jurisdiction) or None for a self-hosted wallet; `requires` what the rule demands. An approved
    transfer is bound to the withdrawal event `event_id` that uses it first (the caller commits); another event
    needs its own inquiry."""
    address = directory.normalize_address(address)
    if owner is not None:
        if "beneficiary_information" not in requires:
            return []
        at = now or datetime.now(UTC)
        if _covering_transfer(session, user_id, address, asset, amount, event_id, at):
            return []
        t = TravelRuleTransfer
        pending = session.scalar(
            select(t.id).where(
                t.role == "originator",
                t.user_id == user_id,
                t.address == address,
                t.asset == asset,
                t.status == "inquired",
            )
        )
        return ["beneficiary_approval"] if pending is not None else ["beneficiary_information"]
    if "ownership_proof" not in requires:
        return []
    w = TravelRuleWallet
    q = select(w.chain, w.address).where(w.user_id == user_id, w.proven_at.is_not(None))
    for c, a in session.execute(q):
        if (chain is None or c == chain) and (a == address or a.lower() == address.lower()):
            return []
    return ["ownership_proof"]
