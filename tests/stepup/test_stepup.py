"""Step-up on risky withdrawals through the real service (SQLite and PostgreSQL): a rule marked `step_up`
makes the decision wait for the user's second factor, a passkey assertion over a challenge bound to that
withdrawal or a TOTP code, each accepted once; replays, other withdrawals' challenges, expired challenges and
other users are refused; a decision no step-up rule touches reads nothing more from the database.

The WebAuthn side is a software authenticator (EC P-256 key, authenticatorData, clientDataJSON and signature
built here: tests/service/webauthn_soft_authenticator.py); "now" is the service's injected protection clock.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, event, select

from auth_support import OPERATOR, user_headers
from bastion.risk.decide.rules import DEFAULT_SCENARIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))  # the shared software authenticator
from webauthn_soft_authenticator import SoftAuthenticator

ORIGIN = "http://localhost:8000"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()
STEP_UP_RULE = {
    "id": "large_needs_step_up",
    "score": 0,
    "step_up": True,
    "description": "1,000 USD or more: the user confirms with a second factor",
    "when": {"feature": "amount_usd", "op": ">=", "value": 1000},
}


class Clock:
    def __init__(self) -> None:
        self.now = T0 - timedelta(days=3)  # factors enrolled well before: no 24 h credential-change lock

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def live(settings: Any, clock: Clock) -> Iterator[tuple[str, Any]]:
    from bastion.service.app import create_app
    from bastion.service.deps import InProcessOverrides
    from bastion.service.testing import ServerThread

    app = create_app(settings, overrides=InProcessOverrides(protection_clock=clock))
    with ServerThread(app) as base_url:
        yield base_url, app


@pytest.fixture
def svc(live: tuple[str, Any]) -> Iterator[httpx.Client]:
    """The exchange's side: events, withdrawal evaluations, rule sets (operator bootstrap credential)."""
    with httpx.Client(base_url=live[0], timeout=15, headers=OPERATOR) as client:
        r = client.post(
            "/v1/risk/rulesets",
            json={
                "definition": {**DEFAULT_SCENARIO, "rules": [*DEFAULT_SCENARIO["rules"], STEP_UP_RULE]},
                "created_by": "ops",
                "activate": True,
            },
        )
        assert r.status_code == 201, r.text
        yield client


class User:
    """One end user's session against the live service."""

    def __init__(self, base_url: str, settings: Any, uid: str) -> None:
        self.uid = uid
        self.http = httpx.Client(base_url=base_url, timeout=15, headers=user_headers(settings, uid))

    def options(self, event_id: str) -> httpx.Response:
        return self.http.post(f"/v1/withdrawals/{event_id}/step-up/options")

    def step_up(self, event_id: str, **body: Any) -> httpx.Response:
        return self.http.post(f"/v1/withdrawals/{event_id}/step-up", json=body)


@pytest.fixture
def users(live: tuple[str, Any], settings: Any) -> Iterator[dict[str, User]]:
    made: dict[str, User] = {}

    class Users(dict[str, User]):
        def __missing__(self, uid: str) -> User:
            made[uid] = self[uid] = User(live[0], settings, uid)
            return made[uid]

    yield Users()
    for u in made.values():
        u.http.close()


def settle(svc: httpx.Client, uid: str, address: str = "TLegitAddr1") -> None:
    """A user with a month-old device and a destination in the book for a month."""
    for path, body in (
        ("/v1/events/logins", {"ip": "198.51.100.7", "device_fingerprint": "dev-home", "asn": 64500, "success": True}),
        ("/v1/events/address-book", {"action": "add", "address": address}),
    ):
        at = (T0 - timedelta(days=40)).isoformat()
        r = svc.post(path, json={"event_id": f"ev-{next(_ids)}", "user_id": uid, "at": at, **body})
        assert r.status_code == 200, r.text


def withdraw(
    svc: httpx.Client,
    uid: str,
    usd: float,
    event_id: str | None = None,
    at: datetime = T0,
    address: str = "TLegitAddr1",
) -> dict[str, Any]:
    body = {
        "event_id": event_id or f"wd-{next(_ids)}",
        "user_id": uid,
        "at": at.isoformat(),
        "asset": "USDT",
        "amount": str(usd),
        "amount_usd": str(usd),
        "address": address,
        "ip": "198.51.100.7",
        "device_fingerprint": "dev-home",
    }
    r = svc.post("/v1/withdrawals/evaluate", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def enroll_passkey(user: User) -> SoftAuthenticator:
    auth = SoftAuthenticator("localhost", ORIGIN)
    opts = user.http.post(f"/v1/users/{user.uid}/passkeys/registration/options", json={"user_name": user.uid}).json()
    r = user.http.post(f"/v1/users/{user.uid}/passkeys/registration/verify", json=auth.register(opts))
    assert r.status_code == 200, r.text
    return auth


def enroll_totp(user: User, clock: Clock) -> pyotp.TOTP:
    r = user.http.post(f"/v1/users/{user.uid}/totp/enroll", json={"account_name": f"{user.uid}@example.com"})
    totp = pyotp.TOTP(r.json()["secret"])
    r = user.http.post(f"/v1/users/{user.uid}/totp/confirm", json={"code": totp.at(clock.now)})
    assert r.json()["ok"], r.text
    return totp


def refused(r: httpx.Response, status: int, field: str | None, words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert words in body["message"], body
    if field is not None:
        assert body["detail"][0]["field"] == field, body


def test_passkey_step_up_is_bound_to_its_withdrawal(
    svc: httpx.Client, users: dict[str, User], clock: Clock, session_factory: Any
) -> None:
    alice, mallory = users["alice"], users["mallory"]
    settle(svc, "alice")
    auth = enroll_passkey(alice)
    clock.now = T0

    small = withdraw(svc, "alice", 200)
    assert small["decision"] == "allow" and small["step_up"] is None
    w1 = withdraw(svc, "alice", 2500, "wd-a1")
    assert w1["decision"] == "step_up" and w1["exchange_state"] == "waiting_step_up"
    assert w1["step_up"]["methods"] == ["passkey"] and w1["step_up"]["next"] == "allow"
    assert w1["step_up"]["rules"] == ["large_needs_step_up"] and w1["step_up"]["status"] == "pending"

    # Another user's session: the withdrawal does not exist for them.
    refused(mallory.options("wd-a1"), 404, None, "has no step-up")
    opts = alice.options("wd-a1").json()
    assert opts["methods"] == ["passkey"] and opts["public_key"]["userVerification"] == "required"
    assertion = auth.authenticate(opts["public_key"])
    refused(mallory.step_up("wd-a1", method="passkey", credential=assertion), 404, None, "has no step-up")
    # Signed with another key: refused, and the challenge is spent by that first attempt.
    forged = auth.authenticate(opts["public_key"], key=ec.generate_private_key(ec.SECP256R1()))
    refused(alice.step_up("wd-a1", method="passkey", credential=forged), 422, "credential", "did not verify")
    refused(
        alice.step_up("wd-a1", method="passkey", credential=assertion),
        422,
        "credential.response.clientDataJSON",
        "already used",
    )
    # A fresh challenge, a fresh assertion: the withdrawal goes through.
    fresh = auth.authenticate(alice.options("wd-a1").json()["public_key"])
    r = alice.step_up("wd-a1", method="passkey", credential=fresh)
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "allow" and r.json()["status"] == "passed" and r.json()["method"] == "passkey"
    # The wallet asks again (same request): approved now.
    again = withdraw(svc, "alice", 2500, "wd-a1")
    assert again["decision"] == "allow" and again["exchange_state"] == "approved" and again["duplicate"]
    assert again["step_up"]["status"] == "passed" and again["step_up"]["passed_at"].startswith("2026-03-01T12:00:00")
    # Replayed: the same assertion again, on this withdrawal or on another one.
    refused(alice.step_up("wd-a1", method="passkey", credential=fresh), 409, None, "already confirmed")
    w2 = withdraw(svc, "alice", 3000, "wd-a2", at=T0 + timedelta(minutes=1))
    assert w2["decision"] == "step_up"
    refused(
        alice.step_up("wd-a2", method="passkey", credential=fresh),
        422,
        "credential.response.clientDataJSON",
        "another withdrawal",
    )
    # An assertion over wd-a3's challenge does not confirm wd-a2.
    w3 = withdraw(svc, "alice", 4000, "wd-a3", at=T0 + timedelta(minutes=2))
    for_w3 = auth.authenticate(alice.options("wd-a3").json()["public_key"])
    refused(
        alice.step_up("wd-a2", method="passkey", credential=for_w3),
        422,
        "credential.response.clientDataJSON",
        "another withdrawal",
    )
    assert w3["decision"] == "step_up"
    # Expired: the challenge lives five minutes.
    late = auth.authenticate(alice.options("wd-a2").json()["public_key"])
    clock.now = T0 + timedelta(minutes=6)
    refused(
        alice.step_up("wd-a2", method="passkey", credential=late),
        422,
        "credential.response.clientDataJSON",
        "expired",
    )
    # The withdrawal's own window (15 minutes) ends too: then it must be requested again.
    clock.now = T0 + timedelta(minutes=17)
    refused(alice.options("wd-a2"), 409, None, "expired")
    # The first one's approval is every worker's state now: its destination counts as used before.
    later = withdraw(svc, "alice", 100, at=T0 + timedelta(minutes=20))
    assert later["features"]["address_used_before"] is True

    from bastion.stepup.models import StepUpAttempt

    with session_factory() as s:
        trail = [(a.method, a.outcome) for a in s.scalars(select(StepUpAttempt).order_by(StepUpAttempt.id))]
    assert trail.count(("passkey", "passed")) == 1
    assert trail.count(("passkey", "refused")) == 6  # wrong key, reuse, replay x2 (one 409), other, expired


def test_totp_step_up_is_fresh_and_once(
    svc: httpx.Client, users: dict[str, User], clock: Clock, session_factory: Any
) -> None:
    bob = users["bob"]
    settle(svc, "bob")
    totp = enroll_totp(bob, clock)
    clock.now = T0
    w1 = withdraw(svc, "bob", 1500, "wd-b1")
    assert w1["decision"] == "step_up" and w1["step_up"]["methods"] == ["totp"]
    opts = bob.options("wd-b1").json()
    assert opts["methods"] == ["totp"] and opts["public_key"] is None
    refused(bob.step_up("wd-b1", method="passkey", credential={}), 422, "method", "enrolled: totp")
    refused(bob.step_up("wd-b1", method="totp", code="12345"), 422, "code", "")
    # A code of another time step (two steps back, two ahead) is refused.
    for off in (-60, 60):
        refused(
            bob.step_up("wd-b1", method="totp", code=totp.at(T0 + timedelta(seconds=off))), 422, "code", "wrong code"
        )
    code = totp.at(T0)
    r = bob.step_up("wd-b1", method="totp", code=code)
    assert r.status_code == 200 and r.json()["decision"] == "allow" and r.json()["method"] == "totp", r.text
    # The same code for the next step-up: refused, even within its 30 seconds.
    w2 = withdraw(svc, "bob", 1500, "wd-b2", at=T0 + timedelta(seconds=10))
    clock.now = T0 + timedelta(seconds=10)
    refused(bob.step_up("wd-b2", method="totp", code=code), 422, "code", "already used")
    assert w2["decision"] == "step_up"
    clock.now = T0 + timedelta(seconds=40)
    r = bob.step_up("wd-b2", method="totp", code=totp.at(clock.now))
    assert r.status_code == 200 and r.json()["decision"] == "allow", r.text
    assert withdraw(svc, "bob", 1500, "wd-b2", at=T0 + timedelta(seconds=10))["exchange_state"] == "approved"


def test_step_up_before_review_and_without_factors(svc: httpx.Client, users: dict[str, User], clock: Clock) -> None:
    dave = users["dave"]
    settle(svc, "dave")
    totp = enroll_totp(dave, clock)
    # No factor enrolled: a step-up cannot be asked for, so the withdrawal is held for an analyst.
    settle(svc, "carol")
    clock.now = T0
    d = withdraw(svc, "carol", 5000)
    assert d["decision"] == "review" and d["review_status"] == "pending"
    assert d["step_up"]["status"] == "not_enrolled" and d["step_up"]["methods"] == []
    carols = d["event_id"]
    refused(users["carol"].options(carols), 409, None, "not waiting")
    # A step-up that passes leads to the next stage: here the score's review (a new, never-used address).
    r = svc.post(
        "/v1/events/logins",
        json={
            "event_id": "ev-dave-new",
            "user_id": "dave",
            "at": (T0 - timedelta(hours=1)).isoformat(),
            "ip": "203.0.113.9",
            "device_fingerprint": "dev-new",
            "asn": 64500,
            "success": True,
        },
    )
    assert r.status_code == 200
    body = {"event_id": "wd-d1", "user_id": "dave", "at": T0.isoformat(), "asset": "USDT", "amount": "4000"}
    body |= {"amount_usd": "4000", "address": "TNeverUsed", "device_fingerprint": "dev-new"}
    d = svc.post("/v1/withdrawals/evaluate", json=body).json()
    assert d["decision"] == "step_up" and d["step_up"]["next"] == "review", d
    r = dave.step_up("wd-d1", method="totp", code=totp.at(T0))
    assert r.status_code == 200 and r.json()["decision"] == "review", r.text
    queue = svc.get("/v1/risk/reviews").json()
    assert [q["event_id"] for q in queue] == [carols, "wd-d1"]
    # A block is never stepped up.
    r = svc.post("/v1/risk/lists/phishing_address", json=[{"value": "TPhish"}])
    assert r.status_code == 200, r.text
    d = withdraw(svc, "dave", 2000, address="TPhish", at=T0 + timedelta(minutes=1))
    assert d["decision"] == "block" and d["step_up"] is None


def test_no_step_up_rule_no_extra_round_trip(svc: httpx.Client, users: dict[str, User], clock: Clock) -> None:
    """Only a decision a step-up rule fired on reads the factor tables, with one statement."""
    settle(svc, "erin")
    enroll_totp(users["erin"], clock)
    clock.now = T0
    withdraw(svc, "erin", 10)  # the user is loaded into the worker's state
    seen: list[str] = []
    lock = threading.Lock()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "account_totp" in statement or "account_passkeys" in statement:
            with lock:
                seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        for i in range(5):
            assert withdraw(svc, "erin", 20 + i, at=T0 + timedelta(minutes=i))["decision"] == "allow"
        assert seen == []
        assert withdraw(svc, "erin", 1000, at=T0 + timedelta(minutes=9))["decision"] == "step_up"
        assert len(seen) == 1
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def test_database_path_decides_the_same(session_factory: Any) -> None:
    """The tests' database decision oracle (`tests/risk/oracle.py`) asks the same look-up and answers alike."""
    from bastion.protection import totp
    from bastion.risk.models import RiskRuleset
    from bastion.risk.schemas import WithdrawalRequest
    from bastion.risk.state.config import RiskRuntime
    from bastion.risk.state.config_versions import bump_config
    from bastion.stepup.confirm import enrolled_methods
    from risk import oracle

    key = b"k" * 32
    with session_factory() as s:
        s.add(
            RiskRuleset(
                version=1,
                created_at=T0,
                created_by="t",
                definition={**DEFAULT_SCENARIO, "rules": [*DEFAULT_SCENARIO["rules"], STEP_UP_RULE]},
                active=True,
            )
        )
        bump_config(s, "rules")
        secret = totp.enroll(s, key, "frank", "frank", now=T0).secret
        assert totp.confirm(s, key, "frank", pyotp.TOTP(secret).at(T0), T0) is totp.Check.ok
        s.commit()
        assert enrolled_methods(s, "frank") == ["totp"] and enrolled_methods(s, "nobody") == []
        base = {"user_id": "frank", "asset": "USDT", "amount": "1200", "amount_usd": "1200", "address": "TX"}
        req = WithdrawalRequest.model_validate({**base, "event_id": "db-1", "at": T0.isoformat()})
        out = oracle.evaluate(s, RiskRuntime(cache_seconds=0), req, enrolled_methods)
        assert out.decision == "step_up" and out.step_up is not None and out.step_up.methods == ["totp"]
        req2 = WithdrawalRequest.model_validate({**base, "event_id": "db-2", "at": T0.isoformat()})
        assert oracle.evaluate(s, RiskRuntime(cache_seconds=0), req2).decision == "review"  # no look-up given
        s.commit()


def test_a_lock_after_the_request_stops_the_step_up(
    svc: httpx.Client, users: dict[str, User], clock: Clock, settings: Any
) -> None:
    """A lock that began while the withdrawal waited wins over its second factor: a password changed after the
    request blocks it; a frozen account's sessions cannot even try."""
    grace = users["grace"]
    settle(svc, "grace")
    totp = enroll_totp(grace, clock)
    clock.now = T0
    assert withdraw(svc, "grace", 1500, "wd-g1")["decision"] == "step_up"
    change = {"event_id": "ev-grace-pw", "user_id": "grace", "at": (T0 + timedelta(seconds=20)).isoformat()}
    assert svc.post("/v1/events/credential-changes", json={**change, "kind": "password"}).status_code == 200
    clock.now = T0 + timedelta(seconds=30)
    r = grace.step_up("wd-g1", method="totp", code=totp.at(clock.now))
    assert r.status_code == 200 and r.json()["decision"] == "block", r.text
    d = withdraw(svc, "grace", 1500, "wd-g1")
    assert d["decision"] == "block" and d["reason"] == "withdrawal_lock" and d["lock_cause"] == "password", d

    heidi = users["heidi"]
    settle(svc, "heidi")
    clock.now = T0 - timedelta(days=3)
    totp = enroll_totp(heidi, clock)
    clock.now = T0
    assert withdraw(svc, "heidi", 1500, "wd-h1")["decision"] == "step_up"
    r = svc.post("/v1/account/ops/freeze", json={"user_id": "heidi", "reason": "confirmed takeover"})
    assert r.status_code == 200, r.text
    # Her sessions ended with the freeze; a fresh one (as the login service would refuse to issue) is refused
    # too, and the withdrawal stays unconfirmed.
    assert heidi.step_up("wd-h1", method="totp", code=totp.at(T0)).status_code == 401
    fresh = User(str(svc.base_url).rstrip("/"), settings, "heidi")
    assert fresh.step_up("wd-h1", method="totp", code=totp.at(T0)).status_code == 401
    fresh.http.close()
    assert withdraw(svc, "heidi", 1500, "wd-h1")["decision"] == "step_up"


def test_one_code_two_withdrawals_at_once(svc: httpx.Client, users: dict[str, User], clock: Clock) -> None:
    """The same TOTP code sent for two withdrawals at the same moment confirms exactly one of them (the
    code's row is locked while it is checked), and the same passkey assertion sent twice at once is
    accepted once (its challenge's row likewise)."""
    from concurrent.futures import ThreadPoolExecutor

    ivan = users["ivan"]
    settle(svc, "ivan")
    totp = enroll_totp(ivan, clock)
    auth = enroll_passkey(ivan)
    clock.now = T0
    for e in ("wd-i1", "wd-i2", "wd-i3"):
        assert withdraw(svc, "ivan", 1500, e)["decision"] == "step_up"
    code = totp.at(T0)
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda e: ivan.step_up(e, method="totp", code=code), ("wd-i1", "wd-i2")))
    assert sorted(r.status_code for r in both) == [200, 422], [r.text for r in both]
    assertion = auth.authenticate(ivan.options("wd-i3").json()["public_key"])
    with ThreadPoolExecutor(2) as pool:
        twice = list(pool.map(lambda _: ivan.step_up("wd-i3", method="passkey", credential=assertion), range(2)))
    assert sorted(r.status_code for r in twice) in ([200, 409], [200, 422]), [r.text for r in twice]
