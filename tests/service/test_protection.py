"""Account protections through the real service: anti-phishing code in every notification, TOTP (replay,
drift, lockout), passkey ceremonies with a software authenticator (and the attacks on them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn_soft_authenticator import SoftAuthenticator

from auth_support import PathUserAuth
from bastion.protection.anti_phishing import TEMPLATES

ORIGIN = "http://localhost:8000"


@pytest.fixture
def http(live_server: str, settings: Any) -> Iterator[httpx.Client]:
    # each /v1/users/{uid}/... call as that user's own session
    with httpx.Client(base_url=live_server, timeout=15, auth=PathUserAuth(settings)) as client:
        yield client


def test_anti_phishing_code_in_every_template(http: httpx.Client, session_factory) -> None:  # type: ignore[no-untyped-def]
    names = ("device", "ip", "amount", "asset", "address", "label", "perms", "credential", "locked_until")
    params = {k: "x" for k in names}
    before = http.post("/v1/users/u1/notifications/render", json={"template": "password_changed"}).json()
    assert "Anti-phishing code" not in before["body"]
    assert http.put("/v1/users/u1/anti-phishing-code", json={"code": "Blue-Otter7"}).status_code == 200
    for name in TEMPLATES:
        r = http.post("/v1/users/u1/notifications/render", json={"template": name, "params": params})
        assert r.status_code == 200, r.text
        assert "Anti-phishing code: Blue-Otter7" in r.json()["body"]
    other = http.post("/v1/users/u2/notifications/render", json={"template": "password_changed"}).json()
    assert "Blue-Otter7" not in other["body"]
    bad = http.put("/v1/users/u1/anti-phishing-code", json={"code": "no spaces!"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "code"
    # Sealed at rest: the code is not in the row.
    from sqlalchemy import text

    with session_factory() as s:
        blob = s.execute(text("SELECT code_sealed FROM account_anti_phishing")).scalar_one()
    assert b"Blue-Otter7" not in bytes(blob)


def _enroll(http: httpx.Client, user: str) -> pyotp.TOTP:
    r = http.post(f"/v1/users/{user}/totp/enroll", json={"account_name": f"{user}@example.com"})
    assert r.status_code == 200
    assert r.json()["provisioning_uri"].startswith("otpauth://totp/")
    return pyotp.TOTP(r.json()["secret"])


def test_totp_confirm_verify_and_replay(http: httpx.Client) -> None:
    totp = _enroll(http, "t1")
    assert http.post("/v1/users/t1/totp/verify", json={"code": totp.now()}).json()["result"] == "not_enrolled"
    assert http.post("/v1/users/t1/totp/confirm", json={"code": totp.now()}).json()["ok"]
    # The same code again (a replay), and the previous step's code: both refused.
    again = http.post("/v1/users/t1/totp/verify", json={"code": totp.now()}).json()
    assert again["result"] == "replayed"
    prev = totp.at(time.time() - 30)
    assert http.post("/v1/users/t1/totp/verify", json={"code": prev}).json()["result"] in (
        "replayed",
        "invalid",
    )
    # The next step's code (clock drift of one step) works once.
    nxt = totp.at(time.time() + 30)
    assert http.post("/v1/users/t1/totp/verify", json={"code": nxt}).json()["ok"]
    # A second enrollment while 2FA is on is refused.
    assert http.post("/v1/users/t1/totp/enroll", json={"account_name": "x"}).status_code == 409
    bad = http.post("/v1/users/t1/totp/verify", json={"code": "12345"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "code"


def test_totp_lockout_after_five_wrong_codes(http: httpx.Client) -> None:
    totp = _enroll(http, "t2")
    http.post("/v1/users/t2/totp/confirm", json={"code": totp.now()})
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    results = [http.post("/v1/users/t2/totp/verify", json={"code": wrong}).json()["result"] for _ in range(5)]
    assert results == ["invalid"] * 5
    good = totp.at(time.time() + 30)
    assert http.post("/v1/users/t2/totp/verify", json={"code": good}).json()["result"] == "locked"


def test_totp_confirmation_starts_the_withdrawal_lock(http: httpx.Client) -> None:
    totp = _enroll(http, "t3")
    http.post("/v1/users/t3/totp/confirm", json={"code": totp.now()})
    d = http.post(
        "/v1/withdrawals/evaluate",
        json={
            "event_id": "w-t3",
            "user_id": "t3",
            "asset": "BTC",
            "amount": "0.1",
            "amount_usd": "6000",
            "address": "bc1x",
        },
    ).json()
    assert "credential_change_24h" in {r["id"] for r in d["rules"]}


def _register(
    http: httpx.Client, user: str, auth: SoftAuthenticator, origin: str | None = None
) -> httpx.Response:
    opts = http.post(f"/v1/users/{user}/passkeys/registration/options", json={"user_name": user}).json()
    assert opts["rp"]["id"] == "localhost"
    return http.post(f"/v1/users/{user}/passkeys/registration/verify", json=auth.register(opts, origin))


def _login(http: httpx.Client, user: str, auth: SoftAuthenticator, **kw: Any) -> httpx.Response:
    opts = http.post(f"/v1/users/{user}/passkeys/authentication/options").json()
    return http.post(f"/v1/users/{user}/passkeys/authentication/verify", json=auth.authenticate(opts, **kw))


def test_passkey_ceremonies(http: httpx.Client) -> None:
    auth = SoftAuthenticator("localhost", ORIGIN)
    r = _register(http, "p1", auth)
    assert r.status_code == 200, r.text
    for _ in range(2):
        r = _login(http, "p1", auth)
        assert r.status_code == 200 and r.json()["verified"], r.text


def test_passkey_attacks_fail(http: httpx.Client) -> None:
    auth = SoftAuthenticator("localhost", ORIGIN)
    # Registration from a phishing origin is refused.
    r = _register(http, "p2", auth, origin="https://evil.example")
    assert r.status_code == 422
    assert _register(http, "p2", auth).status_code == 200
    # A signature by another key, an assertion from a phishing origin, a replayed assertion.
    assert _login(http, "p2", auth, key=ec.generate_private_key(ec.SECP256R1())).status_code == 422
    assert _login(http, "p2", auth, origin="https://evil.example").status_code == 422
    opts = http.post("/v1/users/p2/passkeys/authentication/options").json()
    assertion = auth.authenticate(opts)
    assert http.post("/v1/users/p2/passkeys/authentication/verify", json=assertion).status_code == 200
    assert http.post("/v1/users/p2/passkeys/authentication/verify", json=assertion).status_code == 422
    # A cloned authenticator: its counter goes back.
    auth.sign_count = 0
    assert _login(http, "p2", auth).status_code == 422
    # Another user cannot use p2's passkey (nor p2's challenge).
    other = http.post("/v1/users/p3/passkeys/authentication/options")
    assert other.status_code == 404
    opts = http.post("/v1/users/p2/passkeys/authentication/options").json()
    r = http.post("/v1/users/p3/passkeys/authentication/verify", json=auth.authenticate(opts))
    assert r.status_code == 422


@pytest.mark.parametrize("field", ["clientDataJSON"])
def test_passkey_garbage_names_the_field(http: httpx.Client, field: str) -> None:
    r = http.post("/v1/users/p4/passkeys/registration/verify", json={"id": "x", "response": {}})
    assert r.status_code == 422 and field in r.json()["detail"][0]["field"]
