"""The fund's wallets verify in a round like reserve wallets (ownership over the round's challenge, heights,
the round's assets); a wrong signature, another round's message or a reserve wallet counted twice are
refused; the USD total on the public route is the ledger at the round's prices."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from bastion.por.reserves.report import write_reserves
from bastion.por.reserves.round_view import ROUND_FORMAT, load_round
from bastion.por.reserves.verify import verify_wallet_set
from bastion.por.reserves.walletset import read_wallet_set, write_wallet_csv
from bastion.protection_fund import ledger, public, wallets
from bastion.sim.protection_fund import fund_wallet_rows, make_fund_wallet_set
from bastion.sim.wallets import make_wallet_set

T0 = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, 1, tzinfo=UTC)


def round_json(
    round_id: str = "2026-11", nonce: str = "9f86d081884c7d659a2feaa0c55ad015", snap: str = "2026-11-01T00:00:00Z"
) -> dict[str, Any]:
    def asset(name: str, dec: int, price: str, liab: str) -> dict[str, Any]:
        return {
            "asset": name,
            "decimals": dec,
            "price_usd": price,
            "total_equity": liab,
            "total_debt": "0",
            "net_liabilities": liab,
        }

    return {
        "format": ROUND_FORMAT,
        "exchange": "Demo Exchange",
        "round_id": round_id,
        "snapshot_time": snap,
        "nonce": nonce,
        "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
        "assets": [
            asset("BTC", 8, "97000.5", "100"),
            asset("ETH", 18, "3500", "2000"),
            asset("USDT", 6, "1", "9000000"),
        ],
    }


def make_round(tmp: Path, **kw: Any) -> Path:
    d = tmp / kw.get("round_id", "2026-11")
    d.mkdir(parents=True)
    raw = round_json(**kw)
    (d / "round.json").write_text(json.dumps(raw))
    reserves = make_wallet_set(raw, d / "reserve-wallets.csv", seed=3, wallets_per_asset=2)
    del reserves
    rnd = load_round(d)
    write_reserves(verify_wallet_set(rnd, read_wallet_set(d / "reserve-wallets.csv")), d / "reserves.json")
    return d


def _fund(s: Any) -> None:
    ledger.contribute(s, "c-usdt", "USDT", D("1500000"), "treasury", T0, "cfo")
    ledger.contribute(s, "c-btc", "BTC", D("12.5"), "fee_share", T0, "cfo")
    ledger.contribute(s, "c-eth", "ETH", D("300"), "treasury", T0, "cfo")
    s.commit()


def test_fund_wallets_verify_and_total_equals_the_ledger(session_factory: Any, tmp_path: Path) -> None:
    d = make_round(tmp_path)
    with session_factory() as s:
        _fund(s)
        csv_path = make_fund_wallet_set(round_json(), ledger.balances(s), tmp_path / "fund.csv")
        result = wallets.verify_round(s, load_round(d), read_wallet_set(csv_path), NOW)
        s.commit()
        rec = result.record
        assert rec.status == "verified" and rec.failures == []
        assert {w["asset"]: w["scheme"] for w in rec.wallets} == {"BTC": "bip322", "ETH": "eip191", "USDT": "eip191"}
        assert rec.wallet_balances == {"BTC": "12.5", "ETH": "300", "USDT": "1500000"}
        expected = D("1500000") + D("12.5") * D("97000.5") + D(300) * D(3500)
        assert rec.ledger_usd == expected == rec.wallets_usd
        size = public.fund_size(s)
        assert size.total_usd == expected and size.wallets_cover_ledger is True


def test_wrong_signature_other_round_and_reserve_wallet_are_refused(session_factory: Any, tmp_path: Path) -> None:
    d = make_round(tmp_path)
    with session_factory() as s:
        _fund(s)
        rows = fund_wallet_rows(round_json(), ledger.balances(s))
        # USDT's signature is made by another key: the ETH wallet's signature on the USDT row
        by_asset = {r["asset"]: r for r in rows}
        by_asset["USDT"]["signature"] = by_asset["ETH"]["signature"]
        # BTC signs the challenge of another round (same exchange, other nonce)
        other = fund_wallet_rows(round_json(round_id="2026-10", nonce="0" * 32), {"BTC": D("12.5")})[0]
        by_asset["BTC"]["message"], by_asset["BTC"]["signature"] = other["message"], other["signature"]
        # one of the round's reserve wallets, correctly signed, offered as the fund's too
        reserve = next(r for r in csv.DictReader((d / "reserve-wallets.csv").open()) if r["asset"] == "ETH")
        path = tmp_path / "bad.csv"
        write_wallet_csv(path, [*rows, reserve])
        rec = wallets.verify_round(s, load_round(d), read_wallet_set(path), NOW).record
        s.commit()
        reasons = {f["asset"] + ":" + f["address"][:6]: f["reason"] for f in rec.failures}
        assert rec.status == "failed" and len(rec.failures) == 3
        assert any("recovers another address" in r for k, r in reasons.items() if k.startswith("USDT"))
        assert any("another round" in r for k, r in reasons.items() if k.startswith("BTC"))
        assert any("claimed by 'Demo Exchange reserves'" in r for r in reasons.values())
        # only the ETH wallet of the fund counts; the public page says the wallets do not cover the ledger
        assert rec.wallet_balances == {"ETH": "300"}
        assert rec.wallets_usd == D(300) * D(3500)
        assert public.fund_size(s).wallets_cover_ledger is False


def test_public_route_shows_size_wallets_and_history(live: Any, tmp_path: Path) -> None:
    d1 = make_round(tmp_path, round_id="2026-10", snap="2026-10-01T00:00:00Z", nonce="1" * 32)
    d2 = make_round(tmp_path, round_id="2026-11")
    op = live.http
    for ref, ccy, amount, ts in (
        ("c1", "USDT", "1000000", "2026-09-30T00:00:00Z"),
        ("c2", "BTC", "10", "2026-09-30T00:00:00Z"),
        ("c3", "USDT", "500000", "2026-10-15T00:00:00Z"),
    ):
        body = {"ref": ref, "ccy": ccy, "amount": amount, "source": "treasury", "ts": ts, "actor": "cfo"}
        assert op.post("/v1/pfund/contributions", json=body).status_code == 200
    with live.app.state.sessionmaker() as s:
        for d, snap in ((d1, datetime(2026, 10, 1, tzinfo=UTC)), (d2, datetime(2026, 11, 1, tzinfo=UTC))):
            raw = json.loads((d / "round.json").read_text())
            csv_path = make_fund_wallet_set(raw, ledger.balances(s, snap), tmp_path / f"{d.name}.csv")
            wallets.verify_round(s, load_round(d), read_wallet_set(csv_path), NOW)
        s.commit()
    body = live.anon.get("/v1/public/protection-fund").json()
    assert D(body["total_usd"]) == D(1_500_000) + D(10) * D("97000.5")
    assert {b["ccy"]: b["usd"] for b in body["balances"]} == {"BTC": "970005", "USDT": "1500000"}
    assert body["round"]["round_id"] == "2026-11" and body["round"]["status"] == "verified"
    assert all(w["verified"] for w in body["round"]["wallets"])
    assert body["wallets_cover_ledger"] is True
    assert [(h["round_id"], D(h["ledger_usd"]), D(h["wallets_usd"])) for h in body["history"]] == [
        ("2026-10", D(1_000_000) + D(10) * D("97000.5"), D(1_000_000) + D(10) * D("97000.5")),
        ("2026-11", D(1_500_000) + D(10) * D("97000.5"), D(1_500_000) + D(10) * D("97000.5")),
    ]
    assert [x["date"] for x in body["daily"]] == ["2026-09-30", "2026-10-15"]
    assert body["daily"][-1]["balances"] == {"BTC": "10", "USDT": "1500000"}
