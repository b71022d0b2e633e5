"""The 24-hour locks, to the second, over HTTP: after a credential change, and the allowlist's waiting time
and the step-up to switch allowlist-only mode off."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyotp
import pytest
from account_support import T0, Account

DAY = timedelta(hours=24)
SECOND = timedelta(seconds=1)


def _change(a: Account, uid: str, kind: str, at: datetime, event_id: str) -> Any:
    r = a.c.post("/v1/events/credential-changes", json={"event_id": event_id, "user_id": uid, "kind": kind,
                 "at": at.isoformat()}, headers=a.events)  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("kind", ["password", "totp", "passkey"])
def test_a_credential_change_blocks_withdrawals_for_exactly_24_hours(account: Account, kind: str) -> None:
    a = account
    out = _change(a, "alice", kind, T0, f"cc-{kind}")
    assert datetime.fromisoformat(out["withdrawals_locked_until"]) == T0 + DAY
    for at in (T0, T0 + DAY - SECOND):
        d = a.withdraw("alice", at)
        assert (d["decision"], d["reason"], d["lock_cause"]) == ("block", "withdrawal_lock", kind), d
        assert datetime.fromisoformat(d["locked_until"]) == T0 + DAY
        assert d["review_status"] is None  # blocked, not held
    d = a.withdraw("alice", T0 + DAY)
    assert d["reason"] is None and d["decision"] != "block"
    assert a.outbox("alice") == ["credential_lock"]
    # a retry of the event changes nothing and sends nothing again
    assert _change(a, "alice", kind, T0, f"cc-{kind}")["duplicate"] is True
    assert a.outbox("alice") == ["credential_lock"]


def test_anti_phishing_code_first_set_no_lock_changed_locks(account: Account) -> None:
    a = account
    assert _change(a, "alice", "anti_phishing", T0, "ap-1")["withdrawals_locked_until"] is None
    assert a.withdraw("alice", T0 + SECOND)["reason"] is None
    later = T0 + timedelta(days=3)
    assert datetime.fromisoformat(_change(a, "alice", "anti_phishing", later, "ap-2")["withdrawals_locked_until"]) == (
        later + DAY
    )
    d = a.withdraw("alice", later + DAY - SECOND)
    assert (d["reason"], d["lock_cause"]) == ("withdrawal_lock", "anti_phishing")
    # the same through the batch feed: the lock and its alert too
    r = a.c.post("/v1/events/batch", json=[{"type": "credential_change", "event_id": "b-1", "user_id": "bob",
                 "kind": "password", "at": T0.isoformat()}], headers=a.events)  # fmt: skip
    assert r.status_code == 200, r.text
    assert a.withdraw("bob", T0 + DAY - SECOND)["reason"] == "withdrawal_lock"
    assert a.outbox("bob") == ["credential_lock"]


def test_allowlist_additions_wait_24_hours_and_mode_off_needs_a_step_up(account: Account) -> None:
    a = account
    a.clock.now = T0
    a.login("alice", "s-a", "fp-a")
    user = a.as_user("alice", "s-a")
    r = a.c.post("/v1/account/allowlist", json={"address": "0xCoLd000A", "label": "cold"}, headers=user)
    assert r.status_code == 201, r.text
    assert r.json()["address"] == "0xcold000a" and r.json()["usable"] is False
    assert datetime.fromisoformat(r.json()["usable_from"]) == T0 + DAY
    assert a.c.post("/v1/account/allowlist", json={"address": "0xcold000a"}, headers=user).status_code == 409
    mode = a.c.post("/v1/account/allowlist/mode", json={"allowlist_only": True}, headers=user)
    assert mode.status_code == 200 and mode.json()["allowlist_only"] is True
    # the engine treats the address as not allowlisted for 24 hours, then as allowlisted
    d = a.withdraw("alice", T0 + DAY - SECOND, address="0xCOLD000A")
    assert (d["decision"], d["reason"], d["lock_cause"]) == ("block", "allowlist", "address_pending")
    assert datetime.fromisoformat(d["locked_until"]) == T0 + DAY
    assert a.withdraw("alice", T0 + DAY, address="0xcold000a")["reason"] is None
    other = a.withdraw("alice", T0 + DAY, address="0xELSEWHERE")
    assert (other["decision"], other["reason"], other["lock_cause"]) == ("block", "allowlist", "not_allowlisted")
    a.clock.now = T0 + DAY
    listed = a.c.get("/v1/account/allowlist", headers=user).json()
    assert listed["addresses"][0]["usable"] is True and listed["allowlist_only"] is True

    # switching it off: no code, a wrong code, no 2FA -> 403 naming the field
    off = {"allowlist_only": False}
    r = a.c.post("/v1/account/allowlist/mode", json=off, headers=user)
    assert r.status_code == 403 and r.json()["error"] == "step_up_required"
    assert r.json()["detail"][0]["field"] == "totp_code"
    r = a.c.post("/v1/account/allowlist/mode", json={**off, "totp_code": "123456"}, headers=user)
    assert r.status_code == 403 and "2FA is not set up" in r.json()["message"]
    seed = _enroll_totp(a, "alice")
    totp = pyotp.TOTP(seed)
    wrong = f"{(int(totp.at(a.clock.now)) + 1) % 1_000_000:06d}"
    r = a.c.post("/v1/account/allowlist/mode", json={**off, "totp_code": wrong}, headers=user)
    assert r.status_code == 403 and r.json()["message"] == "totp_code: wrong code"
    a.clock.now += timedelta(minutes=2)
    code = totp.at(a.clock.now)
    r = a.c.post("/v1/account/allowlist/mode", json={**off, "totp_code": code}, headers=user)
    assert r.status_code == 200 and r.json()["allowlist_only"] is False, r.text
    off_at = a.clock.now
    assert datetime.fromisoformat(r.json()["withdrawals_locked_until"]) == off_at + DAY
    d = a.withdraw("alice", off_at + DAY - SECOND, address="0xELSEWHERE")
    assert (d["reason"], d["lock_cause"]) == ("withdrawal_lock", "allowlist_off")
    assert a.withdraw("alice", off_at + DAY, address="0xELSEWHERE")["reason"] is None
    # the same code again (on, then off) is a replay: refused
    a.c.post("/v1/account/allowlist/mode", json={"allowlist_only": True}, headers=user)
    r = a.c.post("/v1/account/allowlist/mode", json={**off, "totp_code": code}, headers=user)
    assert r.status_code == 403 and "already used" in r.json()["message"]

    # removal, and an address that is not there
    assert a.c.delete("/v1/account/allowlist", params={"address": "0xCOLD000A"}, headers=user).status_code == 200
    assert a.c.delete("/v1/account/allowlist", params={"address": "0xCOLD000A"}, headers=user).status_code == 404
    r = a.c.delete("/v1/account/allowlist", headers=user)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "address"
    r = a.c.post("/v1/account/allowlist", json={"address": ""}, headers=user)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "address"
    kinds = a.outbox("alice")
    assert kinds.count("allowlist_added") == 1 and kinds.count("allowlist_removed") == 1
    assert kinds.count("allowlist_mode_off") == 1 and kinds.count("allowlist_mode_on") == 2


def _enroll_totp(a: Account, uid: str) -> str:
    import pyotp

    from bastion.protection import totp

    key = a.settings.secret_key_bytes()
    with a.app.state.sessionmaker() as s:
        enrolled = totp.enroll(s, key, uid, "alice@example", now=a.clock.now)
        assert totp.confirm(s, key, uid, pyotp.TOTP(enrolled.secret).at(a.clock.now), a.clock.now) is totp.Check.ok
        s.commit()
    return enrolled.secret


def test_a_lock_that_starts_while_a_step_up_waits_wins_over_the_second_factor(account: Account) -> None:
    """A thief starts a withdrawal that waits for the second factor, then changes the password: passing the
    step-up must not release it during the 24-hour lock."""
    from bastion.risk.decide.rules import DEFAULT_SCENARIO

    a = account
    rule = {"id": "big_step_up", "score": 0, "step_up": True, "when": {"feature": "amount_usd", "op": ">=",
                                                                      "value": 1000}}  # fmt: skip
    definition = {**DEFAULT_SCENARIO, "rules": [*DEFAULT_SCENARIO["rules"], rule]}
    from auth_support import OPERATOR

    r = a.c.post("/v1/risk/rulesets", json={"definition": definition, "created_by": "t", "activate": True},
                 headers=OPERATOR)  # fmt: skip
    assert r.status_code == 201, r.text
    a.clock.now = T0
    seed = pyotp.TOTP(_enroll_totp(a, "alice"))
    a.clock.now = T0 + timedelta(minutes=1)
    d = a.withdraw("alice", a.clock.now, amount="1500", amount_usd="1500")
    assert d["decision"] == "step_up", d
    _change(a, "alice", "password", a.clock.now + SECOND, "cc-thief")
    a.clock.now += timedelta(seconds=30)
    r = a.c.post(f"/v1/withdrawals/{d['event_id']}/step-up", json={"method": "totp", "code": seed.at(a.clock.now)},
                 headers=a.as_user("alice", "s-a"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "block" and r.json()["exchange_state"] == "cancelled", r.text
    stored = a.c.get(f"/v1/risk/decisions/{d['decision_id']}", headers=OPERATOR).json()
    assert (stored["decision"], stored["reason"], stored["lock_cause"]) == ("block", "withdrawal_lock", "password")
