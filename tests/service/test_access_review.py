"""An attacker's second look at the access model of issue #12, against the running service (real HTTP, on
SQLite and PostgreSQL): forged session headers, session claims out of range, other spellings of a protected
path, the fast raw-ASGI route, and credentials used where they do not belong. Each test tries to break one
claim of docs/security.md; what held is kept here so that it keeps holding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from auth_support import bearer, named_credential
from bastion.access import sessions
from bastion.service.app import create_app
from bastion.service.testing import ServerThread


@pytest.fixture
def svc(settings: Any) -> Iterator[tuple[Any, httpx.Client]]:
    app = create_app(settings)
    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=30) as c:  # no default credential
        yield app, c
    app.state.engine.dispose()


def _b64(raw: bytes | dict[str, Any]) -> str:
    data = json.dumps(raw).encode() if isinstance(raw, dict) else raw
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(sub: str = "alice", **kw: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "sid": "d1", "aud": "bastion", "iat": now, "exp": now + 600, **kw}


def _signed(key: OKPKey, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    head = header or {"alg": "Ed25519", "kid": key.kid}
    return jwt.encode(head, claims, key, algorithms=["Ed25519"])


def _refused(r: httpx.Response, why: str) -> None:
    assert r.status_code == 401, (why, r.status_code, r.text[:200])
    assert r.json()["error"] == "unauthenticated", why


# ------------------------------------------------------------------------------------------ sessions
def test_session_claims_out_of_range_are_401_never_500(svc: tuple[Any, httpx.Client]) -> None:
    """A validly signed session whose `exp` is beyond what a datetime holds, or whose `sub` is longer than
    any user table holds, was a 500 (OverflowError; StringDataRightTruncation on PostgreSQL at the 2FA
    tables). The login service signs them, but the boundary's rule holds for it too: a 401, the worker fine."""
    app, c = svc
    key = sessions.dev_key(app.state.settings.data_dir)
    for exp in (10**20, 2**63, 4102444801):
        token = _signed(key, _claims(exp=exp))
        _refused(c.get("/v1/cooling-off/alice", headers=bearer(token)), f"user route, exp={exp}")
        _refused(c.post("/v1/liquidations", json={}, headers=bearer(token)), f"service route, exp={exp}")
    long_uid = "u" * 65
    token = _signed(key, _claims(sub=long_uid))
    for method, path, body in (
        ("PUT", f"/v1/users/{long_uid}/anti-phishing-code", {"code": "abcd12"}),
        ("POST", f"/v1/users/{long_uid}/totp/enroll", {"account_name": "x"}),
        ("POST", "/v1/cooling-off", {"request_id": "r1", "period": "1d"}),
    ):
        r = c.request(method, path, json=body, headers=bearer(token))
        assert r.status_code < 500, (path, r.status_code, r.text[:200])
        _refused(r, f"sub of 65 characters on {path}")
    # the longest uid a session may name still works on the narrowest table
    uid = "u" * 64
    token = _signed(key, _claims(sub=uid))
    r = c.put(f"/v1/users/{uid}/anti-phishing-code", json={"code": "abcd12"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert c.get("/healthz").status_code == 200


def test_forged_session_headers_are_refused(svc: tuple[Any, httpx.Client], tmp_path: Any) -> None:
    """Algorithm confusion (HS256 keyed with the public key, in each form an HMAC library might take it),
    a key carried in the token itself (jwk), a key URL (jku), a kid naming the real key over another key's
    signature, a `crit` header, and an oversized token: all 401, on user and service routes alike."""
    app, c = svc
    key = sessions.dev_key(app.state.settings.data_dir)
    public = key.as_dict(private=False)
    attacker = OKPKey.generate_key("Ed25519")
    claims = _claims(sub="bob")
    forged: dict[str, str] = {}
    for form, secret in (
        ("jwk json", json.dumps(public).encode()),
        ("x text", str(public["x"]).encode()),
        ("x raw", base64.urlsafe_b64decode(str(public["x"]) + "==")),
    ):
        head = _b64({"alg": "HS256", "typ": "JWT", "kid": key.kid})
        body = _b64(claims)
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        forged[f"HS256 with public key ({form})"] = f"{head}.{body}.{_b64(mac)}"
    forged["embedded jwk"] = _signed(attacker, claims, {"alg": "Ed25519", "jwk": attacker.as_dict(private=False)})
    forged["jku elsewhere"] = _signed(attacker, claims, {"alg": "Ed25519", "jku": "http://127.0.0.1:1/k", "kid": "x"})
    forged["kid of the real key"] = _signed(attacker, claims, {"alg": "Ed25519", "kid": key.kid})
    forged["kid path"] = _signed(attacker, claims, {"alg": "Ed25519", "kid": "../../user-sessions-dev.jwk"})
    forged["alg none, no kid"] = f"{_b64({'alg': 'none'})}.{_b64(claims)}."
    forged["oversized"] = _signed(key, {**claims, "pad": "x" * 9000})
    forged["garbage"] = "x.y.z"
    head = _b64({"alg": "Ed25519", "kid": key.kid, "crit": ["b64"], "b64": False})
    forged["crit b64=false"] = f"{head}.{_b64(claims)}.{_b64(b'0' * 64)}"
    for why, token in forged.items():
        _refused(c.get("/v1/cooling-off/bob", headers=bearer(token)), why)
        _refused(c.post("/v1/liquidations", json={}, headers=bearer(token)), f"{why} (service route)")
    # the genuine one still works, so the refusals above are about the forgery
    assert c.get("/v1/cooling-off/bob", headers=bearer(_signed(key, claims))).status_code == 200


# -------------------------------------------------------------------------------------------- routes
def test_other_spellings_of_a_protected_path_open_nothing(svc: tuple[Any, httpx.Client], db_url: str) -> None:
    """Trailing slash, percent-encoding, case, doubled slashes, HEAD and OPTIONS on service, operator and user
    routes, the fast raw-ASGI `POST /v1/withdrawals/evaluate` included: never a 2xx without a credential, and
    a redirect only to the canonical path (which then refuses)."""
    _, c = svc
    variants = [
        ("POST", "/v1/liquidations"), ("POST", "/v1/liquidations/"), ("POST", "/v1/%6ciquidations"),
        ("POST", "/V1/liquidations"), ("POST", "/v1//liquidations"), ("POST", "/v1/liquidations/batch/"),
        ("POST", "/v1/withdrawals/evaluate"), ("POST", "/v1/withdrawals/evaluate/"),
        ("POST", "/v1/withdrawals/%65valuate"), ("POST", "/v1/withdrawals/evaluate?x=1"),
        ("POST", "/v1/withdrawals//evaluate"), ("GET", "/v1/withdrawals/evaluate"),
        ("GET", "/v1/risk/reviews"), ("GET", "/v1/risk/reviews/"), ("GET", "/v1/risk/%72eviews"),
        ("HEAD", "/v1/risk/reviews"), ("OPTIONS", "/v1/risk/reviews"), ("HEAD", "/v1/cooling-off/alice"),
        ("GET", "/v1/cooling-off/alice/"), ("GET", "/v1/deposits/cases/1?user_id=alice"),
        ("POST", "/v1/users/alice/totp/enroll/"), ("PUT", "/v1/users/alice/anti-phishing-code"),
    ]  # fmt: skip
    for method, path in variants:
        r = c.request(method, path, json={} if method in ("POST", "PUT") else None)
        assert not 200 <= r.status_code < 300, (method, path, r.status_code, r.text[:200])
        assert r.status_code < 500, (method, path, r.status_code)
        if r.status_code in (307, 308):
            target = httpx.URL(r.headers["location"])
            assert target.path == path.rstrip("/"), (path, target)
            again = c.request(method, target.path, json={} if method in ("POST", "PUT") else None)
            assert again.status_code == 401, (method, target.path, again.status_code)
    # the fast route with credentials of the wrong kind or scope: refused like the FastAPI route
    funds = named_credential(db_url, "review-funds", "funds:write")
    ops = named_credential(db_url, "review-ops", "risk:review")
    for token, why in ((funds, "service, other scope"), (ops, "operator")):
        r = c.post("/v1/withdrawals/evaluate", json={}, headers=bearer(token))
        assert r.status_code == 403, (why, r.status_code, r.text[:200])


def test_credentials_stay_in_their_lane(svc: tuple[Any, httpx.Client], db_url: str, settings: Any) -> None:
    """A service or admin credential never acts for a user; a session never opens a service or operator
    route; two Authorization headers do not combine (the first is the one judged)."""
    _, c = svc
    admin = named_credential(db_url, "review-admin", "*")
    funds = named_credential(db_url, "review-funds2", "funds:write")
    key = sessions.dev_key(settings.data_dir)
    alice = _signed(key, _claims(sub="alice"))
    for token in (admin, funds):
        for method, path in (("GET", "/v1/cooling-off/alice"), ("GET", "/v1/pfund/my-cases"),
                             ("PUT", "/v1/users/alice/anti-phishing-code")):  # fmt: skip
            r = c.request(method, path, json={"code": "abcd12"} if method == "PUT" else None, headers=bearer(token))
            assert r.status_code == 403, (path, r.status_code, r.text[:200])
    for method, path in (("POST", "/v1/liquidations"), ("GET", "/v1/risk/reviews"), ("POST", "/v1/keys/sweep")):
        r = c.request(method, path, json={} if method == "POST" else None, headers=bearer(alice))
        assert r.status_code == 403, (path, r.status_code)
    both = [("Authorization", f"Bearer {funds}"), ("Authorization", f"Bearer {admin}")]
    assert c.get("/v1/risk/reviews", headers=both).status_code == 403


# ---------------------------------------------------------------------------------------- bastion serve
def test_an_empty_operator_token_is_no_credential(tmp_path: Any) -> None:
    """`BASTION_OPERATOR_TOKEN=` (set, but empty) made `bastion serve` skip the bootstrap credential and the
    loopback rule, and announce "BASTION_OPERATOR_TOKEN (admin, audited)" on 0.0.0.0 with no credential at
    all. It is unset: serve refuses the public host, and on loopback makes and prints the bootstrap one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from bastion.settings import Settings

    assert Settings(operator_token="", data_dir=tmp_path).operator_token is None  # type: ignore[arg-type]
    assert Settings(operator_token="  ", data_dir=tmp_path).operator_token is None  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update(BASTION_DATA_DIR=str(tmp_path / "data"), BASTION_OPERATOR_TOKEN="",
               BASTION_SECRET_KEY="review-secret-key-0123456789abcdef0123")  # fmt: skip
    binary = Path(sys.executable).parent / "bastion"
    r = subprocess.run([str(binary), "serve", "--host", "0.0.0.0", "--port", "1"], env=env, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode != 0, r.stderr
    assert "refusing --host 0.0.0.0" in r.stderr and "BASTION_OPERATOR_TOKEN (admin" not in r.stderr, r.stderr
    assert "shown once" in r.stderr  # the bootstrap credential was made (and printed) instead


# -------------------------------------------------------------------------------------------------- audit
def test_back_office_audit_names_the_credential_not_only_the_body(svc: tuple[Any, httpx.Client], db_url: str) -> None:
    """An analyst holding `risk:review`/`risk:admin` as credential 'eve' approves a held withdrawal and writes a
    rule set naming 'the-ceo': the audit must show that 'eve' acted (the issue: the audit names the actor that
    really acted), whatever the body claims."""
    _, c = svc
    wallet = named_credential(db_url, "review-wallet", "risk:write")
    eve = named_credential(db_url, "eve", "risk:review,risk:admin")
    body = {"event_id": "aud-1", "user_id": "aud-user", "asset": "USDT", "amount": "10", "amount_usd": "10",
            "address": "TAudit"}  # fmt: skip
    d = c.post("/v1/withdrawals/evaluate", json=body, headers=bearer(wallet)).json()
    assert d["decision"] == "review", d
    r = c.post(f"/v1/risk/reviews/{d['decision_id']}", json={"action": "approve", "analyst": "the-ceo"},
               headers=bearer(eve))  # fmt: skip
    assert r.status_code == 200, r.text
    trail = c.get(f"/v1/risk/decisions/{d['decision_id']}", headers=bearer(eve)).json()["review_trail"]
    rulesets = c.get("/v1/risk/rulesets", headers=bearer(eve)).json()
    r = c.post("/v1/risk/rulesets", json={"definition": rulesets[0]["definition"], "created_by": "the-ceo"},
               headers=bearer(eve))  # fmt: skip
    assert r.status_code in (200, 201), r.text
    created = c.get("/v1/risk/rulesets", headers=bearer(eve)).json()[-1]
    assert trail[0]["analyst"] == "eve for the-ceo", trail
    assert created["created_by"] == "eve for the-ceo", created


# --------------------------------------------------------------------------------------------- API keys
def test_a_read_only_key_cannot_lift_beginner_protection(svc: tuple[Any, httpx.Client], db_url: str) -> None:
    """`POST /v1/beginner/questionnaire` took any user credential with read permission: a read-only API key
    (the one given to a portfolio tracker) could answer the appropriateness questionnaire, lifting the
    beginner's leverage and cooling-off limits, or fail it on purpose to block the user's own attempt for a
    day. Passing lifts a trading limit, so a key needs trade permission (as for a cooling-off); sessions work."""
    from bastion.service.testing import user_key_headers

    app, c = svc
    admin = named_credential(db_url, "review-protection", "protection:admin")
    question = {"id": "a", "text": "A?", "options": ["x", "y"], "answer": 1}
    rules = {"enabled": True, "questionnaire": {"pass_mark": 1, "retry_hours": 24, "questions": [question]}}
    r = c.put("/v1/beginner/rules", json={"definition": rules, "actor": "review"}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    path, body = "/v1/beginner/questionnaire", json.dumps({"answers": {"a": 0}})
    r = c.post(path, content=body, headers=user_key_headers(app, "carol", "POST", path, body))
    assert r.status_code == 401 and r.json()["code"] == "50120", r.text  # OKX: the key lacks the permission
    from bastion.protection.models import QuestionnaireAttempt

    with app.state.sessionmaker() as s:  # nothing was stored: the user's own next attempt is not blocked
        assert s.query(QuestionnaireAttempt).count() == 0
    headers = user_key_headers(app, "carol", "POST", path, body, ("read", "trade"))
    assert c.post(path, content=body, headers=headers).status_code == 200
    key = sessions.dev_key(app.state.settings.data_dir)
    token = _signed(key, _claims(sub="dave"))
    assert c.post(path, json={"answers": {"a": 1}}, headers=bearer(token)).json()["passed"] is True
