"""The fund through the running service (real uvicorn, httpx), and a simulated month against its ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import httpx

from bastion.funds import metrics
from bastion.sim.liquidations import simulate

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _liq(i: int, fill: str, bk: str = "100", sz: str = "1", side: str = "long") -> dict[str, object]:
    return {
        "id": f"L{i}",
        "instType": "SWAP",
        "instFamily": "BTC-USDT",
        "ccy": "USDT",
        "instId": "BTC-USDT-SWAP",
        "posSide": side,
        "sz": sz,
        "bkPx": bk,
        "fillPx": fill,
        "ts": (T0 + timedelta(minutes=i)).isoformat(),
    }


def test_ingest_idempotent_and_public_endpoint(http: httpx.Client) -> None:
    r = http.post(
        "/v1/funds/injections",
        json={
            "id": "seed",
            "instType": "SWAP",
            "instFamily": "BTC-USDT",
            "ccy": "USDT",
            "amt": "1000",
            "ts": T0.isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    first = http.post("/v1/liquidations", json=_liq(1, "98.5", sz="2"))
    again = http.post("/v1/liquidations", json=_liq(1, "98.5", sz="2"))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["type"] == "bankruptcy_loss" and D(first.json()["balance"]) == D(997)
    changed = http.post("/v1/liquidations", json=_liq(1, "98.6", sz="2"))
    assert changed.status_code == 409

    fund = http.get("/v1/public/insurance-fund", params={"instType": "SWAP"}).json()
    assert fund["code"] == "0"
    pool = fund["data"][0]
    assert pool["instFamily"] == "BTC-USDT" and D(pool["total"]) == D(997)
    assert [d["type"] for d in pool["details"]] == ["bankruptcy_loss", "capital_injection"]
    only_losses = http.get("/v1/public/insurance-fund", params={"instType": "SWAP", "type": "bankruptcy_loss"})
    assert [d["amt"] for d in only_losses.json()["data"][0]["details"]] == ["-3"]
    bad_type = http.get("/v1/public/insurance-fund", params={"instType": "SWAP", "type": "nope"})
    assert bad_type.status_code == 422 and bad_type.json()["detail"][0]["field"] == "type"


def test_batch_with_a_bad_row_is_named_and_writes_nothing(http: httpx.Client) -> None:
    rows = [_liq(1, "101"), _liq(2, "102"), {**_liq(3, "103"), "sz": "-1"}]
    r = http.post("/v1/liquidations/batch", json=rows)
    assert r.status_code == 422
    assert r.json()["detail"][0]["row"] == 2 and r.json()["detail"][0]["field"] == "sz"
    assert http.get("/v1/public/insurance-fund", params={"instType": "SWAP"}).json()["data"] == []


def test_adl_state_and_queue_published(http: httpx.Client) -> None:
    positions = {
        "instType": "SWAP",
        "instFamily": "BTC-USDT",
        "ccy": "USDT",
        "positions": [
            {
                "posId": "p1",
                "userId": "u1",
                "posSide": "short",
                "pos": "1",
                "avgPx": "100",
                "markPx": "90",
                "margin": "10",
            },
            {
                "posId": "p2",
                "userId": "u2",
                "posSide": "short",
                "pos": "1",
                "avgPx": "100",
                "markPx": "95",
                "margin": "1",
            },
        ],
    }
    assert http.put("/v1/funds/positions", json=positions).status_code == 200
    # A 60 loss on an empty fund cannot be covered: ADL by balance.
    r = http.post("/v1/liquidations", json=_liq(1, "40"))
    assert r.json()["type"] == "adl" and r.json()["state"] == "adl"
    status = http.get("/v1/public/adl", params={"instType": "SWAP", "instFamily": "BTC-USDT", "ccy": "USDT"}).json()
    assert status["state"] == "adl" and status["lastChange"]["kind"] == "bal_adl_start"
    # The loss closed the long 1 against the top of the short queue (p2), at the bankruptcy price.
    assert [q["posId"] for q in status["queue"]["short"]] == ["p1"]
    [fill] = status["deleveraged"]
    assert (fill["posId"], fill["rank"], fill["szClosed"], fill["px"], fill["liquidationId"]) == (
        "p2",
        1,
        "1",
        "100",
        "L1",
    )
    assert "u1" not in r.text + str(status) and "u2" not in str(status)  # user ids are never published
    hist = http.get("/v1/public/insurance-fund", params={"instType": "SWAP", "type": "adl"}).json()
    assert hist["data"][0]["details"][0]["adlType"] == "bal_adl_start"


def test_simulated_month_matches_ground_truth(http: httpx.Client, session_factory) -> None:  # type: ignore[no-untyped-def]
    month = simulate(seed=11, per_day=60)
    for pool, book in month.positions.items():
        body = {
            "instType": pool.inst_type,
            "instFamily": pool.inst_family,
            "ccy": pool.ccy,
            "positions": [
                {
                    "posId": p.position_id,
                    "userId": p.user_id,
                    "posSide": p.side.value,
                    "pos": str(p.size),
                    "avgPx": str(p.entry_price),
                    "markPx": str(p.mark_price),
                    "margin": str(p.margin),
                }
                for p in book
            ],
        }
        assert http.put("/v1/funds/positions", json=body).status_code == 200
    for inj in month.injections:
        body = {
            "id": inj.id,
            "instType": inj.pool.inst_type,
            "instFamily": inj.pool.inst_family,
            "ccy": inj.pool.ccy,
            "amt": str(inj.amount),
            "ts": inj.ts.isoformat(),
        }
        assert http.post("/v1/funds/injections", json=body).status_code == 200
    rows = [
        {
            "id": x.id,
            "instType": x.pool.inst_type,
            "instFamily": x.pool.inst_family,
            "ccy": x.pool.ccy,
            "instId": x.inst_id,
            "posSide": x.pos_side.value,
            "sz": str(x.sz),
            "bkPx": str(x.bk_px),
            "fillPx": str(x.fill_px),
            "ts": x.ts.isoformat(),
        }
        for x in month.liquidations
    ]
    for i in range(0, len(rows), 1000):
        r = http.post("/v1/liquidations/batch", json=rows[i : i + 1000])
        assert r.status_code == 200, r.text
    with session_factory() as s:
        got = metrics.monthly(s, month.start, month.end)
    by_pool = {(p.inst_type, p.inst_family, p.ccy): p for p in got.pools}
    assert sum(t.adl_starts for t in month.truth.values()) >= 1  # the crash day did its job
    for key, truth in month.truth.items():
        p = by_pool[(key.inst_type, key.inst_family, key.ccy)]
        assert p.balance_end == truth.balance
        assert p.triggers == truth.triggers
        assert p.surplus_in == truth.surplus_in and p.losses_out == truth.losses_out
        assert p.injections_in == truth.injections_in
        assert p.adl_liquidations == truth.adl_liquidations
        assert (p.adl_positions, p.adl_size_closed) == (truth.adl_positions, truth.adl_size_closed)
        assert (p.adl_absorbed, p.adl_unabsorbed) == (truth.adl_absorbed, truth.adl_unabsorbed)
        assert p.adl_starts == truth.adl_starts
        assert p.worst_drawdown_8h == truth.worst_drawdown
    crash = by_pool[(month.crash_pool.inst_type, month.crash_pool.inst_family, month.crash_pool.ccy)]
    assert crash.adl_starts >= 1 and crash.worst_drawdown_8h >= D("0.3")
    assert crash.adl_positions > crash.adl_liquidations > 0  # ADL went past the top of the queue
    m = http.get("/v1/funds/metrics", params={"start": month.start.isoformat(), "end": month.end.isoformat()})
    assert m.status_code == 200 and m.json()["adlStarts"] == got.adl_starts
    assert m.json()["adlPositions"] == got.adl_positions == sum(t.adl_positions for t in month.truth.values())
