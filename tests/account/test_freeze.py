"""Freeze and recovery over HTTP: what a frozen account can no longer do, and the only way back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from account_support import Account

from auth_support import OPERATOR
from bastion.keys import lifecycle, signing
from bastion.service.okx_auth import keys_runtime

FREEZE = {"confirm": True, "reason": "I did not make these logins"}


def _key(a: Account, uid: str) -> Any:
    rt = keys_runtime(a.app)
    with a.app.state.sessionmaker() as s:
        key = lifecycle.create_key(
            s, rt.vault, user_id=uid, label="bot", permissions=["read"], ips=[], passphrase="Passphrase123!",
            now=rt.clock(),
        )  # fmt: skip
        s.commit()
    return key


def _signed(key: Any, method: str, path: str, body: str = "") -> dict[str, str]:
    ts = signing.format_timestamp(datetime.now(UTC))
    return {"OK-ACCESS-KEY": key.key_id, "OK-ACCESS-SIGN": signing.sign(key.secret, ts, method, path, body),
            "OK-ACCESS-TIMESTAMP": ts, "OK-ACCESS-PASSPHRASE": "Passphrase123!"}  # fmt: skip


def test_a_frozen_account_blocks_withdrawals_keys_sessions_and_reviews(account: Account) -> None:
    a = account
    a.login("alice", "s-alice", "fp-alice")
    key = _key(a, "alice")
    assert a.c.get("/v1/keys", headers=_signed(key, "GET", "/v1/keys")).status_code == 200
    held = a.withdraw("alice", a.clock.now, amount_usd="100")
    assert held["decision"] == "review"  # a new device to a new address: held for an analyst
    other = a.as_user("alice", "s-other-tab")  # a session the login service never reported

    r = a.c.post("/v1/account/freeze", json=FREEZE, headers=a.as_user("alice", "s-alice"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["frozen"] is True and out["sessions_ended"] == 1 and out["reviews_cancelled"] == [held["decision_id"]]
    # every withdrawal decision blocks, whatever the rules would say
    d = a.withdraw("alice", a.clock.now + timedelta(minutes=1))
    assert (d["decision"], d["reason"], d["exchange_state"]) == ("block", "account_frozen", "cancelled")
    assert d["locked_until"] is None
    # the held one was cancelled and cannot be approved now
    got = a.c.get(f"/v1/risk/decisions/{held['decision_id']}", headers=OPERATOR).json()
    assert got["review_status"] == "rejected"
    # the API key: refused as OKX refuses a blocked account
    refused = a.c.get("/v1/keys", headers=_signed(key, "GET", "/v1/keys"))
    assert refused.status_code == 401 and refused.json()["code"] == "50007", refused.text
    # every session: the reported one, an unreported one, and a new login while frozen
    for headers in (a.as_user("alice", "s-alice"), other):
        assert a.c.get("/v1/account/devices", headers=headers).status_code == 401
    again = a.login("alice", "s-after", "fp-thief")
    assert again.status_code == 200 and again.json()["frozen"] is True
    assert a.c.get("/v1/account/security", headers=a.as_user("alice", "s-after")).status_code == 401
    assert "account_frozen" in a.outbox("alice")
    # another user is untouched
    assert a.withdraw("bob", a.clock.now)["reason"] is None


def test_service_and_operator_freeze_and_the_unfreeze_case(account: Account) -> None:
    a = account
    a.login("alice", "s1", "fp1")
    r = a.c.post("/v1/account/service/freeze", json={"user_id": "alice", "reason": "confirmed takeover"},
                 headers=a.login_service)  # fmt: skip
    assert r.status_code == 200 and r.json()["already_frozen"] is False, r.text
    again = a.c.post("/v1/account/ops/freeze", json={"user_id": "alice", "reason": "support", "actor": "ann"},
                     headers=a.ops1)  # fmt: skip
    assert again.status_code == 200 and again.json()["already_frozen"] is True
    assert a.outbox("alice").count("account_frozen") == 1  # one freeze, one alert

    # no unfreeze without a case; the case needs another credential to close it
    case = a.c.post("/v1/account/ops/unfreeze-cases", json={"user_id": "alice", "note": "called in"}, headers=a.ops1)
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    dup = a.c.post("/v1/account/ops/unfreeze-cases", json={"user_id": "alice"}, headers=a.ops2)
    assert dup.status_code == 409
    verify = {"verification_method": "video_call", "evidence_ref": "KYC-2026-0042", "verified_by": "bo"}
    same = a.c.post(f"/v1/account/ops/unfreeze-cases/{cid}/unfreeze", json=verify, headers=a.ops1)
    assert same.status_code == 409 and "four eyes" in same.json()["message"]
    bad = a.c.post(f"/v1/account/ops/unfreeze-cases/{cid}/unfreeze", json={**verify, "verification_method": "email"},
                   headers=a.ops2)  # fmt: skip
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "verification_method"
    a.clock.now += timedelta(hours=2)
    at = a.clock.now
    done = a.c.post(f"/v1/account/ops/unfreeze-cases/{cid}/unfreeze", json=verify, headers=a.ops2)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "unfrozen" and done.json()["verified_by"] == "ops-bo for bo"
    assert datetime.fromisoformat(done.json()["withdrawals_locked_until"]) == at + timedelta(hours=24)
    closed = a.c.post(f"/v1/account/ops/unfreeze-cases/{cid}/unfreeze", json=verify, headers=a.ops2)
    assert closed.status_code == 409

    # a 24-hour withdrawal lock, to the second
    d = a.withdraw("alice", at + timedelta(hours=24) - timedelta(seconds=1))
    assert (d["decision"], d["reason"], d["lock_cause"]) == ("block", "withdrawal_lock", "unfreeze")
    assert datetime.fromisoformat(d["locked_until"]) == at + timedelta(hours=24)
    d = a.withdraw("alice", at + timedelta(hours=24))
    assert d["reason"] is None and d["decision"] != "block"
    # tokens from before the freeze stay dead; a new login works
    assert a.c.get("/v1/account/devices", headers=a.as_user("alice", "s1")).status_code == 401
    # every step is in the trail
    trail = a.c.get("/v1/account/ops/users/alice", headers=a.ops1).json()
    actions = [e["action"] for e in reversed(trail["audit"])]
    assert actions == ["login", "freeze", "freeze", "unfreeze_case_opened", "unfrozen"]
    assert trail["state"]["frozen"] is False and trail["cases"][0]["evidence_ref"] == "KYC-2026-0042"
    assert a.outbox("alice")[-1] == "account_unfrozen"


def test_unfreeze_case_needs_a_frozen_account_and_bad_input_is_a_4xx(account: Account) -> None:
    a = account
    r = a.c.post("/v1/account/ops/unfreeze-cases", json={"user_id": "carol"}, headers=a.ops1)
    assert r.status_code == 409 and "not frozen" in r.json()["message"]
    assert a.c.post("/v1/account/ops/unfreeze-cases/99/unfreeze", headers=a.ops2, json={
        "verification_method": "video_call", "evidence_ref": "x", "verified_by": "bo"}).status_code == 404  # fmt: skip
    r = a.c.post("/v1/account/freeze", json={}, headers=a.as_user("carol", "s"))  # never by accident
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "confirm"
    r = a.c.post("/v1/account/ops/freeze", json={"user_id": "carol", "reason": "x", "extra": 1}, headers=a.ops1)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "extra"


def test_frozen_users_fast_api_key_is_refused_and_no_new_one_is_minted(account: Account) -> None:
    a = account
    reg = a.c.post("/v1/fast-api/apps", headers=OPERATOR, json={
        "name": "Bot", "redirect_uri": "https://bot.example/cb", "ips": ["127.0.0.1"]}).json()  # fmt: skip
    consent = {"client_id": reg["client_id"], "redirect_uri": "https://bot.example/cb", "perms": ["read"]}

    def grant() -> str:
        r = a.c.post("/v1/fast-api/authorize", json=consent, headers=a.as_user("alice", "s-a"))
        assert r.status_code == 200, r.text
        return str(r.json()["code"])

    def redeem(code: str) -> Any:
        return a.c.post("/v1/fast-api/token", json={"grant_type": "authorization_code", "client_id": reg["client_id"],
                        "client_secret": reg["client_secret"],
                        "code": code, "redirect_uri": "https://bot.example/cb"})  # fmt: skip

    first = redeem(grant()).json()
    pending = grant()  # consented before the freeze, redeemed after
    path = "/api/v5/account/config"
    key = type("K", (), {"key_id": first["api_key"], "secret": first["secret_key"]})()
    hdr = _signed(key, "GET", path) | {"OK-ACCESS-PASSPHRASE": first["passphrase"]}
    assert a.c.get(path, headers=hdr).status_code == 200
    a.c.post("/v1/account/freeze", json=FREEZE, headers=a.as_user("alice", "s-a"))
    hdr = _signed(key, "GET", path) | {"OK-ACCESS-PASSPHRASE": first["passphrase"]}
    r = a.c.get(path, headers=hdr)
    assert r.status_code == 401 and r.json()["code"] == "50007"
    late = redeem(pending)
    assert late.status_code == 400 and late.json()["error"] == "access_denied"
    assert a.c.post("/v1/fast-api/authorize", json=consent, headers=a.as_user("alice", "s-a")).status_code == 401


def test_freeze_racing_withdrawals_every_later_decision_blocks(account: Account) -> None:
    """Withdrawals in flight while the user freezes: those decided before the freeze committed keep their
    (pre-freeze) decision; every one that starts after the freeze answered blocks, and nothing fails."""
    a = account
    a.login("alice", "s", "fp")
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        try:
            while not stop.is_set():
                results.append(a.withdraw("alice", a.clock.now, amount_usd="5"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    while len(results) < 3 and not errors:
        threading.Event().wait(0.01)
    r = a.c.post("/v1/account/freeze", json=FREEZE, headers=a.as_user("alice", "s"))
    assert r.status_code == 200
    after = [a.withdraw("alice", a.clock.now, amount_usd="5") for _ in range(5)]
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(d["reason"] == "account_frozen" and d["decision"] == "block" for d in after)
    # a withdrawal held by a decision in flight during the freeze cannot be approved while frozen...
    pending = [x for x in a.c.get("/v1/risk/reviews", headers=OPERATOR).json() if x["user_id"] == "alice"]
    for x in pending:
        r = a.c.post(f"/v1/risk/reviews/{x['decision_id']}", json={"action": "approve", "analyst": "eve"},
                     headers=OPERATOR)  # fmt: skip
        assert r.status_code == 409 and "frozen" in r.json()["message"]
    # ...nor after the unfreeze: it is cancelled then
    cid = a.c.post("/v1/account/ops/unfreeze-cases", json={"user_id": "alice"}, headers=a.ops1).json()["id"]
    verify = {"verification_method": "id_document", "evidence_ref": "KYC-1", "verified_by": "bo"}
    assert a.c.post(f"/v1/account/ops/unfreeze-cases/{cid}/unfreeze", json=verify, headers=a.ops2).status_code == 200
    assert [x for x in a.c.get("/v1/risk/reviews", headers=OPERATOR).json() if x["user_id"] == "alice"] == []
