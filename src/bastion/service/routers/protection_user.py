"""User-protection routes: cooling-off period, the order precheck every channel calls, mistaken deposits.

Who calls what: the user (session or own API key) switches on a cooling-off, reads their own, asks why a
deposit was not credited and reads their case; the uid is always the credential's. Order gateways
(orders:precheck) ask the precheck for any user; the chain watcher (deposits:write) reports transfers;
support (deposits:review) moves cases.

"Now" (an activation's start, a precheck's instant, a case's opening and moves) is `protection_clock(app)`:
the wall clock in production; tests and the month simulator create the app with their own
(`InProcessOverrides.protection_clock`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from bastion.bounds import INT32_MAX, Identifier, PositiveInt32, Timestamp
from bastion.errors import InvalidInputError, NotFoundError
from bastion.protection import beginner
from bastion.protection import cooling_off as co
from bastion.protection import deposits as dep
from bastion.protection.models import DepositCase
from bastion.service.access import (
    AccessDenied,
    CurrentUser,
    OperatorScope,
    ServiceScope,
    TradingUser,
    acting_credential,
)
from bastion.service.deps import SessionDep, SettingsDep, cooling_off_cache, protection_clock
from bastion.service.schemas import RequestBody

router = APIRouter(tags=["user protection"])
log = logging.getLogger(__name__)
class CoolingOffBody(RequestBody):
    # the user is the credential's: a user_id here is refused (RequestBody forbids unknown fields)

    request_id: str = Field(min_length=1, max_length=128)
    period: co.Period
    custom_days: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    channel: co.Channel = co.Channel.WEB


class CoolingOffOut(BaseModel):
    user_id: str
    active: bool
    ends_at: datetime | None


@router.post("/v1/cooling-off", response_model=CoolingOffOut)
def activate(body: CoolingOffBody, user: TradingUser, session: SessionDep, request: Request) -> CoolingOffOut:
    """Switch on (or extend) the caller's cooling-off period. It cannot be shortened or ended: a shorter
    request is 409. Idempotent by `request_id`. Once this answers 200, every precheck on every service
    process refuses."""
    now = protection_clock(request.app)()
    row = co.activate(session, body.request_id, user.uid, body.period, body.custom_days, body.channel, now)
    session.commit()
    until = co.active_until(session, user.uid, now)
    if until is not None:
        try:
            cooling_off_cache(request.app).activated(user.uid, until)
        except Exception:
            # Stored but not announced: not acknowledged either. A retry with the same request_id announces it.
            log.exception("cooling-off activation %s stored but not announced", body.request_id)
            raise HTTPException(503, "activation stored but not yet in force everywhere: retry it") from None
    return CoolingOffOut(user_id=row.user_id, active=until is not None, ends_at=until)


@router.get("/v1/cooling-off/{user_id}", response_model=CoolingOffOut)
def status(user_id: Identifier, user: CurrentUser, session: SessionDep, request: Request) -> CoolingOffOut:
    """The caller's own period; another uid is a 404, whether it exists or not."""
    if user_id != user.uid:
        raise AccessDenied(404, "not found")
    until = co.active_until(session, user_id, protection_clock(request.app)())
    return CoolingOffOut(user_id=user_id, active=until is not None, ends_at=until)


class PrecheckBody(RequestBody):
    userId: str = Field(min_length=1, max_length=128)
    channel: co.Channel
    instType: co.InstType
    instId: str = Field(min_length=1, max_length=64)
    side: co.OrderSide
    posSide: co.PosSide = co.PosSide.NET
    sz: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
    reduceOnly: bool = False
    pos: Annotated[Decimal, Field(allow_inf_nan=False)] = Decimal(0)
    # For beginner protection's leverage cap and position limit: the order's leverage, and the USD value of
    # the position after the order. Left out, those two limits are not checked.
    lever: Annotated[Decimal | None, Field(gt=0, le=1000, allow_inf_nan=False)] = None
    notionalUsd: Annotated[Decimal | None, Field(ge=0, allow_inf_nan=False, max_digits=30)] = None


class PrecheckOut(BaseModel):
    allowed: bool
    effect: co.OrderEffect
    coolingOffUntil: datetime | None
    reason: str | None
    # Which protection refused: "cooling_off" (the user's own period) or a beginner rule ("beginner:<rule>").
    rule: str | None = None


def _record_refusal(sessions: sessionmaker[Session], body: PrecheckBody, effect: co.OrderEffect, at: datetime) -> None:
    with sessions() as session:
        co.record_refusal(session, body.userId, body.channel, body.instType, body.instId, effect, at)
        session.commit()


@router.post("/v1/orders/precheck", response_model=PrecheckOut, dependencies=[ServiceScope("orders:precheck")])
def precheck(body: PrecheckBody, request: Request, background: BackgroundTasks) -> PrecheckOut:
    """Would this order be allowed? Refused only when it opens or increases a derivatives position during a
    cooling-off period. `pos` is the current position (signed in one-way mode, the leg size in hedge mode).

    Decided from the process's cooling-off cache (no database round trip on a hit); a refusal is written
    for the monthly report right after the answer is sent."""
    try:
        effect = co.classify_order(body.instType, body.side, body.posSide, body.sz, body.reduceOnly, body.pos)
    except co.CoolingOffError as exc:
        raise InvalidInputError(str(exc).split(":", 1)[0].split(" ", 1)[0], str(exc)) from None
    now = protection_clock(request.app)()
    until = None
    if effect in co.RISK_INCREASING:  # reducing and spot orders are allowed whatever the period
        until = cooling_off_cache(request.app).active_until(body.userId, now)
    decision = co.precheck(effect, until, now)
    if not decision.allowed:
        background.add_task(_record_refusal, request.app.state.sessionmaker, body, effect, now)
        return PrecheckOut(
            allowed=False,
            effect=decision.effect,
            coolingOffUntil=decision.cooling_off_until,
            reason=decision.reason,
            rule="cooling_off",
        )
    if effect in co.RISK_INCREASING and body.instType in co.DERIVATIVES:
        # Beginner protection, when the exchange's rules switch it on: one row lock per such order (the
        # first attempt starts the cooling-off; refusals are stored for the report).
        with request.app.state.sessionmaker() as session:
            b = beginner.check_order(session, body.userId, body.lever, body.notionalUsd, now)
            session.commit()
        if not b.allowed:
            return PrecheckOut(
                allowed=False, effect=effect, coolingOffUntil=None, reason=b.reason, rule=f"beginner:{b.rule}"
            )
    return PrecheckOut(
        allowed=decision.allowed,
        effect=decision.effect,
        coolingOffUntil=decision.cooling_off_until,
        reason=decision.reason,
    )


class ObservedBody(RequestBody):
    chain: str = Field(min_length=1, max_length=32)
    txid: str = Field(min_length=1, max_length=128)
    token: str = Field(min_length=1, max_length=64)
    to_address: str = Field(min_length=1, max_length=128)
    memo: str | None = None
    memo_matches_account: bool = False
    amount: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
    usd_value: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    user_id: str | None = None
    observed_at: Timestamp


class CaseOut(BaseModel):
    id: int
    chain: str
    txid: str
    user_id: str | None
    reason: str
    state: str
    automatic: bool
    token: str
    amount: str
    usd_value: str
    fee: str
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, c: DepositCase) -> CaseOut:
        return cls(
            id=c.id,
            chain=c.chain,
            txid=c.txid,
            user_id=c.user_id,
            reason=c.reason,
            state=c.state,
            automatic=c.automatic,
            token=c.token,
            amount=format(c.amount, "f"),
            usd_value=format(c.usd_value, "f"),
            fee=format(c.fee, "f"),
            opened_at=c.opened_at,
            resolved_at=c.resolved_at,
            closed_at=c.closed_at,
        )


@router.post("/v1/deposits/observed", dependencies=[ServiceScope("deposits:write")])
def observed(body: ObservedBody, session: SessionDep, settings: SettingsDep) -> dict[str, object]:
    """The chain watcher reports a transfer it could not credit; unlisted tokens go back automatically."""
    at = body.observed_at if body.observed_at.tzinfo else body.observed_at.replace(tzinfo=UTC)
    obs = dep.ObservedDeposit(body.chain, body.txid, body.token, body.to_address, body.memo, body.memo_matches_account)
    case = dep.record_observation(
        session,
        obs,
        body.amount,
        body.usd_value,
        body.user_id,
        at,
        settings.deposits.listing(),
        settings.deposits.fees(),
    )
    session.commit()
    return {"recorded": True, "case": None if case is None else CaseOut.of(case).model_dump(mode="json")}


class CheckBody(RequestBody):
    # the user is the credential's: a user_id here is refused (RequestBody forbids unknown fields)

    chain: str = Field(min_length=1, max_length=32)
    txid: str = Field(min_length=1, max_length=128)


@router.post("/v1/deposits/mistaken/check")
def check(
    body: CheckBody, user: CurrentUser, session: SessionDep, settings: SettingsDep, request: Request
) -> dict[str, object]:
    """Self-service: why was my deposit not credited? Opens a case with its reason (or shows the open one)."""
    result = dep.self_service_check(
        session,
        body.chain,
        body.txid,
        user.uid,
        protection_clock(request.app)(),
        settings.deposits.listing(),
        settings.deposits.fees(),
    )
    session.commit()
    return {
        "status": result.status,
        "case": None if result.case is None else CaseOut.of(result.case).model_dump(mode="json"),
    }


class MoveBody(RequestBody):
    state: dep.CaseState
    actor: str = Field(min_length=1, max_length=128)
    note: str = Field(default="", max_length=500)


@router.post(
    "/v1/deposits/cases/{case_id}/transition", response_model=CaseOut, dependencies=[OperatorScope("deposits:review")]
)
def transition(case_id: PositiveInt32, body: MoveBody, session: SessionDep, request: Request) -> CaseOut:
    case = dep.get_case(session, case_id)
    actor = acting_credential(request, body.actor, 128)  # the case history names the credential that acted
    dep.move(session, case, body.state, actor, protection_clock(request.app)(), body.note)
    session.commit()
    return CaseOut.of(case)


@router.get("/v1/deposits/cases/{case_id}")
def case(case_id: PositiveInt32, user: CurrentUser, session: SessionDep) -> dict[str, object]:
    """A case and its audit trail, for the user it belongs to; anyone else's (or an unattributed one) is a
    404 worded as for a case that does not exist."""
    try:
        c = dep.get_case(session, case_id)
    except NotFoundError:
        c = None
    if c is None or c.user_id != user.uid:
        raise NotFoundError(f"case {case_id} not found")
    events = [
        {"at": e.at, "actor": e.actor, "from": e.from_state, "to": e.to_state, "note": e.note}
        for e in dep.case_events(session, case_id)
    ]
    return {"case": CaseOut.of(c).model_dump(mode="json"), "events": events}
