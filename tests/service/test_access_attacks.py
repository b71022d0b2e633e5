"""The attacks of issue #12 that are about missing or wrong credentials, each tried against the running
service on SQLite and PostgreSQL, and what must stay true afterwards. Plus the credential machinery itself:
revocation, audit by name, forged and expired sessions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from auth_support import OPERATOR, bearer, named_credential, user_headers
from bastion.access import credentials, sessions
from bastion.access.models import AccessCredential, AccessUse
from bastion.service.access import access_gate
from bastion.service.app import create_app
from bastion.service.testing import ServerThread

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
POOL = {"instType": "SWAP", "instFamily": "BTC-USDT", "ccy": "USDT"}


@pytest.fixture
def svc(settings: Any) -> Iterator[tuple[Any, httpx.Client]]:
    app = create_app(settings)
    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=30) as c:  # no default credential
        yield app, c
    app.state.engine.dispose()


def _liq(i: int) -> dict[str, str]:
    return {**POOL, "id": f"L{i}", "instId": "BTC-USDT-SWAP", "posSide": "long", "sz": "1", "bkPx": "100",
            "fillPx": "120", "ts": (T0 + timedelta(minutes=i)).isoformat()}  # fmt: skip


def _fund(c: httpx.Client) -> Any:
    return c.get("/v1/public/insurance-fund", params={"instType": "SWAP"}).json()["data"]


def test_unauthenticated_liquidation_books_nothing(svc: tuple[Any, httpx.Client], db_url: str) -> None:
    app, c = svc
    analyst = bearer(named_credential(db_url, "analyst", ["risk:review", "risk:admin", "funds:admin"]))
    attempts = [
        ({}, 401),
        (bearer("bst_guess"), 401),
        (user_headers(app.state.settings, "mallory"), 403),
        (analyst, 403),
    ]
    for headers, status in attempts:
        one = c.post("/v1/liquidations", json=_liq(1), headers=headers)
        many = c.post("/v1/liquidations/batch", json=[_liq(2), _liq(3)], headers=headers)
        adl = c.put("/v1/funds/positions", json={**POOL, "positions": []}, headers=headers)
        assert one.status_code == many.status_code == adl.status_code == status, (headers, one.text)
    # the public balance did not move: no pool, no entry
    assert _fund(c) == []
    # the liquidation engine's credential books it
    engine = bearer(named_credential(db_url, "liquidation-engine", ["funds:write"]))
    assert c.post("/v1/liquidations", json=_liq(1), headers=engine).status_code == 200
    assert _fund(c) != []


def test_cooling_off_cannot_be_put_on_another_user(svc: tuple[Any, httpx.Client], db_url: str) -> None:
    app, c = svc
    gateway = bearer(named_credential(db_url, "order-gateway", ["orders:precheck"]))
    order = {
        "userId": "alice",
        "channel": "api",
        "instType": "SWAP",
        "instId": "BTC-USDT-SWAP",
        "side": "buy",
        "sz": "1",
    }
    body = {"request_id": "evil-1", "user_id": "alice", "period": "custom", "custom_days": 365}
    assert c.post("/v1/cooling-off", json=body).status_code == 401
    assert c.post("/v1/cooling-off", json=body, headers=gateway).status_code == 403
    assert c.post("/v1/cooling-off", json=body, headers=OPERATOR).status_code == 403
    # mallory's own session naming alice in the body: refused, naming the field; nothing stored for anyone
    r = c.post("/v1/cooling-off", json=body, headers=user_headers(app.state.settings, "mallory"))
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "user_id"
    assert c.post("/v1/orders/precheck", json=order, headers=gateway).json()["allowed"] is True
    # alice herself can
    mine = {"request_id": "a-1", "period": "1d"}
    assert c.post("/v1/cooling-off", json=mine, headers=user_headers(app.state.settings, "alice")).status_code == 200
    assert c.post("/v1/orders/precheck", json=order, headers=gateway).json()["allowed"] is False


def test_another_users_deposit_cannot_be_claimed(svc: tuple[Any, httpx.Client], db_url: str) -> None:
    app, c = svc
    watcher = bearer(named_credential(db_url, "chain-watcher", ["deposits:write"]))
    obs = {"chain": "XRP", "txid": "PUBLIC-TX", "token": "XRP", "to_address": "rEx", "amount": "500",
           "usd_value": "300", "observed_at": T0.isoformat(), "user_id": "alice"}  # fmt: skip
    assert c.post("/v1/deposits/observed", json=obs).status_code == 401
    assert c.post("/v1/deposits/observed", json=obs, headers=watcher).status_code == 200
    claim = {"chain": "XRP", "txid": "PUBLIC-TX"}
    assert c.post("/v1/deposits/mistaken/check", json=claim).status_code == 401
    assert c.post("/v1/deposits/mistaken/check", json=claim, headers=watcher).status_code == 403
    named = c.post("/v1/deposits/mistaken/check", json={**claim, "user_id": "mallory"},
                   headers=user_headers(app.state.settings, "mallory"))  # fmt: skip
    assert named.status_code == 422
    r = c.post("/v1/deposits/mistaken/check", json=claim, headers=user_headers(app.state.settings, "mallory"))
    assert r.status_code == 200 and r.json() == {"status": "not_found", "case": None}
    r = c.post("/v1/deposits/mistaken/check", json=claim, headers=user_headers(app.state.settings, "alice"))
    assert r.json()["case"]["user_id"] == "alice"
    case_id = r.json()["case"]["id"]
    # reading it: only alice; anyone else as for a case that does not exist; nobody at all: 401
    assert c.get(f"/v1/deposits/cases/{case_id}").status_code == 401
    assert c.get(f"/v1/deposits/cases/{case_id}", params={"user_id": "alice"}).status_code == 401
    theirs = c.get(f"/v1/deposits/cases/{case_id}", params={"user_id": "alice"},
                   headers=user_headers(app.state.settings, "mallory"))  # fmt: skip
    assert theirs.status_code == 404 and theirs.json()["message"] == f"case {case_id} not found"
    assert c.get(f"/v1/deposits/cases/{case_id}", headers=user_headers(app.state.settings, "alice")).status_code == 200


def test_reading_another_users_cooling_off(svc: tuple[Any, httpx.Client]) -> None:
    app, c = svc
    alice, mallory = (user_headers(app.state.settings, u) for u in ("alice", "mallory"))
    c.post("/v1/cooling-off", json={"request_id": "a-2", "period": "7d"}, headers=alice)
    assert c.get("/v1/cooling-off/alice").status_code == 401
    theirs = c.get("/v1/cooling-off/alice", headers=mallory)
    nobody = c.get("/v1/cooling-off/nobody-at-all", headers=mallory)
    assert theirs.status_code == nobody.status_code == 404 and theirs.json() == nobody.json()
    assert c.get("/v1/cooling-off/alice", headers=alice).json()["active"] is True


# ------------------------------------------------------------------------------------------ sessions
def _b64(raw: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()


def test_forged_and_stale_sessions_are_refused(svc: tuple[Any, httpx.Client], tmp_path: Any) -> None:
    app, c = svc
    s = app.state.settings
    key = sessions.dev_key(s.data_dir)
    other = sessions.dev_key(tmp_path / "another-login-service")
    now = datetime.now(UTC)
    claims = {
        "sub": "alice",
        "sid": "d1",
        "aud": "bastion",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 600,
    }
    bad = {
        "expired": sessions.issue(key, "alice", now=now - timedelta(hours=1)),
        "wrong audience": sessions.issue(key, "alice", audience="another-exchange"),
        "another key": sessions.issue(other, "alice"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "tampered sub": ".".join([sessions.issue(key, "bob").split(".")[0], _b64(claims),
                                  sessions.issue(key, "bob").split(".")[2]]),
        "not yet valid": sessions.issue(key, "alice", now=now + timedelta(hours=1)),
    }  # fmt: skip
    for why, token in bad.items():
        r = c.get("/v1/cooling-off/alice", headers=bearer(token))
        assert r.status_code == 401, why
        assert r.headers["www-authenticate"] == "Bearer" and r.json()["error"] == "unauthenticated"
    # within the allowed skew: accepted
    skewed = sessions.issue(key, "alice", now=now - timedelta(minutes=15, seconds=-20))
    assert c.get("/v1/cooling-off/alice", headers=bearer(skewed)).status_code == 200
    # missing sid: refused
    no_sid = {k: v for k, v in claims.items() if k != "sid"}
    from joserfc import jwt

    token = jwt.encode({"alg": "Ed25519"}, no_sid, key, algorithms=["Ed25519"])
    assert c.get("/v1/cooling-off/alice", headers=bearer(token)).status_code == 401


def test_configured_login_service_key_replaces_the_development_key(settings: Any, tmp_path: Any) -> None:
    login = sessions.dev_key(tmp_path / "login")
    pem = tmp_path / "login-public.pem"
    pem.write_text(login.as_pem(private=False).decode())
    app = create_app(settings.model_copy(update={"user_session_keys": pem}))
    with ServerThread(app) as url, httpx.Client(base_url=url) as c:
        ok = c.get("/v1/cooling-off/u1", headers=bearer(sessions.issue(login, "u1")))
        dev = c.get("/v1/cooling-off/u1", headers=user_headers(settings, "u1"))  # the data dir's dev key
    assert ok.status_code == 200 and dev.status_code == 401
    app.state.engine.dispose()


# --------------------------------------------------------------------------------------- credentials
def test_revoked_credential_stops_at_once_here_and_within_the_cache_time_elsewhere(settings: Any, db_url: str) -> None:
    token = named_credential(db_url, "wallet-service", ["risk:write", "events:write"])
    here = create_app(settings.model_copy(update={"access_cache_seconds": 60.0}))
    there = create_app(settings.model_copy(update={"access_cache_seconds": 0.0}))
    login = {"event_id": "l1", "user_id": "u1", "at": T0.isoformat(), "ip": "203.0.113.7", "device_fingerprint": "d1"}
    with ServerThread(here) as a, ServerThread(there) as b, httpx.Client() as c:
        assert c.post(f"{a}/v1/events/logins", json=login, headers=bearer(token)).status_code == 200
        assert c.post(f"{b}/v1/events/logins", json=login, headers=bearer(token)).status_code == 200
        with here.state.sessionmaker() as s:
            credentials.revoke(s, "wallet-service", datetime.now(UTC))
            s.commit()
        access_gate(here).invalidate()  # what `revoke` in this process does
        assert c.post(f"{a}/v1/events/logins", json=login, headers=bearer(token)).status_code == 401
        # the other process: its cache time is 0 here, so at once
        assert c.post(f"{b}/v1/events/logins", json=login, headers=bearer(token)).status_code == 401
    for app in (here, there):
        app.state.engine.dispose()


def test_each_use_is_audited_by_the_credential_name(svc: tuple[Any, httpx.Client], db_url: str) -> None:
    app, c = svc
    token = named_credential(db_url, "analyst-ann", ["risk:review"])
    for _ in range(3):
        assert c.get("/v1/risk/reviews", headers=bearer(token)).status_code == 200
    assert c.get("/v1/risk/rulesets", headers=bearer(token)).status_code == 403
    assert c.get("/v1/risk/reviews", headers=OPERATOR).status_code == 200
    access_gate(app).flush()
    with app.state.sessionmaker() as s:
        uses = {(u.credential, u.route, u.outcome): u.count for u in s.scalars(select(AccessUse))}
        row = s.scalar(select(AccessCredential).where(AccessCredential.name == "analyst-ann"))
    assert uses[("analyst-ann", "GET /v1/risk/reviews", "allowed")] == 3
    assert uses[("analyst-ann", "GET /v1/risk/rulesets", "forbidden")] == 1
    assert uses[("env:BASTION_OPERATOR_TOKEN", "GET /v1/risk/reviews", "allowed")] == 1
    assert row is not None and row.uses == 3 and row.last_used_at is not None
    # the token itself is nowhere in the database: only its digest
    assert row.token_sha256 == credentials.token_digest(token) and token not in repr(row.__dict__)


def test_scopes_and_names_are_checked() -> None:
    from bastion.access.scopes import parse_scopes
    from bastion.errors import InvalidInputError

    with pytest.raises(ValueError, match="unknown risk:everything"):
        parse_scopes("risk:write,risk:everything")
    with pytest.raises(ValueError, match="at least one"):
        parse_scopes(" , ")
    from sqlalchemy.orm import Session

    with pytest.raises(InvalidInputError, match="name"):
        credentials.create(Session(), "Bad Name!", "risk:write", T0)
