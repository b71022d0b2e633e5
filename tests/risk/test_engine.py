"""The withdrawal risk engine through the real service (SQLite and PostgreSQL): each rule, idempotency,
rules as data, snoozes, the review queue, the learned score and the metrics."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bastion.access.gate import ENV_CREDENTIAL

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def eid(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def login(
    http: httpx.Client,
    user: str,
    at: datetime,
    device: str = "dev-home",
    asn: int = 64500,
    country: str = "DE",
    ip: str = "198.51.100.7",
    success: bool = True,
    **kw: Any,
) -> None:
    r = http.post(
        "/v1/events/logins",
        json={
            "event_id": eid("login"),
            "user_id": user,
            "at": at.isoformat(),
            "ip": ip,
            "device_fingerprint": device,
            "asn": asn,
            "country": country,
            "success": success,
            **kw,
        },
    )
    assert r.status_code == 200, r.text


def add_address(http: httpx.Client, user: str, address: str, at: datetime) -> None:
    r = http.post(
        "/v1/events/address-book",
        json={
            "event_id": eid("ab"),
            "user_id": user,
            "at": at.isoformat(),
            "action": "add",
            "address": address,
        },
    )
    assert r.status_code == 200, r.text


def withdraw(
    http: httpx.Client,
    user: str,
    at: datetime,
    address: str,
    usd: float,
    balance: float | None = None,
    device: str = "dev-home",
    ip: str = "198.51.100.7",
    event_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id or eid("wd"),
        "user_id": user,
        "at": at.isoformat(),
        "asset": "USDT",
        "amount": str(usd),
        "amount_usd": str(usd),
        "address": address,
        "chain": "TRC20",
        "ip": ip,
        "device_fingerprint": device,
    }
    if balance is not None:
        body["balance_usd"] = str(balance)
    r = http.post("/v1/withdrawals/evaluate", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def fired(decision: dict[str, Any]) -> set[str]:
    return {r["id"] for r in decision["rules"] if not r["snoozed"]}


def settled_user(http: httpx.Client, user: str, address: str = "TLegitAddr1") -> None:
    """A user with a month-old device, ASN and address they withdrew to before."""
    login(http, user, T0 - timedelta(days=40))
    add_address(http, user, address, T0 - timedelta(days=39))
    login(http, user, T0 - timedelta(hours=2))


def test_normal_withdrawal_is_allowed_and_explained(http: httpx.Client) -> None:
    settled_user(http, "u1")
    d = withdraw(http, "u1", T0, "TLegitAddr1", 200, balance=5000)
    assert d["decision"] == "allow" and d["exchange_state"] == "approved" and d["exchange_state_code"] == 7
    assert d["score"] < d["thresholds"]["review"]
    assert d["features"]["device_known"] is True and d["features"]["address_in_book"] is True
    stored = http.get(f"/v1/risk/decisions/{d['decision_id']}").json()
    assert stored["features"] == d["features"] and stored["rules"] == d["rules"]


def test_account_takeover_chain_is_stopped(http: httpx.Client) -> None:
    """New device and ASN abroad, password change, new address, drain: the classic takeover."""
    settled_user(http, "victim")
    withdraw(http, "victim", T0 - timedelta(days=3), "TLegitAddr1", 100, balance=20000)
    t = T0 + timedelta(hours=1)
    login(http, "victim", t, device="dev-attacker", asn=9009, country="SC", ip="203.0.113.50")
    r = http.post(
        "/v1/events/credential-changes",
        json={
            "event_id": eid("cc"),
            "user_id": "victim",
            "at": (t + timedelta(minutes=5)).isoformat(),
            "kind": "password",
        },
    )
    assert r.status_code == 200
    add_address(http, "victim", "TThief", t + timedelta(minutes=10))
    d = withdraw(
        http,
        "victim",
        t + timedelta(minutes=12),
        "TThief",
        19500,
        balance=19900,
        device="dev-attacker",
        ip="203.0.113.50",
    )
    assert d["decision"] == "block" and d["exchange_state"] == "cancelled"
    assert {
        "credential_change_24h",
        "new_device_new_address",
        "impossible_travel",
        "new_asn_login",
        "balance_drain",
    } <= fired(d)
    assert d["score"] == pytest.approx(sum(r["contribution"] for r in d["rules"]) + d["model_score"])


def test_each_list_rule(http: httpx.Client) -> None:
    settled_user(http, "u2")
    assert http.post("/v1/risk/lists/phishing_address", json=[{"value": "0xABCDEF0001", "source": "feed"}]).json() == {
        "added": 1
    }
    assert http.post("/v1/risk/lists/bad_ip", json=[{"value": "192.0.2.0/24"}]).json() == {"added": 1}
    d = withdraw(http, "u2", T0, "0xabcdef0001", 50, balance=5000)  # case-insensitive for 0x addresses
    assert d["decision"] == "block" and "phishing_destination" in fired(d)
    d = withdraw(http, "u2", T0 + timedelta(minutes=1), "TLegitAddr1", 50, balance=5000, ip="192.0.2.77")
    assert "bad_ip" in fired(d)
    r = http.post("/v1/risk/lists/bad_ip", json=[{"value": "10.0.0.1"}, {"value": "not-an-ip"}])
    assert r.status_code == 422 and r.json()["detail"][0] == {
        **r.json()["detail"][0],
        "field": "value",
        "row": 1,
    }
    assert "10.0.0.1" not in http.get("/v1/risk/lists/bad_ip").json()  # a bad batch writes nothing


def test_allowlist_mode_and_new_address_lock(http: httpx.Client) -> None:
    settled_user(http, "u3")
    r = http.post(
        "/v1/events/address-book",
        json={
            "event_id": eid("ab"),
            "user_id": "u3",
            "at": (T0 - timedelta(days=30)).isoformat(),
            "action": "allowlist_on",
        },
    )
    assert r.status_code == 200
    assert "allowlist_violation" in fired(withdraw(http, "u3", T0, "TNotInBook", 10, balance=1000))
    add_address(http, "u3", "TFresh", T0)
    d = withdraw(http, "u3", T0 + timedelta(hours=23), "TFresh", 10, balance=1000)
    assert d["decision"] == "block" and "new_address_lock_24h" in fired(d)
    d = withdraw(http, "u3", T0 + timedelta(hours=25), "TFresh", 10, balance=1000)
    assert "new_address_lock_24h" not in fired(d) and d["decision"] == "allow"


def test_velocity(http: httpx.Client) -> None:
    settled_user(http, "u4")
    for i in range(10):
        d = withdraw(http, "u4", T0 + timedelta(minutes=i), "TLegitAddr1", 6000, balance=10**6)
    assert d["features"]["withdrawals_24h_count"] == 10 and "velocity_amount_24h" in fired(d)
    d = withdraw(http, "u4", T0 + timedelta(minutes=11), "TLegitAddr1", 1, balance=10**6)
    assert "velocity_count_24h" in fired(d)
    later = withdraw(http, "u4", T0 + timedelta(hours=25), "TLegitAddr1", 1, balance=10**6)
    assert later["features"]["withdrawals_24h_count"] == 1  # the window slides


def test_idempotent_by_event_id_and_conflict(http: httpx.Client) -> None:
    settled_user(http, "u5")
    first = withdraw(http, "u5", T0, "TLegitAddr1", 10, event_id="wd-fixed")
    again = withdraw(http, "u5", T0, "TLegitAddr1", 10, event_id="wd-fixed")
    assert again["duplicate"] and again["decision_id"] == first["decision_id"]
    r = http.post(
        "/v1/withdrawals/evaluate",
        json={
            "event_id": "wd-fixed",
            "user_id": "u5",
            "at": T0.isoformat(),
            "asset": "USDT",
            "amount": "11",
            "amount_usd": "11",
            "address": "TLegitAddr1",
        },
    )
    assert r.status_code == 409
    # Concurrent retries of one request make exactly one decision.
    body = {
        "event_id": "wd-race",
        "user_id": "u5",
        "at": T0.isoformat(),
        "asset": "USDT",
        "amount": "5",
        "amount_usd": "5",
        "address": "TLegitAddr1",
    }
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: http.post("/v1/withdrawals/evaluate", json=body), range(4)))
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["decision_id"] for r in results}) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"ip": "999.1.1.1"}, "ip"),
        ({"user_id": ""}, "user_id"),
        ({"amount_usd": None}, "amount_usd"),
    ],
)
def test_bad_withdrawal_names_the_field(http: httpx.Client, body: dict[str, Any], field: str) -> None:
    base = {
        "event_id": eid("bad"),
        "user_id": "u6",
        "asset": "USDT",
        "amount": "1",
        "amount_usd": "1",
        "address": "TX",
    }
    r = http.post("/v1/withdrawals/evaluate", json={**base, **body})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"].startswith(field)


def test_bad_login_event_names_the_field(http: httpx.Client) -> None:
    r = http.post(
        "/v1/events/logins",
        json={
            "event_id": "l1",
            "user_id": "u",
            "ip": "1.2.3.4",
            "device_fingerprint": "d",
            "country": "germany",
        },
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "country"


def test_rules_are_versioned_data(http: httpx.Client) -> None:
    settled_user(http, "u7")
    rulesets = http.get("/v1/risk/rulesets").json()
    assert [r["version"] for r in rulesets] == [1] and rulesets[0]["active"]
    definition = rulesets[0]["definition"]
    # A new version: any withdrawal of 100 USD or more is held.
    definition["rules"].append(
        {
            "id": "big_ticket",
            "score": 60,
            "description": "test",
            "when": {"feature": "amount_usd", "op": ">=", "value": 100},
        }
    )
    r = http.post("/v1/risk/rulesets", json={"definition": definition, "created_by": "ops", "activate": True})
    assert r.status_code == 201 and r.json()["version"] == 2
    d = withdraw(http, "u7", T0, "TLegitAddr1", 150, balance=10**6)
    assert d["ruleset_version"] == 2 and d["decision"] == "review" and "big_ticket" in fired(d)
    # Roll back to version 1: the same request shape is allowed again; old decisions keep their version.
    assert http.post("/v1/risk/rulesets/1/activate").status_code == 200
    d2 = withdraw(http, "u7", T0 + timedelta(minutes=1), "TLegitAddr1", 150, balance=10**6)
    assert d2["ruleset_version"] == 1 and d2["decision"] == "allow"
    assert http.get(f"/v1/risk/decisions/{d['decision_id']}").json()["ruleset_version"] == 2


def test_bad_ruleset_is_refused_naming_the_field(http: httpx.Client) -> None:
    bad = {
        "thresholds": {"review": 50, "block": 90},
        "rules": [
            {"id": "ok_rule", "score": 10, "when": {"feature": "amount_usd", "op": ">", "value": 1}},
            {
                "id": "bad_rule",
                "score": 10,
                "when": {"all": [{"feature": "no_such_thing", "op": ">", "value": 1}]},
            },
        ],
    }
    r = http.post("/v1/risk/rulesets", json={"definition": bad, "created_by": "ops"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"].startswith("rules.1.when")
    assert "no_such_thing" in r.json()["message"]
    inverted = {"thresholds": {"review": 95, "block": 90}, "rules": bad["rules"][:1]}
    r = http.post("/v1/risk/rulesets", json={"definition": inverted, "created_by": "ops"})
    assert r.status_code == 422 and "review must be <= block" in r.json()["message"]
    assert [v["version"] for v in http.get("/v1/risk/rulesets").json()] == [1]


def test_snooze_silences_one_rule_for_one_user(http: httpx.Client) -> None:
    for user in ("traveller", "other"):
        settled_user(http, user)
        login(http, user, T0 - timedelta(hours=1), country="JP", asn=64500)  # Germany -> Japan in 1 h
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = http.post(
        "/v1/risk/users/traveller/snoozes",
        json={"rule_id": "impossible_travel", "until": until, "created_by": "analyst-1"},
    )
    assert r.status_code == 201
    d = withdraw(http, "traveller", T0, "TLegitAddr1", 10, balance=1000)
    hit = {r["id"]: r for r in d["rules"]}["impossible_travel"]
    assert hit["snoozed"] and hit["contribution"] == 0
    d = withdraw(http, "other", T0, "TLegitAddr1", 10, balance=1000)
    assert "impossible_travel" in fired(d)


def test_review_queue_with_audit_trail(http: httpx.Client) -> None:
    settled_user(http, "u8")
    login(http, "u8", T0, device="dev-new")
    d = withdraw(http, "u8", T0 + timedelta(minutes=1), "TNewDest", 300, balance=100000, device="dev-new")
    assert d["decision"] == "review" and d["exchange_state"] == "waiting_manual_review"
    queue = http.get("/v1/risk/reviews").json()
    assert [q["decision_id"] for q in queue] == [d["decision_id"]]
    at = (T0 + timedelta(minutes=31)).isoformat()
    r = http.post(
        f"/v1/risk/reviews/{d['decision_id']}",
        json={"action": "approve", "analyst": "ana", "note": "called the user", "at": at},
    )
    assert r.status_code == 200 and r.json()["exchange_state"] == "approved"
    assert http.post(f"/v1/risk/reviews/{d['decision_id']}", json={"action": "approve", "analyst": "ana"}).json()[
        "duplicate"
    ]
    assert (
        http.post(f"/v1/risk/reviews/{d['decision_id']}", json={"action": "reject", "analyst": "bob"}).status_code
        == 409
    )
    assert http.get("/v1/risk/reviews").json() == []
    trail = http.get(f"/v1/risk/decisions/{d['decision_id']}").json()["review_trail"]
    # the trail names the credential that acted (here the operator token's), with the analyst the body names
    assert [(t["action"], t["analyst"], t["note"]) for t in trail] == [
        ("approve", f"{ENV_CREDENTIAL} for ana", "called the user")
    ]
    allowed = withdraw(http, "u8", T0 + timedelta(hours=2), "TLegitAddr1", 10, balance=1000)
    assert (
        http.post(f"/v1/risk/reviews/{allowed['decision_id']}", json={"action": "reject", "analyst": "ana"}).status_code
        == 409
    )
    assert http.post("/v1/risk/reviews/999999", json={"action": "reject", "analyst": "ana"}).status_code == 404


def test_learned_score_is_bounded_and_listed(http: httpx.Client) -> None:
    """Silent before min_samples labels; then it contributes max_points x P(fraud), never more, and the
    labels move it: a fraud-like request scores higher than a normal one."""
    rules = http.get("/v1/risk/rulesets").json()[0]["definition"]
    rules["model"] = {"max_points": 20, "min_samples": 8}
    http.post("/v1/risk/rulesets", json={"definition": rules, "created_by": "ops", "activate": True})
    settled_user(http, "m")
    login(http, "m", T0, device="dev-x")
    for i in range(8):  # held cases: large first-time sends from the new device rejected, small ones approved
        fraud = i % 2 == 0
        d = withdraw(
            http, "m", T0 + timedelta(hours=i), f"TDest{i}", 4000 if fraud else 40, balance=10000, device="dev-x"
        )
        assert d["decision"] == "review", d
        if i == 0:
            assert d["model"]["active"] is False and d["model_score"] == 0
        r = http.post(
            f"/v1/risk/reviews/{d['decision_id']}", json={"action": "reject" if fraud else "approve", "analyst": "ana"}
        )
        assert r.status_code == 200
    normal = withdraw(http, "m", T0 + timedelta(hours=9), "TLegitAddr1", 40, balance=10000)
    risky = withdraw(http, "m", T0 + timedelta(hours=9, minutes=1), "TDest99", 4000, balance=10000, device="dev-x")
    for d in (normal, risky):
        assert d["model"]["samples"] == 8 and d["model"]["active"]
        assert 0 <= d["model_score"] <= 20
        assert d["model_score"] == pytest.approx(20 * d["model"]["probability"], abs=1e-3)
        assert "log_amount_usd" in d["model"]["features"] and "device_known" in d["model"]["features"]
    assert risky["model"]["probability"] > normal["model"]["probability"]


def test_monthly_metrics(http: httpx.Client, session_factory) -> None:  # type: ignore[no-untyped-def]
    from bastion.risk.metrics import monthly

    settled_user(http, "a")
    settled_user(http, "b")
    http.post("/v1/risk/lists/phishing_address", json=[{"value": "TPhish"}])
    blocked = withdraw(http, "a", T0, "TPhish", 1000, balance=5000)
    login(http, "b", T0, device="dev-new")
    held1 = withdraw(http, "b", T0 + timedelta(minutes=1), "TNew1", 700, balance=100000, device="dev-new")
    held2 = withdraw(http, "b", T0 + timedelta(minutes=2), "TNew2", 300, balance=100000, device="dev-new")
    withdraw(http, "a", T0 + timedelta(minutes=3), "TLegitAddr1", 10, balance=5000)
    assert blocked["decision"] == "block" and held1["decision"] == held2["decision"] == "review"
    http.post(
        f"/v1/risk/reviews/{held1['decision_id']}",
        json={"action": "reject", "analyst": "x", "at": (T0 + timedelta(minutes=11)).isoformat()},
    )
    http.post(
        f"/v1/risk/reviews/{held2['decision_id']}",
        json={"action": "approve", "analyst": "x", "at": (T0 + timedelta(minutes=32)).isoformat()},
    )
    with session_factory() as s:
        m = monthly(s, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert (m.withdrawals_evaluated, m.allowed, m.held, m.blocked) == (4, 1, 2, 1)
    assert m.withdrawals_intercepted == 2 and m.users_protected == 2
    assert str(m.value_preserved_usd) == "1700.00"
    assert m.false_positives == 1 and m.false_positive_rate == 0.5
    assert m.median_review_seconds == pytest.approx((10 * 60 + 30 * 60) / 2)
    assert m.hits_per_rule["phishing_destination"] == 1
    assert m.daily_interceptions == {T0.date(): 2}
    api = http.get("/v1/risk/metrics", params={"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"})
    assert api.json()["value_preserved_usd"] == "1700.00"
    with session_factory() as s:
        assert monthly(s, datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)).withdrawals_evaluated == 0


def test_batch_is_ordered_all_or_nothing_and_names_the_row(http: httpx.Client) -> None:
    items = [
        {
            "type": "login",
            "event_id": "b-1",
            "user_id": "bb",
            "at": T0.isoformat(),
            "ip": "198.51.100.1",
            "device_fingerprint": "d1",
            "asn": 1,
            "country": "DE",
        },
        {
            "type": "address_book",
            "event_id": "b-2",
            "user_id": "bb",
            "at": T0.isoformat(),
            "action": "add",
            "address": "TBatch",
        },
        {"type": "credential_change", "event_id": "b-3", "user_id": "bb", "at": T0.isoformat(), "kind": "nope"},
    ]
    r = http.post("/v1/events/batch", json=items)
    assert r.status_code == 422
    assert r.json()["detail"][0]["row"] == 2 and r.json()["detail"][0]["field"].endswith("kind")
    bad_address = [*items[:1], {**items[1], "address": None}]
    r = http.post("/v1/events/batch", json=bad_address)
    assert r.status_code == 422 and r.json()["detail"][0] == {**r.json()["detail"][0], "row": 1, "field": "address"}
    # Nothing of the refused batches was written: the same ids go through afterwards as new.
    items[2]["kind"] = "password"
    assert http.post("/v1/events/batch", json=items).json() == {"received": 3, "new": 3}
    assert http.post("/v1/events/batch", json=items).json() == {"received": 3, "new": 0}
    # The same event sent alone is recognised as the same event.
    single = {k: v for k, v in items[0].items() if k != "type"}
    assert http.post("/v1/events/logins", json=single).json()["duplicate"] is True
    d = withdraw(http, "bb", T0 + timedelta(minutes=5), "TBatch", 10, balance=100, device="d1")
    assert d["features"]["address_in_book"] and d["features"]["hours_since_credential_change"] < 1


def test_async_commit_is_opt_in_and_scoped_to_the_transaction(session_factory) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from bastion.risk.schemas import WithdrawalRequest
    from bastion.risk.state.config import RiskRuntime
    from risk import oracle

    req = WithdrawalRequest(event_id="ac-1", user_id="ac", asset="USDT", amount=1, amount_usd=1, address="T1")
    for async_commit in (False, True):
        with session_factory() as s:
            out = oracle.evaluate(s, RiskRuntime(cache_seconds=0, async_commit=async_commit), req)
            if s.get_bind().dialect.name == "postgresql":
                assert s.execute(text("SHOW synchronous_commit")).scalar() == ("off" if async_commit else "on")
            s.commit()
            if s.get_bind().dialect.name == "postgresql":
                assert s.execute(text("SHOW synchronous_commit")).scalar() == "on"  # SET LOCAL ended with it
        assert out.decision_id > 0
