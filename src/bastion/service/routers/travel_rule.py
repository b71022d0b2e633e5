"""Travel Rule routes: counterparty messages (JWS), the wallet service's deposits and sent withdrawals, the
user's originator information and wallet proofs, compliance review. Thin: the work is in `bastion.travel_rule`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.periods import MONTH_PATTERN
from bastion.service.access import (
    Counterparty,
    CurrentUser,
    OperatorScope,
    ServiceScope,
    TradingUser,
    acting_credential,
)
from bastion.service.deps import SessionDep, travel_rule_clock, travel_rule_gate, travel_rule_state
from bastion.service.wiring import TravelRuleState
from bastion.travel_rule import flows, protocol
from bastion.travel_rule.figures import TravelRuleFigures, month_figures
from bastion.travel_rule.gate import TravelRuleGate
from bastion.travel_rule.ivms101 import Originator
from bastion.travel_rule.models import TravelRuleDeposit, TravelRuleTransfer

router = APIRouter(tags=["travel-rule"])
Wallets = ServiceScope("travel_rule:write")
Compliance = OperatorScope("travel_rule:review")


# ------------------------------------------------------------------------------------------ app state
def state_of(app: Any) -> TravelRuleState:
    return travel_rule_state(app)


def gate_of(app: Any) -> TravelRuleGate:
    """The withdrawal hot path's Travel Rule check (one per app; `create_app` hands it to the risk hot path)."""
    return travel_rule_gate(app)


def _now(request: Request) -> datetime:
    return travel_rule_clock(request.app)()


def _ctx(request: Request, actor: str = "system") -> flows.Context:
    st = state_of(request.app)
    return flows.Context(st.identity, st.sealer, _now(request), st.hold_days, st.window, actor)


def _deliver(request: Request, session: Session, ctx: flows.Context, out: flows.Outgoing) -> None:
    """After the caller's commit: send, record how it went, commit; a refusal is a 502 naming the counterparty."""
    st = state_of(request.app)
    try:
        st.send(out.url, out.token, st.timeout)
    except protocol.CounterpartyUnavailable as exc:
        flows.delivered(session, ctx, out, False, str(exc))
        session.commit()
        raise HTTPException(502, str(exc)) from None
    flows.delivered(session, ctx, out, True)
    session.commit()
    gate_of(request.app).invalidate()


# ------------------------------------------------------------------------------------------ schemas
class DepositOut(BaseModel):
    id: int
    deposit_id: str
    user_id: str
    chain: str
    asset: str
    amount: Decimal
    txid: str
    from_address: str | None
    source: str
    source_lei: str | None
    status: str
    rule: str | None
    value: Decimal | None
    currency: str | None
    deadline: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    transfer_id: str | None


def _dep(d: TravelRuleDeposit) -> DepositOut:
    return DepositOut(
        id=d.id, deposit_id=d.deposit_ref, user_id=d.user_id, chain=d.chain, asset=d.asset, amount=d.amount,
        txid=d.txid, from_address=d.from_address, source=d.source, source_lei=d.source_lei, status=d.status,
        rule=d.rule_id, value=d.value, currency=d.currency, deadline=d.deadline, resolved_by=d.resolved_by,
        resolved_at=d.resolved_at, transfer_id=d.transfer_id,
    )  # fmt: skip


class TransferOut(BaseModel):
    transfer_id: str
    role: str
    counterparty_lei: str
    user_id: str | None
    asset: str
    chain: str
    amount: Decimal
    address: str
    status: str
    txid: str | None
    reason: str | None


def _tr(t: TravelRuleTransfer) -> TransferOut:
    return TransferOut(
        transfer_id=t.transfer_id, role=t.role, counterparty_lei=t.counterparty_lei, user_id=t.user_id,
        asset=t.asset, chain=t.chain, amount=t.amount, address=t.address, status=t.status, txid=t.txid,
        reason=t.reason,
    )  # fmt: skip


# --------------------------------------------------------------------------------------- counterparty
class SignedMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jws: str = Field(min_length=1, max_length=protocol.MAX_MESSAGE_BYTES)


@router.post("/v1/travel-rule/messages", dependencies=[Counterparty])
def receive_message(signed: SignedMessage, request: Request) -> JSONResponse:
    """A counterparty VASP's Travel Rule message (inquiry, approve, reject, confirm) as a compact JWS; its signature
    by the key our directory holds for the sender is the credential."""
    body = signed.jws.strip()

    def run() -> JSONResponse:
        with request.app.state.sessionmaker() as session:
            ctx = _ctx(request, actor="counterparty")
            try:
                got = flows.receive(session, ctx, body)
                session.commit()
            except protocol.MessageRefused as exc:
                session.rollback()
                return JSONResponse({"error": "message_refused", "message": exc.message}, status_code=exc.status)
            except IntegrityError:  # the same message id stored meanwhile by a concurrent delivery
                session.rollback()
                return JSONResponse({"error": "message_refused", "message": "id: already received (replay)"}, 409)
            return JSONResponse({"status": "accepted", "id": got.message.id, "released_deposits": got.released})

    response = run()
    gate_of(request.app).invalidate()
    return response


# -------------------------------------------------------------------------------------- wallet service
@router.post("/v1/travel-rule/deposits", dependencies=[Wallets])
def observe_deposit(obs: flows.ObservedDeposit, session: SessionDep, request: Request) -> DepositOut:
    """An observed deposit: cleared, or held (`travel_rule_hold`) until its originator is known."""
    dep = flows.observe_deposit(session, _ctx(request, acting_credential(request)), obs)
    session.commit()
    return _dep(dep)


@router.post("/v1/travel-rule/withdrawals/sent", dependencies=[Wallets])
def withdrawal_sent(s: flows.SentWithdrawal, session: SessionDep, request: Request) -> TransferOut:
    """A withdrawal the rule let through was broadcast: the beneficiary VASP gets a signed confirm with the txid."""
    ctx = _ctx(request, acting_credential(request))
    row, out = flows.withdrawal_sent(session, ctx, s)
    session.commit()
    _deliver(request, session, ctx, out)
    return _tr(row)


# ------------------------------------------------------------------------------------------------ user
@router.get("/v1/account/travel-rule/deposits")
def my_deposits(caller: CurrentUser, session: SessionDep) -> list[DepositOut]:
    """The caller's deposits as the Travel Rule sees them (held ones say until when)."""
    return [_dep(d) for d in flows.user_deposits(session, caller.uid)]


@router.post("/v1/account/travel-rule/deposits/{deposit_id}/originator")
def supply_originator(
    deposit_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    originator: Originator,
    caller: TradingUser,
    session: SessionDep,
    request: Request,
) -> DepositOut:
    """Who sent a held deposit (IVMS101 originator): stored sealed, and the deposit is released."""
    dep = flows.supply_originator(session, _ctx(request, f"user:{caller.uid}"), caller.uid, deposit_id, originator)
    session.commit()
    return _dep(dep)


class WalletIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    address: str = Field(min_length=1, max_length=128)


class ChallengeOut(BaseModel):
    chain: str
    address: str
    message: str
    proven: bool


@router.post("/v1/account/travel-rule/wallets/challenge")
def wallet_challenge(body: WalletIn, caller: TradingUser, session: SessionDep, request: Request) -> ChallengeOut:
    """The text to sign with a self-hosted wallet's key to prove it is the caller's."""
    w = flows.wallet_challenge(session, _ctx(request, f"user:{caller.uid}"), caller.uid, body.chain, body.address)
    session.commit()
    return ChallengeOut(chain=w.chain, address=w.address, message=w.challenge, proven=w.proven_at is not None)


class ProofIn(WalletIn):
    signature: str = Field(min_length=1, max_length=2000)


class ProofOut(BaseModel):
    chain: str
    address: str
    scheme: str | None
    released_deposits: list[int]


@router.post("/v1/account/travel-rule/wallets/proof")
def wallet_proof(body: ProofIn, caller: TradingUser, session: SessionDep, request: Request) -> ProofOut:
    """The signed challenge (BIP-137/BIP-322, EIP-191): the wallet is proven, held deposits from it released."""
    ctx = _ctx(request, f"user:{caller.uid}")
    try:
        w, released = flows.wallet_proof(session, ctx, caller.uid, body.chain, body.address, body.signature)
    except Exception:
        session.commit()  # keep the audit of the refused proof
        raise
    session.commit()
    gate_of(request.app).invalidate()
    return ProofOut(chain=w.chain, address=w.address, scheme=w.scheme, released_deposits=[d.id for d in released])


@router.post("/v1/account/travel-rule/transfers")
def start_transfer(body: flows.TransferIn, caller: TradingUser, session: SessionDep, request: Request) -> TransferOut:
    """Before a withdrawal to another VASP: the originator and beneficiary, sent to that VASP as a signed inquiry."""
    ctx = _ctx(request, f"user:{caller.uid}")
    row, out = flows.start_transfer(session, ctx, caller.uid, body)
    session.commit()
    _deliver(request, session, ctx, out)
    return _tr(row)


# ---------------------------------------------------------------------------------------------- review
@router.get("/v1/compliance/travel-rule/deposits", dependencies=[Compliance])
def review_deposits(
    session: SessionDep, status: Annotated[str | None, Query(pattern=r"^(held|cleared|released|returned)$")] = None
) -> list[DepositOut]:
    """Deposits by status (held ones are the queue)."""
    return [_dep(d) for d in flows.deposits(session, status, limit=1000)]


@router.get("/v1/compliance/travel-rule/transfers", dependencies=[Compliance])
def review_transfers(
    session: SessionDep,
    role: Annotated[str | None, Query(pattern=r"^(originator|beneficiary)$")] = None,
    status: Annotated[str | None, Query(pattern=r"^(inquired|approved|rejected|confirmed)$")] = None,
) -> list[TransferOut]:
    """Transfers sent and inquiries received (`role=beneficiary&status=inquired`: waiting for our answer)."""
    return [_tr(t) for t in flows.transfers(session, role, status)]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: str = Field(default="", max_length=64)
    reason: str | None = Field(default=None, max_length=300)


@router.post("/v1/compliance/travel-rule/transfers/{transfer_id}/approve", dependencies=[Compliance])
def approve(
    transfer_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")],
    body: AnswerIn,
    session: SessionDep,
    request: Request,
) -> TransferOut:
    """Approve a received inquiry: a signed approve goes to the originator's callback."""
    return _answer(transfer_id, True, body, session, request)


@router.post("/v1/compliance/travel-rule/transfers/{transfer_id}/reject", dependencies=[Compliance])
def reject(
    transfer_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")],
    body: AnswerIn,
    session: SessionDep,
    request: Request,
) -> TransferOut:
    """Reject a received inquiry: a signed reject (with the reason) goes to the originator's callback."""
    return _answer(transfer_id, False, body, session, request)


def _answer(transfer_id: str, ok: bool, body: AnswerIn, session: Session, request: Request) -> TransferOut:
    ctx = _ctx(request, acting_credential(request, body.actor))
    row, out = flows.answer_inquiry(session, ctx, transfer_id, ok, body.reason)
    session.commit()
    _deliver(request, session, ctx, out)
    return _tr(row)


@router.get("/v1/compliance/travel-rule/figures", dependencies=[Compliance])
def figures(session: SessionDep, month: Annotated[str, Query(pattern=MONTH_PATTERN)]) -> TravelRuleFigures:
    """The month's figures: messages sent and received, deposits held, released (by what) and returned, the
    median hours from arrival to release."""
    return month_figures(session, month)


class SweepOut(BaseModel):
    returned: list[int]


@router.post("/v1/compliance/travel-rule/sweep", dependencies=[Compliance])
def sweep(session: SessionDep, request: Request) -> SweepOut:
    """Return the held deposits whose deadline has passed (`travel_rule_returned`)."""
    out = flows.sweep(session, _ctx(request, acting_credential(request)))
    session.commit()
    return SweepOut(returned=[d.id for d in out])
