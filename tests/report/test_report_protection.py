"""The report's protection section from a simulated month: the fund's size, wallets, history and
disclosures equal the ledger; the beginner-protection figures (activations by reason, margin calls by
cohort) equal the simulator's ground truth."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bastion.cli.sim_month import simulate_month
from bastion.db.session import make_engine, make_sessionmaker
from bastion.por.reserves.round_view import ROUND_FORMAT, load_round
from bastion.por.reserves.walletset import read_wallet_set
from bastion.protection_fund import ledger, wallets
from bastion.report import write_monthly
from bastion.sim.protection_fund import make_fund_wallet_set

MONTH = "2026-10"
PRICES = {"BTC": "97000.5", "ETH": "3500", "USDT": "1"}


def _round(path: Path) -> dict[str, Any]:
    raw = {
        "format": ROUND_FORMAT, "exchange": "Demo Exchange", "round_id": MONTH,
        "snapshot_time": "2026-10-31T23:59:59Z", "nonce": "3" * 32,
        "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
        "assets": [
            {"asset": a, "decimals": 8, "price_usd": p, "total_equity": "1", "total_debt": "0", "net_liabilities": "1"}
            for a, p in PRICES.items()
        ],
    }  # fmt: skip
    path.mkdir()
    (path / "round.json").write_text(json.dumps(raw))
    return raw


def test_section_equals_ledger_and_ground_truth(db_url: str, tmp_path: Path) -> None:
    truth = simulate_month(tmp_path / "sim", MONTH, users=40, seed=4, db_url=db_url, progress=False)
    raw = _round(tmp_path / "round")
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    snap = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    with sessions() as s:
        book = ledger.balances(s, snap)
        csv_path = make_fund_wallet_set(raw, book, tmp_path / "fund.csv")
        wallets.verify_round(s, load_round(tmp_path / "round"), read_wallet_set(csv_path), snap)
        s.commit()
    paths = write_monthly(sessions, MONTH, tmp_path / "report", pdf=False, now=snap)
    engine.dispose()
    fig = json.loads(paths.json.read_text())
    pf, bt = fig["protection_fund"], truth.protection_fund
    assert pf["balances"] == bt.balances_end
    expected_usd = sum(Decimal(v) * Decimal(PRICES[c]) for c, v in bt.balances_end.items())
    assert Decimal(pf["total_usd"]) == expected_usd == Decimal(pf["wallets_usd"])
    assert (pf["wallets_verified"], pf["round_id"]) == (pf["wallets"], MONTH)
    assert pf["history"] == [{"round_id": MONTH, "ledger_usd": pf["total_usd"]}]
    assert (pf["incidents"], pf["users_paid"], pf["payouts_by_ccy"]) == (bt.incidents, bt.users_paid, bt.payouts_by_ccy)
    prot = next(d for d in fig["disclosures"] if d["fund"] == "protection")
    assert {x["source"]: x["by_ccy"] for x in prot["funding_sources"]} == bt.contributions_by_source
    shares = [Decimal(x["share"]) for x in prot["funding_sources"]]
    assert abs(sum(shares) - 1) < Decimal("1e-20")

    b, gt = fig["beginner_protection"], truth.beginners
    assert b["refusals_by_rule"] == gt.refusals_by_rule and b["activations"] == sum(gt.refusals_by_rule.values())
    assert b["users_refused"] == gt.users_refused
    assert (b["questionnaire_passed"], b["questionnaire_failed"]) == (gt.questionnaire_passed, gt.questionnaire_failed)
    assert b["cohorts"] == gt.cohorts and {c["protected"] for c in b["cohorts"]} == {True, False}

    # the account security center: the report's figures are the simulated month's
    a, at = fig["account_security"], truth.account
    assert (a["freezes"], a["freezes_by_source"]) == (at.freezes, at.freezes_by_source) and at.freezes > 0
    assert at.takeovers_stopped_by_freeze == at.takeovers > 0
    assert (a["devices_removed"], a["new_device_logins"]) == (at.devices_removed, at.new_device_logins)
    assert a["alerts_sent_by_kind"] == at.alerts_received_by_kind  # counted at the local receivers
    for kind, n in at.alerts_planned_by_kind.items():
        assert a["alerts_by_kind"][kind] == a["alerts_sent_by_kind"][kind] == n
    assert a["checklist_users"] == at.users
    assert {k: a["checklist_adoption"][k] for k in at.adoption} == at.adoption
    assert at.duplicate_deliveries == 0 and at.emails_with_anti_phishing_code == at.emails_to_users_with_code > 0
    assert a["alert_deliveries"]["webhook"] == {"delivered": sum(a["alerts_by_kind"].values())}

    page = paths.html.read_text()
    assert "Account security center" in page and 'id="checklist-adoption"' in page
    assert f"<td>account frozen</td><td>{at.freezes}</td><td>{at.freezes}</td>" in page
    assert "User protection fund" in page and "Beginner protection" in page
    assert "New traders with a margin call in their first 30 days" in page
    assert "Risk provision fund" in page and "Fund disclosures" in page
    for ccy in bt.balances_end:
        assert f"<td>{ccy}</td>" in page


def test_empty_month_says_no_data(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    paths = write_monthly(make_sessionmaker(engine), MONTH, tmp_path / "report", pdf=False)
    engine.dispose()
    page = paths.html.read_text()
    assert "No data: the fund has no bookings yet." in page
    assert "No new derivatives traders this month" in page
    assert "No data: no account security activity this month." in page
    fig = json.loads(paths.json.read_text())
    assert fig["protection_fund"]["total_usd"] is None and fig["beginner_protection"]["cohorts"] == []
