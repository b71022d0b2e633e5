"""Beginner protection: switched on by the exchange's rules; a beginner's first derivatives order is refused
with the rule's reason until the cooling-off ends or the questionnaire is passed; the leverage cap and the
position limit apply; time is injected through the protection clock, never slept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_support import OPERATOR
from bastion.service.deps import InProcessOverrides
from bastion.service.testing import user_key_headers

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)
RULES = {
    "enabled": True,
    "account_age_days": 30,
    "no_derivatives_history": True,
    "cooling_off_hours": 24,
    "max_leverage": "10",
    "max_position_usd": "10000",
    "questionnaire": {
        "pass_mark": 2,
        "retry_hours": 12,
        "questions": [
            {"id": "a", "text": "A?", "options": ["x", "y"], "answer": 1},
            {"id": "b", "text": "B?", "options": ["x", "y", "z"], "answer": 2},
        ],
    },
}


@pytest.fixture
def svc(settings: Any) -> Iterator[tuple[FastAPI, httpx.Client, list[datetime]]]:
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread

    clock = [T0]
    app = create_app(settings, overrides=InProcessOverrides(protection_clock=lambda: clock[0]))
    with ServerThread(app) as base_url, httpx.Client(headers=OPERATOR, base_url=base_url, timeout=30) as client:
        yield app, client, clock
    app.state.engine.dispose()


def order(user: str, **kw: Any) -> dict[str, Any]:
    body = {"userId": user, "channel": "app", "instType": "SWAP", "instId": "BTC-USDT-SWAP", "side": "buy", "sz": "1"}
    return {**body, **kw}


def test_off_until_the_exchange_switches_it_on(svc: Any) -> None:
    _app, http, _clock = svc
    r = http.post("/v1/orders/precheck", json=order("newbie", lever="100", notionalUsd="1000000")).json()
    assert r["allowed"] is True
    assert http.put("/v1/beginner/rules", json={"definition": RULES, "actor": "risk"}).json() == {"version": 1}
    r = http.post("/v1/orders/precheck", json=order("newbie2")).json()
    assert r["allowed"] is False and r["rule"] == "beginner:cooling_off"


def test_first_order_refused_until_the_cooling_off_ends_then_caps(svc: Any) -> None:
    _app, http, clock = svc
    http.put("/v1/beginner/rules", json={"definition": RULES, "actor": "risk"})
    http.put("/v1/beginner/accounts/ann", json={"opened_at": (T0 - timedelta(days=2)).isoformat()})
    r = http.post("/v1/orders/precheck", json=order("ann", lever="5")).json()
    assert r["allowed"] is False and r["rule"] == "beginner:cooling_off"
    assert "rules v1" in r["reason"] and "account age, no derivatives history" in r["reason"]
    assert (T0 + timedelta(hours=24)).isoformat() in r["reason"] and "questionnaire" in r["reason"]
    # spot, and orders that reduce, are never held back
    assert http.post("/v1/orders/precheck", json=order("ann", instType="SPOT", instId="BTC-USDT")).json()["allowed"]
    assert http.post("/v1/orders/precheck", json=order("ann", side="sell", pos="1")).json()["allowed"]
    # a later attempt does not restart the cooling-off
    clock[0] = T0 + timedelta(hours=23, minutes=59)
    assert http.post("/v1/orders/precheck", json=order("ann", lever="5")).json()["rule"] == "beginner:cooling_off"
    clock[0] = T0 + timedelta(hours=24)
    assert http.post("/v1/orders/precheck", json=order("ann", lever="5")).json()["allowed"] is True
    r = http.post("/v1/orders/precheck", json=order("ann", lever="20")).json()
    assert (
        r["allowed"] is False and r["rule"] == "beginner:leverage_cap" and "20x is above the cap of 10x" in r["reason"]
    )
    assert http.post("/v1/orders/precheck", json=order("ann", lever="10")).json()["allowed"] is True
    r = http.post("/v1/orders/precheck", json=order("ann", lever="2", notionalUsd="10000.01")).json()
    assert r["rule"] == "beginner:position_limit" and "10000.01 USD is above the limit of 10000 USD" in r["reason"]
    # once the account is older than 30 days and has traded, the protection no longer applies
    http.post("/v1/beginner/first-trades", json={"userId": "ann", "ts": clock[0].isoformat()})
    clock[0] = T0 + timedelta(days=29)
    assert http.post("/v1/orders/precheck", json=order("ann", lever="20")).json()["allowed"] is True


def test_experienced_trader_is_not_a_beginner(svc: Any) -> None:
    _app, http, _clock = svc
    http.put("/v1/beginner/rules", json={"definition": RULES, "actor": "risk"})
    http.put("/v1/beginner/accounts/pro", json={"opened_at": "2020-01-01T00:00:00Z", "prior_derivatives": True})
    assert http.post("/v1/orders/precheck", json=order("pro", lever="100")).json()["allowed"] is True
    # an old account without derivatives history is still a beginner (no history), with the cooling-off
    http.put("/v1/beginner/accounts/old", json={"opened_at": "2020-01-01T00:00:00Z"})
    r = http.post("/v1/orders/precheck", json=order("old")).json()
    assert r["rule"] == "beginner:cooling_off" and "(rules v1; no derivatives history)" in r["reason"]


def test_questionnaire_lifts_it_and_cannot_be_brute_forced(svc: Any) -> None:
    app, http, clock = svc
    http.put("/v1/beginner/rules", json={"definition": RULES, "actor": "risk"})
    q = http.get("/v1/beginner/questionnaire").json()
    assert q["version"] == 1 and "answer" not in json.dumps(q["questions"])
    assert http.post("/v1/orders/precheck", json=order("bea")).json()["rule"] == "beginner:cooling_off"

    def answer(answers: dict[str, int]) -> httpx.Response:
        body = json.dumps({"answers": answers})
        path = "/v1/beginner/questionnaire"
        return http.post(
            path, content=body, headers=user_key_headers(app, "bea", "POST", path, body, ("read", "trade"))
        )

    r = answer({"a": 1, "b": 0})
    assert r.status_code == 200 and r.json()["passed"] is False and r.json()["score"] == 1
    clock[0] = T0 + timedelta(hours=11)
    r = answer({"a": 1, "b": 2})
    assert r.status_code == 409 and "next one is possible" in r.json()["message"]
    assert http.post("/v1/orders/precheck", json=order("bea")).json()["allowed"] is False
    clock[0] = T0 + timedelta(hours=12)
    assert answer({"a": 1, "b": 2}).json()["passed"] is True
    # lifted at once: inside the cooling-off, above the cap
    assert http.post("/v1/orders/precheck", json=order("bea", lever="50")).json()["allowed"] is True
    path = "/v1/beginner/status"
    st = http.get(path, headers=user_key_headers(app, "bea", "GET", path)).json()
    assert st["beginner"] is False and st["questionnaire_passed"] is True
    assert answer({"zzz": 1}).status_code == 422
    nobody = {"Authorization": ""}  # instead of the client's default operator credential
    assert (
        http.post(path.replace("status", "questionnaire"), json={"answers": {"a": 1}}, headers=nobody).status_code
        == 401
    )
    # the back office is not the user either
    assert http.post(path.replace("status", "questionnaire"), json={"answers": {"a": 1}}).status_code == 403
    # the attempts are stored, answers included
    with app.state.sessionmaker() as s:
        from sqlalchemy import select

        from bastion.protection.models import QuestionnaireAttempt

        rows = s.scalars(select(QuestionnaireAttempt).order_by(QuestionnaireAttempt.id)).all()
        assert [(r.user_id, r.score, r.passed) for r in rows] == [("bea", 1, False), ("bea", 2, True)]
        assert rows[0].answers == {"a": 1, "b": 0}


def test_bad_rules_name_the_field(svc: Any) -> None:
    _app, http, _clock = svc
    bad = {**RULES, "max_leverage": "-1"}
    r = http.put("/v1/beginner/rules", json={"definition": bad, "actor": "risk"})
    assert r.status_code == 422 and "max_leverage" in r.json()["message"]
    bad = {**RULES, "questionnaire": {**RULES["questionnaire"], "pass_mark": 3}}
    r = http.put("/v1/beginner/rules", json={"definition": bad, "actor": "risk"})
    assert r.status_code == 422 and "questionnaire" in r.json()["message"]
    assert http.get("/v1/beginner/rules").json()["version"] == 0


def test_refusals_are_counted_by_rule(svc: Any) -> None:
    _app, http, clock = svc
    http.put("/v1/beginner/rules", json={"definition": RULES, "actor": "risk"})
    for user in ("u1", "u2"):
        http.post("/v1/orders/precheck", json=order(user))
    clock[0] = T0 + timedelta(days=2)
    http.post("/v1/orders/precheck", json=order("u1", lever="11"))
    m = http.get("/v1/beginner/metrics", params={"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}).json()
    assert m["refusals_by_rule"] == {"cooling_off": 2, "leverage_cap": 1} and m["users_refused"] == 2
