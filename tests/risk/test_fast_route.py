"""`POST /v1/withdrawals/evaluate` has one front door: a plain ASGI handler (`routers.risk.evaluate`, declared to
FastAPI as an `AsgiRoute` so it is documented and classified like any route). Through a real HTTP client against
live servers on one database, it answers exactly as a FastAPI route would: the oracle is the FastAPI route this
handler replaced, kept here (`_fastapi_route`) and served by a second app. The same decision, the same 401
without a credential, the same 422 naming the field, idempotent retries (made on either), the same 409 for an
id reused with another body; and the other routes still reach FastAPI."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import SecretStr, ValidationError

from auth_support import bearer, named_credential, user_headers
from bastion.risk.schemas import WithdrawalRequest
from bastion.service.access import ServiceScope, route_table
from bastion.service.app import create_app
from bastion.service.asgi_route import AsgiRoute
from bastion.service.deps import risk_hot_path
from bastion.service.routers.risk import EVALUATE_PATH, evaluate
from bastion.service.testing import ServerThread

TOKEN = "fast-route-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


FAST_CALLS: list[str] = []


async def _fastapi_route(request: Request) -> Response:
    """The oracle: the route as FastAPI served it before it had one front door (its access rule declared as a
    dependency, the body read and validated by the route)."""
    try:
        req = WithdrawalRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
        ) from None
    out = await risk_hot_path(request.app).evaluate(req)
    return Response(content=out.model_dump_json(), media_type="application/json")


@pytest.fixture
def fast_and_plain(settings: Any) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two live servers on one database: one as the service is, one answering the route with the oracle."""
    settings.operator_token = SecretStr(TOKEN)
    fast, plain = create_app(settings), create_app(settings)
    # This route's handler is `evaluate` (other domains have fast routes of their own, e.g. keys' account config).
    assert fast.fast_routes[("POST", EVALUATE_PATH)] is evaluate  # type: ignore[attr-defined]
    # One front door: the path has one route, the ASGI one, classified as a service route like any other.
    routes = [r for r in route_table(fast) if r.path == EVALUATE_PATH]
    assert [(r.methods, r.rule.kind, r.rule.need, r.in_schema) for r in routes] == [
        (("POST",), "service", "risk:write", True)
    ]
    assert "post" in fast.openapi()["paths"][EVALUATE_PATH]
    plain.fast_routes = {}  # type: ignore[attr-defined]
    plain.add_api_route(EVALUATE_PATH, _fastapi_route, methods=["POST"], dependencies=[ServiceScope("risk:write")])
    plain.router.routes.insert(0, plain.router.routes.pop())  # matched before the included ASGI route
    assert not isinstance(plain.router.routes[0], AsgiRoute)

    async def counted(app: Any, scope: Any, receive: Any, send: Any) -> None:
        FAST_CALLS.append(scope["path"])
        await evaluate(app, scope, receive, send)

    fast.fast_routes[("POST", EVALUATE_PATH)] = counted  # type: ignore[attr-defined]
    FAST_CALLS.clear()
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                httpx.Client(base_url=stack.enter_context(ServerThread(app)), timeout=30)
            )
            for app in (fast, plain)
        ]
        yield clients[0], clients[1]


def _body(user: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"fast-{next(_ids)}",
        "user_id": user,
        "at": T0.isoformat(),
        "asset": "USDT",
        "amount": "250",
        "amount_usd": "250",
        "address": f"TFast-{user}",
        "balance_usd": "1000",
        "ip": "198.51.100.9",
        "device_fingerprint": "dev-1",
        **extra,
    }


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.headers["content-type"], a.json()) == (
        b.status_code,
        b.headers["content-type"],
        b.json(),
    ), (a.text, b.text)


def _without_ids(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k not in ("decision_id", "event_id", "user_id")}


def test_fast_route_and_fastapi_route_agree(
    fast_and_plain: tuple[httpx.Client, httpx.Client], settings: Any, db_url: str
) -> None:
    fast, plain = fast_and_plain

    # the same decision for the same history (two fresh users, one through each)
    rf = fast.post(EVALUATE_PATH, json=_body("fast-u1"), headers=AUTH)
    rp = plain.post(EVALUATE_PATH, json=_body("fast-u2"), headers=AUTH)
    assert rf.status_code == rp.status_code == 200, (rf.text, rp.text)
    assert rf.headers["content-type"] == rp.headers["content-type"] == "application/json"
    of, op = rf.json(), rp.json()
    assert of["decision_id"] > 0 and op["decision_id"] > 0 and not of["duplicate"] and not op["duplicate"]
    assert _without_ids(of) == _without_ids(op)
    assert of["rules"] and of["features"]["withdrawals_24h_count"] == 1

    # the operator token: missing, wrong, or a second header after a wrong first one
    body = _body("fast-u3")
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        a = fast.post(EVALUATE_PATH, json=body, headers=headers)
        _same(a, plain.post(EVALUATE_PATH, json=body, headers=headers))
        assert a.status_code == 401
    two = [("Authorization", "Bearer nope"), ("Authorization", f"Bearer {TOKEN}")]
    a = fast.post(EVALUATE_PATH, json=body, headers=two)
    _same(a, plain.post(EVALUATE_PATH, json=body, headers=two))
    assert a.status_code == 401
    # named credentials neither process has seen yet (looked up through the route's declared dependency, then
    # cached): the wallet service's is answered, one without the scope is a 403, a user's session a 403
    wallet = bearer(named_credential(db_url, "wallet-fast", "risk:write"))
    reviewer = bearer(named_credential(db_url, "reviewer-fast", "risk:review"))
    for headers, status in ((reviewer, 403), (user_headers(settings, "fast-u3"), 403)):
        a = fast.post(EVALUATE_PATH, json=body, headers=headers)
        _same(a, plain.post(EVALUATE_PATH, json=body, headers=headers))
        assert a.status_code == status, a.text
    first = fast.post(EVALUATE_PATH, json=_body("fast-u5"), headers=wallet)
    again = plain.post(EVALUATE_PATH, json=_body("fast-u6"), headers=wallet)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert _without_ids(first.json()) == _without_ids(again.json())
    # nothing was decided for the refused requests
    assert fast.get("/v1/risk/reviews", headers=AUTH).status_code == 200

    # bad bodies: the same 422, naming the field
    bad: list[tuple[bytes, str]] = [
        (
            httpx.Request("POST", "/", json={k: v for k, v in _body("fast-u4").items() if k != "amount"}).content,
            "amount",
        ),
        (httpx.Request("POST", "/", json=_body("fast-u4", amount="-1")).content, "amount"),
        (httpx.Request("POST", "/", json=_body("fast-u4", ip="not-an-ip")).content, "ip"),
        (httpx.Request("POST", "/", json=_body("fast-u4", address="")).content, "address"),
        (b"{not json", "body"),
        (b"", "body"),
        (b"[]", "body"),
    ]
    json_headers = {**AUTH, "Content-Type": "application/json"}
    for content, field in bad:
        a = fast.post(EVALUATE_PATH, content=content, headers=json_headers)
        _same(a, plain.post(EVALUATE_PATH, content=content, headers=json_headers))
        assert a.status_code == 422, a.text
        problem = a.json()
        assert problem["error"] == "validation_error"
        assert problem["detail"][0]["field"].startswith(field), problem
        assert problem["message"].startswith(problem["detail"][0]["field"]), problem
    # a token check comes before the body: no token and a bad body is a 401 on both
    _same(
        fast.post(EVALUATE_PATH, content=b"{}", headers={"Content-Type": "application/json"}),
        plain.post(EVALUATE_PATH, content=b"{}", headers={"Content-Type": "application/json"}),
    )

    # idempotent retries, on the route that decided and on the other: the original answer, marked duplicate
    for body, first in ((_body("fast-u1"), fast), (_body("fast-u2"), plain)):
        original = first.post(EVALUATE_PATH, json=body, headers=AUTH).json()
        assert not original["duplicate"]
        for c in (fast, plain):
            again = c.post(EVALUATE_PATH, json=body, headers=AUTH)
            assert again.status_code == 200, again.text
            out = again.json()
            assert out["duplicate"] and {**out, "duplicate": False} == original
        # the same id with another body: the same 409 on both
        other = {**body, "amount": "251"}
        a = fast.post(EVALUATE_PATH, json=other, headers=AUTH)
        _same(a, plain.post(EVALUATE_PATH, json=other, headers=AUTH))
        assert a.status_code == 409 and a.json()["error"] == "conflict"
        # the stored decision, through a route the fast app hands to FastAPI
        stored = fast.get(f"/v1/risk/decisions/{original['decision_id']}", headers=AUTH)
        assert stored.status_code == 200 and stored.json()["event_id"] == body["event_id"]

    # the retries did not count as withdrawals: the users' next decisions see two each (this one included)
    nf = fast.post(EVALUATE_PATH, json=_body("fast-u1"), headers=AUTH).json()
    np = plain.post(EVALUATE_PATH, json=_body("fast-u2"), headers=AUTH).json()
    assert nf["features"]["withdrawals_24h_count"] == np["features"]["withdrawals_24h_count"] == 3
    assert _without_ids(nf) == _without_ids(np)

    # every POST to the fast app went through the fast route (but the one body that is not JSON at all, which
    # the request boundary in front of every route refuses); other methods on the path go to FastAPI
    bad = [b for b in bad if b[0] != b"{not json"]
    posts = len(FAST_CALLS)
    _same(fast.get(EVALUATE_PATH, headers=AUTH), plain.get(EVALUATE_PATH, headers=AUTH))
    assert fast.get(EVALUATE_PATH, headers=AUTH).status_code == 405
    assert posts == 1 + 4 + 3 + len(bad) + 1 + (3 + 2) + 1 and len(FAST_CALLS) == posts


def test_fastapi_routing_reaches_the_same_handler(settings: Any) -> None:
    """`create_app(fast_routes=False)`: FastAPI's router matches the route and hands it to the same ASGI handler
    (nothing else can answer it): a decision, a 401 with its header, a 422, and FastAPI's 405 for another method."""
    settings.operator_token = SecretStr(TOKEN)
    app = create_app(settings, fast_routes=False)
    assert app.fast_routes == {}  # type: ignore[attr-defined]
    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        ok = c.post(EVALUATE_PATH, json=_body("routed-u1"), headers=AUTH)
        assert ok.status_code == 200 and ok.json()["decision_id"] > 0, ok.text
        refused = c.post(EVALUATE_PATH, json=_body("routed-u1"))
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"] == "unauthenticated"
        bad = c.post(EVALUATE_PATH, json=_body("routed-u1", amount="-1"), headers=AUTH)
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "amount", bad.text
        assert c.get(EVALUATE_PATH, headers=AUTH).status_code == 405
