"""Risk routes: events in, withdrawal decisions out, the review queue, rules, lists, snoozes, metrics."""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.types import Message, Receive, Scope, Send

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


@router.post(
    "/v1/withdrawals/evaluate",
    response_model=decision.DecisionOut,
    openapi_extra={"requestBody": _WITHDRAWAL_BODY},
    dependencies=[ServiceScope(RISK_WRITE)],
)
async def evaluate_withdrawal(request: Request) -> Response:
    """Decide: allow (approved), review (waiting manual review) or block (cancelled). Idempotent by id.
    Service route (the wallet service's credential, scope risk:write). The body is a `WithdrawalRequest`,
    parsed and validated in one step (pydantic, from the raw bytes)."""
    try:
        req = WithdrawalRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
        ) from None
    out = await risk_hot_path(request.app).evaluate(req)
    # Serialized once here, by pydantic's Rust serializer; no re-validation of a model we just built.
    return Response(content=out.model_dump_json(), media_type="application/json")


# ------------------------------------------------------------------------------------------ fast route
EVALUATE_PATH = "/v1/withdrawals/evaluate"
_EVALUATE_ROUTE = f"POST {EVALUATE_PATH}"
_JSON_HEADERS = b"application/json"


async def fast_evaluate(app: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
    """`POST /v1/withdrawals/evaluate` as plain ASGI, in front of FastAPI (`create_app` wires it): the route
    above without the framework's per-request routing, middleware and request objects, which cost as much
    event-loop time as the decision. It answers only what it is sure of the same way: a request with the
    operator token (when one is set) and a valid body gets its decision here; anything else (no or a wrong
    token, a body that does not validate) goes, untouched, to the FastAPI route above, so a 401 or a 422 is
    FastAPI's own. Errors from the decision (a 409 for a reused id) go through the app's exception handlers,
    as they would from the route; anything unhandled reaches uvicorn, which answers 500."""
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":  # the first one, as Starlette's `headers.get` takes
            authorization = value.decode("latin-1")
            break
    # Only a credential this process already holds, with the scope, is answered here (no I/O on the loop);
    # anything else goes to the FastAPI route, whose dependency looks it up or refuses (401/403).
    token = bearer_value(authorization)
    gate = access_gate(app)
    cred = gate.cached(token) if token is not None else None
    if cred is None or not allows(cred.scopes, RISK_WRITE):
        await FastAPI.__call__(app, scope, receive, send)
        return
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # the client went away before sending its body: nobody to answer
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    try:
        req = WithdrawalRequest.model_validate_json(body)
    except ValidationError:
        await FastAPI.__call__(app, scope, _replay(body, receive), send)
        return
    gate.record(cred.name, _EVALUATE_ROUTE)
    try:
        out = await risk_hot_path(app).evaluate(req)
    except Exception as exc:
        handler = _handler_for(app, exc)
        if handler is None:
            raise
        response = handler(Request(scope, receive), exc)
        if inspect.isawaitable(response):
            response = await response
        await response(scope, receive, send)
        return
    content = out.model_dump_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(content)).encode()), (b"content-type", _JSON_HEADERS)],
        }
    )
    await send({"type": "http.response.body", "body": content})


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, once, then whatever the connection says next (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _handler_for(app: FastAPI, exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls is not Exception and cls in app.exception_handlers:
            return app.exception_handlers[cls]
    return None


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
