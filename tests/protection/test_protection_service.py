"""Cooling-off and mistaken deposits on real databases and through the running service."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import httpx

from auth_support import user_headers
from bastion.protection import cooling_off, deposits
from bastion.sim.user_protection import replay, simulate


def _order(user: str, side: str = "buy", pos: str = "0", inst: str = "SWAP", channel: str = "api") -> dict[str, str]:
    return {
        "userId": user,
        "channel": channel,
        "instType": inst,
        "instId": "BTC-USDT-SWAP",
        "side": side,
        "sz": "1",
        "pos": pos,
    }


def test_cooling_off_refuses_opening_on_every_channel_and_cannot_be_shortened(
    http: httpx.Client, settings: Any
) -> None:
    assert http.post("/v1/orders/precheck", json=_order("alice")).json()["allowed"] is True
    r = http.post(
        "/v1/cooling-off", json={"request_id": "r1", "period": "30d"}, headers=user_headers(settings, "alice")
    )
    assert r.status_code == 200 and r.json()["active"]
    # Same request again: same answer, no second activation.
    assert (
        http.post(
            "/v1/cooling-off", json={"request_id": "r1", "period": "30d"}, headers=user_headers(settings, "alice")
        ).json()
        == r.json()
    )
    shorter = http.post(
        "/v1/cooling-off", json={"request_id": "r2", "period": "7d"}, headers=user_headers(settings, "alice")
    )
    assert shorter.status_code == 409 and "cannot be shortened" in shorter.json()["message"]
    for channel in ("web", "app", "api", "desktop"):
        opening = http.post("/v1/orders/precheck", json=_order("alice", channel=channel)).json()
        assert opening["allowed"] is False and opening["effect"] == "open"
    assert http.post("/v1/orders/precheck", json=_order("alice", side="buy", pos="2")).json()["allowed"] is False
    assert http.post("/v1/orders/precheck", json=_order("alice", side="sell", pos="3")).json()["allowed"] is True
    flip = http.post("/v1/orders/precheck", json={**_order("alice", side="sell", pos="0.5")}).json()
    assert flip["allowed"] is False and flip["effect"] == "flip"
    assert http.post("/v1/orders/precheck", json=_order("alice", inst="SPOT")).json()["allowed"] is True
    assert http.post("/v1/orders/precheck", json=_order("bob")).json()["allowed"] is True
    bad = http.post("/v1/orders/precheck", json={**_order("alice"), "sz": "0"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "sz"
    custom = http.post(
        "/v1/cooling-off",
        json={"request_id": "r3", "period": "custom", "custom_days": 400},
        headers=user_headers(settings, "carol"),
    )
    assert custom.status_code == 422 and custom.json()["detail"][0]["field"] == "custom_days"


def test_mistaken_deposit_self_service_and_audit_trail(http: httpx.Client, settings: Any) -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC).isoformat()
    obs = {
        "chain": "XRP",
        "txid": "T1",
        "token": "XRP",
        "to_address": "rEx",
        "amount": "500",
        "usd_value": "300",
        "observed_at": at,
    }
    assert http.post("/v1/deposits/observed", json=obs).json()["case"] is None
    unseen = http.post(
        "/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": "nope"}, headers=user_headers(settings, "dan")
    )
    assert unseen.json()["status"] == "not_found"
    opened = http.post(
        "/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": "T1"}, headers=user_headers(settings, "dan")
    ).json()
    assert opened["status"] == "case" and opened["case"]["reason"] == "missing_memo"
    case_id = opened["case"]["id"]
    # Skipping straight to credited is refused; the walk through the states is not.
    skip = http.post(f"/v1/deposits/cases/{case_id}/transition", json={"state": "credited", "actor": "s1"})
    assert skip.status_code == 409
    for state in ("investigating", "recoverable", "credited", "closed"):
        r = http.post(f"/v1/deposits/cases/{case_id}/transition", json={"state": state, "actor": "s1"})
        assert r.status_code == 200, r.text
    trail = http.get(f"/v1/deposits/cases/{case_id}", headers=user_headers(settings, "dan")).json()
    assert [e["to"] for e in trail["events"]] == [
        "opened",
        "investigating",
        "recoverable",
        "credited",
        "closed",
    ]
    assert D(trail["case"]["fee"]) == D("33.33333334")  # the 20 USD floor in XRP at 0.6 USD, rounded up
    assert http.get(f"/v1/deposits/cases/{case_id}", headers=user_headers(settings, "eve")).status_code == 404
    # An unlisted token on a chain we send from goes back by itself.
    auto = {**obs, "chain": "ETH", "txid": "T2", "token": "PEPE9", "usd_value": "80", "user_id": "dan"}
    case = http.post("/v1/deposits/observed", json=auto).json()["case"]
    assert case["automatic"] and case["state"] == "closed" and case["reason"] == "unlisted_token"


def test_simulated_month_matches_ground_truth(session_factory) -> None:  # type: ignore[no-untyped-def]
    month = simulate(seed=3, users=120)
    replay(session_factory, month)
    t = month.truth
    with session_factory() as s:
        c = cooling_off.monthly(s, month.start, month.end)
        d = deposits.monthly(s, month.start, month.end)
    assert c.activations == t.activations and c.durations == t.durations
    assert c.orders_refused == t.refused and t.refused > 0
    assert d.by_reason == t.cases_by_reason
    assert (d.manual_recovered, d.manual_value_usd) == (t.manual_recovered, t.manual_value)
    assert (d.automatic_returned, d.automatic_value_usd) == (t.auto_returned, t.auto_value)
    assert d.unrecoverable == t.unrecoverable
    assert d.median_hours_to_resolution is not None and d.median_hours_to_resolution > 0
