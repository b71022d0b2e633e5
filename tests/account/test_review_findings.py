"""What an adversarial review of the account security center broke, as tests that now hold.

- A stolen session replaced the anti-phishing code (so phishing mail carried the "right" code) with no lock and
  no alert; registered a passkey with no alert, then passed step-up with it.
- An analyst approved a withdrawal held before a 2FA change while the 24 h lock ran.
- A token the login service minted while the account was frozen worked again after the unfreeze.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from account_support import Account

from auth_support import OPERATOR

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))  # the shared software authenticator
from webauthn_soft_authenticator import SoftAuthenticator


def test_replacing_the_anti_phishing_code_locks_and_alerts(account: Account) -> None:
    a = account
    a.login("gus", "s-gus", "fp-gus")
    h = a.as_user("gus", "s-gus")
    assert a.c.put("/v1/users/gus/anti-phishing-code", json={"code": "first-code"}, headers=h).status_code == 200
    assert "credential_lock" not in a.outbox("gus")  # setting the first code is not a change
    a.clock.now += timedelta(days=2)
    assert a.c.put("/v1/users/gus/anti-phishing-code", json={"code": "other-code"}, headers=h).status_code == 200
    assert "credential_lock" in a.outbox("gus")
    d = a.withdraw("gus", a.clock.now + timedelta(minutes=1))
    assert (d["decision"], d.get("reason")) == ("block", "withdrawal_lock"), d


def test_a_passkey_registered_by_a_session_alerts_and_locks(account: Account) -> None:
    a = account
    a.login("hal", "s-hal", "fp-hal")
    h = a.as_user("hal", "s-hal")
    auth = SoftAuthenticator("localhost", "http://localhost:8000")
    opts = a.c.post("/v1/users/hal/passkeys/registration/options", json={"user_name": "hal"}, headers=h)
    assert opts.status_code == 200, opts.text
    r = a.c.post("/v1/users/hal/passkeys/registration/verify", json=auth.register(opts.json()), headers=h)
    assert r.status_code == 200, r.text
    assert "credential_lock" in a.outbox("hal")
    d = a.withdraw("hal", a.clock.now + timedelta(minutes=1))
    assert d.get("reason") == "withdrawal_lock", d


def test_a_held_withdrawal_cannot_be_approved_inside_a_lock(account: Account) -> None:
    a = account
    a.login("ivy", "s-ivy", "fp-ivy")
    held = a.withdraw("ivy", a.clock.now, amount_usd="100")
    assert held["decision"] == "review", held
    change = {
        "event_id": "cc-ivy",
        "user_id": "ivy",
        "kind": "totp",
        "at": (a.clock.now + timedelta(minutes=1)).isoformat(),
    }
    assert a.c.post("/v1/events/credential-changes", json=change, headers=a.events).status_code == 200
    approve = {"action": "approve", "analyst": "an1", "at": (a.clock.now + timedelta(minutes=2)).isoformat()}
    r = a.c.post(f"/v1/risk/reviews/{held['decision_id']}", json=approve, headers=OPERATOR)
    assert r.status_code == 409 and "locked" in r.json()["message"], r.text
    approve["at"] = (a.clock.now + timedelta(hours=24, minutes=2)).isoformat()  # after the lock it may be approved
    r = a.c.post(f"/v1/risk/reviews/{held['decision_id']}", json=approve, headers=OPERATOR)
    assert r.status_code == 200, r.text


def test_a_token_minted_during_a_freeze_stays_refused_after_the_unfreeze(account: Account) -> None:
    a = account
    # Tokens carry the wall clock's iat, so this test runs the service's clock beside it.
    wall = datetime.now(UTC)
    a.clock.now = wall - timedelta(seconds=10)
    a.login("eve", "s-eve", "fp-eve")
    freeze = {"confirm": True, "reason": "x"}
    assert a.c.post("/v1/account/freeze", json=freeze, headers=a.as_user("eve", "s-eve")).status_code == 200
    during = a.as_user("eve", "s-during-freeze")  # the login service ignored `frozen: true` and issued one
    assert a.c.get("/v1/account/devices", headers=during).status_code == 401
    a.clock.now = wall + timedelta(minutes=1)
    cid = a.c.post("/v1/account/ops/unfreeze-cases", json={"user_id": "eve"}, headers=a.ops1).json()["id"]
    body = {"verification_method": "video_call", "evidence_ref": "case-1", "verified_by": "bo"}
    assert a.c.post(f"/v1/account/ops/unfreeze-cases/{cid}/unfreeze", json=body, headers=a.ops2).status_code == 200
    assert a.c.get("/v1/account/devices", headers=during).status_code == 401
