"""Risk routes: events in, withdrawal decisions out, the review queue, rules, lists, snoozes, metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.types import Receive, Scope, Send

from bastion.access.scopes import allows
from bastion.account import locks as account_locks
from bastion.bounds import INT32_MAX, Identifier, LongIdentifier, PositiveInt32, Text, Timestamp
from bastion.errors import NotFoundError
from bastion.risk import admin, ingest, metrics, review
from bastion.risk.decide import decision
from bastion.risk.schemas import (
    MAX_BATCH,
    AddressBookEvent,
    BatchEvent,
    CredentialChangeEvent,
    IngestResult,
    LoginEvent,
    WithdrawalRequest,
)
from bastion.risk.state.config import RiskRuntime
from bastion.service.access import OperatorScope, ServiceScope, access_gate, acting_credential, bearer_value
from bastion.service.asgi_route import AsgiRoute, run_dependency, send_error, served_by
from bastion.service.deps import RiskRuntimeDep, SessionDep, risk_hot_path
from bastion.service.schemas import RequestBody

router = APIRouter(tags=["risk"])
EventsWriter = ServiceScope("events:write")
Reviewer = OperatorScope("risk:review")
RiskAdmin = OperatorScope("risk:admin")
RISK_WRITE = "risk:write"
def _ingest(session: SessionDep, fn: Any, ev: Any, rt: RiskRuntime) -> IngestResult:
    try:
        rt.relax_commit(session)
        result: IngestResult = fn(session, ev)
        session.commit()
    except IntegrityError:
        # The same event arrived twice at once; the other request stored it. Answer as the retry we are.
        session.rollback()
        result = fn(session, ev)
    return result


@router.post("/v1/events/logins", dependencies=[EventsWriter])
def post_login(ev: LoginEvent, session: SessionDep, rt: RiskRuntimeDep) -> IngestResult:
    return _ingest(session, ingest.ingest_login, ev, rt)


@router.post("/v1/events/credential-changes", dependencies=[EventsWriter])
def post_credential_change(
    ev: CredentialChangeEvent, session: SessionDep, rt: RiskRuntimeDep
) -> IngestResult:
    return _ingest(session, account_locks.ingest_credential_change, ev, rt)


@router.post("/v1/events/address-book", dependencies=[EventsWriter])
def post_address_book(ev: AddressBookEvent, session: SessionDep, rt: RiskRuntimeDep) -> IngestResult:
    return _ingest(session, ingest.ingest_address_book, ev, rt)


class BatchOut(BaseModel):
    received: int
    new: int


@router.post("/v1/events/batch", dependencies=[EventsWriter])
def post_batch(
    items: Annotated[list[BatchEvent], Field(min_length=1, max_length=MAX_BATCH)],
    session: SessionDep,
    rt: RiskRuntimeDep,
) -> BatchOut:
    """Logins, credential and address-book changes in order (`type` says which), all or nothing."""
    rt.relax_commit(session)
    new = ingest.ingest_batch(session, items, account_locks.after_credential_change)
    session.commit()
    return BatchOut(received=len(items), new=new)


_WITHDRAWAL_BODY = {
    "required": True,
    "content": {"application/json": {"schema": WithdrawalRequest.model_json_schema()}},
}
EVALUATE_PATH = "/v1/withdrawals/evaluate"
_EVALUATE_ROUTE = f"POST {EVALUATE_PATH}"
_JSON = b"application/json"
_WALLET_SERVICE = ServiceScope(RISK_WRITE)


async def evaluate(app: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
    """`POST /v1/withdrawals/evaluate`, the one handler of the route, in plain ASGI (`service/asgi_route.py`:
    `create_app` calls it before FastAPI's routing, whose per-request work costs as much event-loop time as the
    decision). In FastAPI's order: the access check, then the body, then the decision.

    The common case costs no I/O before the decision: a bearer credential this process already holds in its
    cache, with the scope, is checked here from memory (one use counted); anything else (none, a user's JWT, an
    uncached or unknown one) runs the route's declared `ServiceScope` dependency, which looks the credential up
    (and caches it) or refuses (401/403). The body is read and validated in one pydantic call from the raw
    bytes (a 422 naming the field). Every error goes through the app's exception handlers, as from any route;
    anything unhandled reaches uvicorn, which answers 500."""
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":  # the first one, as Starlette's `headers.get` takes
            authorization = value.decode("latin-1")
            break
    token = bearer_value(authorization)
    gate = access_gate(app)
    cred = gate.cached(token) if token is not None else None
    try:
        if cred is not None and allows(cred.scopes, RISK_WRITE):
            gate.record(cred.name, _EVALUATE_ROUTE)
        else:
            await run_dependency(app, _WALLET_SERVICE, scope, receive)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away before sending its body: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            req = WithdrawalRequest.model_validate_json(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
            ) from None
        out = await risk_hot_path(app).evaluate(req)
    except Exception as exc:
        await send_error(app, exc, scope, receive, send)
        return
    # Serialized once, by pydantic's Rust serializer; no re-validation of a model just built.
    content = out.model_dump_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(content)).encode()), (b"content-type", _JSON)],
        }
    )
    await send({"type": "http.response.body", "body": content})


@served_by(evaluate)
async def evaluate_withdrawal(request: Request) -> Response:
    """Decide: allow (approved), review (waiting manual review) or block (cancelled). Idempotent by id.
    Service route (the wallet service's credential, scope risk:write). The body is a `WithdrawalRequest`,
    parsed and validated in one step (pydantic, from the raw bytes)."""
    # Never called: the route is an AsgiRoute, answered by `evaluate`; FastAPI documents this signature.
    raise AssertionError("POST /v1/withdrawals/evaluate is served by routers.risk.evaluate")


router.add_api_route(
    EVALUATE_PATH,
    evaluate_withdrawal,
    methods=["POST"],
    response_model=decision.DecisionOut,
    openapi_extra={"requestBody": _WITHDRAWAL_BODY},
    dependencies=[_WALLET_SERVICE],
    route_class_override=AsgiRoute,
)


@router.get("/v1/risk/decisions/{decision_id}", dependencies=[Reviewer])
def get_decision(decision_id: PositiveInt32, session: SessionDep) -> dict[str, Any]:
    d = decision.get_decision(session, decision_id)
    if d is None:
        raise NotFoundError(f"decision {decision_id} does not exist")
    return {
        **d.model_dump(mode="json"),
        "review_trail": [a.model_dump(mode="json") for a in review.trail(session, decision_id)],
    }


@router.get("/v1/risk/reviews", dependencies=[Reviewer])
def list_reviews(
    session: SessionDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=INT32_MAX)
) -> list[decision.DecisionOut]:
    """Held withdrawals waiting for an analyst, oldest first."""
    return review.pending(session, limit, offset)


@router.post("/v1/risk/reviews/{decision_id}", dependencies=[Reviewer])
def post_review(
    decision_id: PositiveInt32, body: review.ReviewIn, session: SessionDep, request: Request
) -> decision.DecisionOut:
    analyst = acting_credential(request, body.analyst, 64)  # the trail names the credential that acted
    out = review.review(session, decision_id, body.model_copy(update={"analyst": analyst}))
    session.commit()
    return out


class RulesetIn(RequestBody):
    definition: dict[str, Any]
    created_by: Identifier
    note: Text | None = None
    activate: bool = False


@router.get("/v1/risk/rulesets", dependencies=[RiskAdmin])
def get_rulesets(session: SessionDep) -> list[admin.RulesetOut]:
    out = admin.list_rulesets(session)
    session.commit()
    return out


@router.post("/v1/risk/rulesets", dependencies=[RiskAdmin], status_code=201)
def post_ruleset(body: RulesetIn, session: SessionDep, request: Request) -> admin.RulesetOut:
    created_by = acting_credential(request, body.created_by, 64)
    out = admin.create_ruleset(session, body.definition, created_by, body.note, body.activate)
    session.commit()
    return out


@router.post("/v1/risk/rulesets/{version}/activate", dependencies=[RiskAdmin])
def post_activate(version: PositiveInt32, session: SessionDep) -> admin.RulesetOut:
    out = admin.activate_ruleset(session, version)
    session.commit()
    return out


@router.get("/v1/risk/lists/{kind}", dependencies=[RiskAdmin])
def get_list(kind: admin.ListKind, session: SessionDep) -> list[str]:
    return admin.list_entries(session, kind)


@router.post("/v1/risk/lists/{kind}", dependencies=[RiskAdmin])
def post_list(kind: admin.ListKind, entries: list[admin.ListEntryIn], session: SessionDep) -> dict[str, int]:
    added = admin.add_list_entries(session, kind, entries)
    session.commit()
    return {"added": added}


@router.delete("/v1/risk/lists/{kind}/{value}", dependencies=[RiskAdmin])
def delete_list_entry(kind: admin.ListKind, value: LongIdentifier, session: SessionDep) -> dict[str, bool]:
    removed = admin.remove_list_entry(session, kind, value)
    session.commit()
    return {"removed": removed}


@router.get("/v1/risk/users/{user_id}/snoozes", dependencies=[RiskAdmin])
def get_snoozes(user_id: Identifier, session: SessionDep) -> list[admin.SnoozeOut]:
    return admin.snoozes(session, user_id)


@router.post("/v1/risk/users/{user_id}/snoozes", dependencies=[RiskAdmin], status_code=201)
def post_snooze(user_id: Identifier, body: admin.SnoozeIn, session: SessionDep) -> admin.SnoozeOut:
    out = admin.snooze(session, user_id, body)
    session.commit()
    return out


@router.delete("/v1/risk/users/{user_id}/snoozes/{snooze_id}", dependencies=[RiskAdmin])
def delete_snooze(user_id: Identifier, snooze_id: PositiveInt32, session: SessionDep) -> dict[str, bool]:
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


@router.get("/v1/risk/metrics", dependencies=[Reviewer])
def get_metrics(session: SessionDep, start: Timestamp, end: Timestamp, format: Literal["json"] = "json") -> MetricsOut:
    m = metrics.monthly(session, start, end)
    return MetricsOut(
        **{
            **m.__dict__,
            "value_preserved_usd": str(m.value_preserved_usd),
            "daily_interceptions": {d.isoformat(): n for d, n in m.daily_interceptions.items()},
        }
    )
