"""Beginner protection routes: the exchange's rules (operator), what the exchange tells Bastion about its
traders (accounts, first derivatives trades, margin events), the questionnaire (questions public, answers
from the signed-in user), the user's own status, and the effect measurement (operator).

The order check itself is part of `POST /v1/orders/precheck` (routers/protection_user.py). "Now" is the
protection clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from bastion.bounds import Identifier, Timestamp
from bastion.protection import beginner, beginner_metrics
from bastion.service.access import CurrentUser, OperatorScope, Public, ServiceScope, TradingUser, acting_credential
from bastion.service.deps import SessionDep, protection_clock
from bastion.service.okx_auth import okx_router
from bastion.service.schemas import RequestBody

router = APIRouter(tags=["beginner protection"])
# the exchange's rules and the effect measurement: the back office; the traders' facts: the exchange's feeds
ProtectionAdmin = OperatorScope("protection:admin")
Feed = ServiceScope("events:write")
user_router = okx_router(tags=["beginner protection"])

UserId = Annotated[str, Field(min_length=1, max_length=128)]


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _now(request: Request) -> datetime:
    return protection_clock(request.app)()


class RulesBody(RequestBody):
    definition: dict[str, Any]
    actor: str = Field(min_length=1, max_length=128)
    note: str = Field(default="", max_length=1000)


@router.put("/v1/beginner/rules", dependencies=[ProtectionAdmin])
def put_rules(body: RulesBody, session: SessionDep, request: Request) -> dict[str, Any]:
    """Publish a new version of the rules and make it active (a bad field is a 422 naming it)."""
    actor = acting_credential(request, body.actor, 128)
    version = beginner.publish_rules(session, body.definition, actor, body.note, _now(request))
    session.commit()
    return {"version": version}


@router.get("/v1/beginner/rules", dependencies=[ProtectionAdmin])
def get_rules(session: SessionDep) -> dict[str, Any]:
    version, rules = beginner.active_rules(session)
    return {"version": version, "definition": rules.model_dump(mode="json")}


class AccountBody(RequestBody):
    opened_at: datetime
    prior_derivatives: bool = False


@router.put("/v1/beginner/accounts/{user_id}", dependencies=[Feed])
def put_account(user_id: Identifier, body: AccountBody, session: SessionDep, request: Request) -> dict[str, Any]:
    """The exchange says when the account was opened and whether it traded derivatives before."""
    acc = beginner.register_account(session, user_id, _utc(body.opened_at), body.prior_derivatives, _now(request))
    session.commit()
    return {"user_id": acc.user_id, "opened_at": acc.opened_at, "prior_derivatives": acc.prior_derivatives}


class FirstTradeBody(RequestBody):
    userId: UserId
    ts: Timestamp


@router.post("/v1/beginner/first-trades", dependencies=[Feed])
def post_first_trade(body: FirstTradeBody, session: SessionDep, request: Request) -> dict[str, Any]:
    """A trader's first derivatives fill (idempotent: the earliest time wins)."""
    acc = beginner.record_first_trade(session, body.userId, _utc(body.ts), _now(request))
    session.commit()
    return {
        "user_id": acc.user_id,
        "first_trade_at": acc.first_trade_at,
        "protected": acc.protected_at_first_trade,
        "rules_version": acc.version_at_first_trade,
    }


class MarginEventBody(RequestBody):
    id: str = Field(min_length=1, max_length=128)
    userId: UserId
    kind: beginner.MarginKind
    ts: Timestamp
    liquidationId: str | None = Field(default=None, min_length=1, max_length=128)


@router.post("/v1/beginner/margin-events", dependencies=[Feed])
def post_margin_events(
    body: Annotated[list[MarginEventBody], Field(min_length=1, max_length=10_000)],
    session: SessionDep,
    request: Request,
) -> dict[str, int]:
    """Margin calls and liquidations of traders, from the exchange's risk engine (idempotent by id; all or
    nothing)."""
    now = _now(request)
    new = sum(
        beginner.record_margin_event(session, e.id, e.userId, e.kind, _utc(e.ts), e.liquidationId, now) for e in body
    )
    session.commit()
    return {"recorded": new, "already_recorded": len(body) - new}


@router.get("/v1/beginner/metrics", dependencies=[ProtectionAdmin])
def get_metrics(
    session: SessionDep, start: Timestamp, end: Timestamp, early_days: Annotated[int, Query(ge=1, le=3650)] = 30
) -> dict[str, Any]:
    m = beginner_metrics.monthly(session, _utc(start), _utc(end), early_days)
    return metrics_json(m)


def metrics_json(m: beginner_metrics.BeginnerMonth) -> dict[str, Any]:
    return {
        "start": m.start,
        "end": m.end,
        "early_days": m.early_days,
        "activations": m.activations,
        "refusals_by_rule": m.refusals_by_rule,
        "users_refused": m.users_refused,
        "questionnaire": {"passed": m.questionnaire_passed, "failed": m.questionnaire_failed},
        "cohorts": [c.as_json() for c in m.cohorts],
    }


@router.get("/v1/beginner/questionnaire", dependencies=[Public])
def get_questionnaire(session: SessionDep) -> dict[str, Any]:
    """The appropriateness questionnaire in force, without its answers."""
    version, q = beginner.public_questionnaire(session)
    return {
        "version": version,
        "pass_mark": q.pass_mark,
        "questions": [{"id": x.id, "text": x.text, "options": x.options} for x in q.questions],
    }


class AnswersBody(RequestBody):
    answers: dict[Annotated[str, Field(max_length=32)], Annotated[int, Field(ge=0, le=100)]] = Field(max_length=50)


@user_router.post("/v1/beginner/questionnaire")
def post_questionnaire(
    body: AnswersBody,
    session: SessionDep,
    request: Request,
    caller: TradingUser,  # passing lifts a trading limit: an API key needs trade permission, as for cooling-off
) -> dict[str, Any]:
    """The signed-in user's answers; stored and audited whatever the result. Passing lifts the protection."""
    a = beginner.submit_questionnaire(session, caller.uid, body.answers, _now(request))
    session.commit()
    return {
        "passed": a.passed,
        "score": a.score,
        "pass_mark": a.pass_mark,
        "version": a.version,
        "retry_at": a.retry_at,
    }


@user_router.get("/v1/beginner/status")
def get_status(session: SessionDep, request: Request, caller: CurrentUser) -> dict[str, Any]:
    """Whether beginner protection applies to the signed-in user, why, and what it limits."""
    s = beginner.status(session, caller.uid, _now(request))

    def d(v: Decimal | None) -> str | None:
        return None if v is None else format(v.normalize(), "f")

    return {
        "beginner": s.beginner,
        "criteria": s.criteria,
        "rules_version": s.version,
        "enabled": s.enabled,
        "cooling_off_until": s.cooling_off_until,
        "max_leverage": d(s.max_leverage),
        "max_position_usd": d(s.max_position_usd),
        "questionnaire_passed": s.questionnaire_passed,
    }


router.include_router(user_router)
