"""Risk routes: events in, withdrawal decisions out, the review queue, rules, lists, snoozes, metrics."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from bastion.errors import NotFoundError
from bastion.risk import admin, engine, events, metrics, review
from bastion.risk.hotpath import HotPath
from bastion.risk.runtime import RiskRuntime
from bastion.service.deps import Operator, SessionDep, require_operator

router = APIRouter(tags=["risk"])
_runtime_lock = threading.Lock()


def runtime(request: Request) -> RiskRuntime:
    """The process's cache of rules, lists and model (one per app, made on first use)."""
    rt: RiskRuntime | None = getattr(request.app.state, "risk_runtime", None)
    if rt is None:
        with _runtime_lock:
            rt = getattr(request.app.state, "risk_runtime", None)
            if rt is None:
                settings = request.app.state.settings
                rt = RiskRuntime(cache_seconds=settings.risk_cache_seconds, async_commit=settings.risk_async_commit)
                request.app.state.risk_runtime = rt
    return rt


def _ingest(session: SessionDep, fn: Any, ev: Any, rt: RiskRuntime) -> events.IngestResult:
    try:
        rt.relax_commit(session)
        result: events.IngestResult = fn(session, ev)
        session.commit()
    except IntegrityError:
        # The same event arrived twice at once; the other request stored it. Answer as the retry we are.
        session.rollback()
        result = fn(session, ev)
    return result


@router.post("/v1/events/logins", dependencies=[Operator])
def post_login(ev: events.LoginEvent, session: SessionDep, request: Request) -> events.IngestResult:
    return _ingest(session, events.ingest_login, ev, runtime(request))


@router.post("/v1/events/credential-changes", dependencies=[Operator])
def post_credential_change(
    ev: events.CredentialChangeEvent, session: SessionDep, request: Request
) -> events.IngestResult:
    return _ingest(session, events.ingest_credential_change, ev, runtime(request))


@router.post("/v1/events/address-book", dependencies=[Operator])
def post_address_book(ev: events.AddressBookEvent, session: SessionDep, request: Request) -> events.IngestResult:
    return _ingest(session, events.ingest_address_book, ev, runtime(request))


class BatchOut(BaseModel):
    received: int
    new: int


@router.post("/v1/events/batch", dependencies=[Operator])
def post_batch(
    items: Annotated[list[events.BatchEvent], Field(min_length=1, max_length=events.MAX_BATCH)],
    session: SessionDep,
    request: Request,
) -> BatchOut:
    """Logins, credential and address-book changes in order (`type` says which), all or nothing."""
    runtime(request).relax_commit(session)
    new = events.ingest_batch(session, items)
    session.commit()
    return BatchOut(received=len(items), new=new)


def hot_path(request: Request) -> HotPath:
    """The process's in-memory decision state and group-commit writer (one per app, made on first use)."""
    hp: HotPath | None = getattr(request.app.state, "risk_hot_path", None)
    if hp is None:
        rt = runtime(request)  # before taking the (non-reentrant) lock it takes too
        with _runtime_lock:
            hp = getattr(request.app.state, "risk_hot_path", None)
            if hp is None:
                app_state = request.app.state
                hp = HotPath(app_state.engine, app_state.sessionmaker, rt)
                app_state.risk_hot_path = hp
                hooks = getattr(app_state, "shutdown_hooks", None)
                if hooks is not None:
                    hooks.append(hp.close)
    return hp


_WITHDRAWAL_BODY = {
    "required": True,
    "content": {"application/json": {"schema": events.WithdrawalRequest.model_json_schema()}},
}


@router.post(
    "/v1/withdrawals/evaluate",
    response_model=engine.DecisionOut,
    openapi_extra={"requestBody": _WITHDRAWAL_BODY},
)
async def evaluate_withdrawal(request: Request) -> Response:
    """Decide: allow (approved), review (waiting manual review) or block (cancelled). Idempotent by id.
    Operator route (`Authorization: Bearer <BASTION_OPERATOR_TOKEN>` when set). The body is a
    `WithdrawalRequest`, parsed and validated in one step (pydantic, from the raw bytes)."""
    # The operator check called directly: FastAPI's dependency resolution cost more than the decision.
    await require_operator(request.app.state.settings, request.headers.get("authorization"))
    try:
        req = events.WithdrawalRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
        ) from None
    out = await hot_path(request).evaluate(req)
    # Serialized once here, by pydantic's Rust serializer; no re-validation of a model we just built.
    return Response(content=out.model_dump_json(), media_type="application/json")


@router.get("/v1/risk/decisions/{decision_id}", dependencies=[Operator])
def get_decision(decision_id: int, session: SessionDep) -> dict[str, Any]:
    d = engine.get_decision(session, decision_id)
    if d is None:
        raise NotFoundError(f"decision {decision_id} does not exist")
    return {
        **d.model_dump(mode="json"),
        "review_trail": [a.model_dump(mode="json") for a in review.trail(session, decision_id)],
    }


@router.get("/v1/risk/reviews", dependencies=[Operator])
def list_reviews(
    session: SessionDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)
) -> list[engine.DecisionOut]:
    """Held withdrawals waiting for an analyst, oldest first."""
    return review.pending(session, limit, offset)


@router.post("/v1/risk/reviews/{decision_id}", dependencies=[Operator])
def post_review(decision_id: int, body: review.ReviewIn, session: SessionDep) -> engine.DecisionOut:
    out = review.review(session, decision_id, body)
    session.commit()
    return out


class RulesetIn(BaseModel):
    definition: dict[str, Any]
    created_by: str = Field(min_length=1, max_length=64)
    note: str | None = None
    activate: bool = False


@router.get("/v1/risk/rulesets", dependencies=[Operator])
def get_rulesets(session: SessionDep) -> list[admin.RulesetOut]:
    out = admin.list_rulesets(session)
    session.commit()
    return out


@router.post("/v1/risk/rulesets", dependencies=[Operator], status_code=201)
def post_ruleset(body: RulesetIn, session: SessionDep) -> admin.RulesetOut:
    out = admin.create_ruleset(session, body.definition, body.created_by, body.note, body.activate)
    session.commit()
    return out


@router.post("/v1/risk/rulesets/{version}/activate", dependencies=[Operator])
def post_activate(version: int, session: SessionDep) -> admin.RulesetOut:
    out = admin.activate_ruleset(session, version)
    session.commit()
    return out


@router.get("/v1/risk/lists/{kind}", dependencies=[Operator])
def get_list(kind: admin.ListKind, session: SessionDep) -> list[str]:
    return admin.list_entries(session, kind)


@router.post("/v1/risk/lists/{kind}", dependencies=[Operator])
def post_list(kind: admin.ListKind, entries: list[admin.ListEntryIn], session: SessionDep) -> dict[str, int]:
    added = admin.add_list_entries(session, kind, entries)
    session.commit()
    return {"added": added}


@router.delete("/v1/risk/lists/{kind}/{value}", dependencies=[Operator])
def delete_list_entry(kind: admin.ListKind, value: str, session: SessionDep) -> dict[str, bool]:
    removed = admin.remove_list_entry(session, kind, value)
    session.commit()
    return {"removed": removed}


@router.get("/v1/risk/users/{user_id}/snoozes", dependencies=[Operator])
def get_snoozes(user_id: str, session: SessionDep) -> list[admin.SnoozeOut]:
    return admin.snoozes(session, user_id)


@router.post("/v1/risk/users/{user_id}/snoozes", dependencies=[Operator], status_code=201)
def post_snooze(user_id: str, body: admin.SnoozeIn, session: SessionDep) -> admin.SnoozeOut:
    out = admin.snooze(session, user_id, body)
    session.commit()
    return out


@router.delete("/v1/risk/users/{user_id}/snoozes/{snooze_id}", dependencies=[Operator])
def delete_snooze(user_id: str, snooze_id: int, session: SessionDep) -> dict[str, bool]:
    admin.end_snooze(session, user_id, snooze_id)
    session.commit()
    return {"ended": True}


class MetricsOut(BaseModel):
    start: datetime
    end: datetime
    withdrawals_evaluated: int
    allowed: int
    held: int
    blocked: int
    pending_review: int
    withdrawals_intercepted: int
    users_protected: int
    value_preserved_usd: str
    false_positives: int
    false_positive_rate: float
    median_review_seconds: float | None
    hits_per_rule: dict[str, int]
    daily_interceptions: dict[str, int]


@router.get("/v1/risk/metrics", dependencies=[Operator])
def get_metrics(session: SessionDep, start: datetime, end: datetime, format: Literal["json"] = "json") -> MetricsOut:
    m = metrics.monthly(session, start, end)
    return MetricsOut(
        **{
            **m.__dict__,
            "value_preserved_usd": str(m.value_preserved_usd),
            "daily_interceptions": {d.isoformat(): n for d, n in m.daily_interceptions.items()},
        }
    )
