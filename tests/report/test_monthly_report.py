"""A small simulated month through the real service, then the monthly report: its figures equal the simulator's
ground truth, the PDF is a real PDF with every section filled, and empty months say so instead of crashing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from bastion.cli import app
from bastion.db.session import make_engine, make_sessionmaker
from bastion.report import write_monthly
from bastion.sim.month import TRUTH_FILE, MonthGroundTruth, simulate_month
from bastion.sim.wallets import make_wallet_set

runner = CliRunner()
MONTH = "2026-10"
DIGEST = "7c1f" * 16
ROOT = "ab12" * 16
SECTIONS = (
    "Fund security",
    "Transaction security",
    "Risk provision fund",
    "API keys",
    "User protection",
    "Cooling-off period",
    "Mistaken deposits",
    "Change from the previous month",
    "FAQ",
    "Appendix: definitions and sources",
)


def _round_json() -> dict[str, Any]:
    """A round.json by hand, per docs/spec/round-format.md (the prover pipeline writes the real one)."""

    def asset(index: int, name: str, decimals: int, price: str, equity: str, debt: str) -> dict[str, Any]:
        net = str(Decimal(equity) - Decimal(debt))
        return {"index": index, "asset": name, "decimals": decimals, "price_usd": price, "haircut": "1",
                "amount_bits": 50, "total_equity": equity, "total_debt": debt, "net_liabilities": net}  # fmt: skip

    return {
        "format": "bastion-round/2",
        "exchange": "Demo Exchange",
        "round_id": MONTH,
        "snapshot_time": "2026-10-31T23:59:59Z",
        "nonce": "3" * 32,
        "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
        "prover_version": "bastion 0.1.0",
        "circuit": {"name": "bastion.por.solvency/1", "digest": DIGEST, "stark_params": {"blowup": 8, "queries": 40}},
        "assets": [
            asset(0, "BTC", 8, "97000.12", "120.5", "3.25"),
            asset(1, "ETH", 18, "3500", "2200", "0"),
            asset(2, "USDT", 6, "1", "5000000", "250000"),
        ],
        "users": 60,
        "rows": 150,
        "leaves": {"file": "leaves.bin", "count": 256, "sha256": "0" * 64, "root": ROOT},
        "batches": [{"index": 0, "file": "batches/batch-00000.proof", "leaf_start": 0, "rows": 256}],
    }


@dataclass
class Month:
    db_url: str
    truth: MonthGroundTruth
    round_dir: Path
    reserves: dict[str, Decimal]
    out: Path


@pytest.fixture
def month(db_url: str, tmp_path: Path) -> Month:
    truth = simulate_month(tmp_path / "sim", MONTH, users=60, seed=3, db_url=db_url, progress=False)
    round_dir = tmp_path / "round"
    round_dir.mkdir()
    data = _round_json()
    (round_dir / "round.json").write_text(json.dumps(data))
    wallets = make_wallet_set(data, tmp_path / "wallets.csv", seed=2, shortfall={"USDT": Decimal("0.02")},
                              wallets_per_asset=2)  # fmt: skip
    verify = runner.invoke(app, ["por", "reserves", "verify", str(tmp_path / "wallets.csv"), "--round", str(round_dir)])
    assert verify.exit_code == 1 and "USDT" in verify.output  # the shortfall is named
    return Month(db_url, truth, round_dir, wallets.reserves, tmp_path / "report")


def _pdf_text(path: Path) -> str:
    raw = path.read_bytes()
    assert raw.startswith(b"%PDF-") and b"%%EOF" in raw[-1024:]
    reader = PdfReader(path)
    assert len(reader.pages) >= 5
    return "\n".join(p.extract_text() or "" for p in reader.pages)


def test_report_figures_equal_the_ground_truth(month: Month) -> None:
    result = runner.invoke(app, ["report", "monthly", "--month", MONTH, "--db", month.db_url, "--out", str(month.out),
                                 "--round", str(month.round_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert MonthGroundTruth.read(month.out.parent / "sim" / TRUTH_FILE) == month.truth
    t = month.truth
    rep = json.loads((month.out / "report.json").read_text())
    f = rep["figures"]

    # Transaction security: the risk engine's figures as the simulator's client saw every decision.
    assert t.risk.attacks > 0 and t.risk.intercepted > 0
    assert f["withdrawals_evaluated"] == t.risk.withdrawals
    assert f["withdrawals_intercepted"] == t.risk.intercepted
    assert f["users_protected"] == t.risk.intercepted_users
    assert Decimal(f["value_preserved_usd"]) == Decimal(t.risk.intercepted_value_usd)
    assert (f["withdrawals_blocked"], f["withdrawals_held"]) == (t.risk.decisions.get("block", 0),
                                                                 t.risk.decisions.get("review", 0))  # fmt: skip
    assert f["false_positives"] == t.risk.held_then_approved
    assert sum(f["daily_interceptions"].values()) == t.risk.intercepted
    assert t.risk.attacks_caught == t.risk.attacks  # every generated attack was stopped at least once
    # API keys
    assert t.keys.created > 0 and t.keys.created_fast_api > 0
    assert f["api_keys_created"] == t.keys.created
    assert f["api_keys_created_direct"] == t.keys.created_direct
    assert f["api_keys_bound_to_apps"] == t.keys.created_fast_api
    assert t.keys.swept_earlier_keys == 0  # a fresh database
    assert (f["api_keys_swept"], f["api_keys_revoked"]) == (t.keys.swept, t.keys.revoked)
    assert f["api_keys_deleted"] == t.keys.swept + t.keys.revoked
    assert f["api_key_rejections"] == t.keys.rejections_by_code
    # Risk provision fund: the reference model of the fund, pool by pool
    assert t.fresh_database
    pools = {p["pool"]: p for p in f["fund_pools"]}
    assert len(pools) == len(t.funds.pools) == 3
    for p in t.funds.pools:
        got = pools[f"{p.inst_type} {p.inst_family} ({p.ccy})"]
        assert Decimal(got["balance"]) == Decimal(p.balance)
        assert got["triggers"] == p.triggers and got["adl_events"] == p.adl_liquidations
        assert got["adl_starts"] == p.adl_starts
        assert Decimal(got["outflows"]) == Decimal(p.losses_out)
        assert Decimal(got["inflows"]) == Decimal(p.surplus_in) + Decimal(p.injections_in)
        assert Decimal(got["worst_drawdown_8h"]) == Decimal(p.worst_drawdown_8h)
    assert f["fund_triggers"] == sum(p.triggers for p in t.funds.pools)
    assert f["fund_adl_starts"] == sum(p.adl_starts for p in t.funds.pools) >= 1
    assert Decimal(f["fund_balance_by_ccy"]["USDT"]) == sum(Decimal(p.balance) for p in t.funds.pools)
    # User protection
    pt = t.protection
    assert f["cooling_off_activations"] == pt.activations > 0
    assert f["cooling_off_users"] == pt.users_activating
    assert f["cooling_off_durations"] == pt.durations
    assert f["cooling_off_orders_refused"] == pt.refused
    assert f["mistaken_deposit_cases"] == pt.mistaken_deposits == sum(pt.cases_by_reason.values())
    assert f["mistaken_deposits_by_reason"] == pt.cases_by_reason
    assert (f["mistaken_deposits_manual"], f["mistaken_deposits_automatic"]) == (pt.manual_recovered,
                                                                                 pt.auto_returned)  # fmt: skip
    assert f["mistaken_deposits_recovered"] == pt.recovered
    assert Decimal(f["mistaken_deposits_recovered_usd"]) == Decimal(pt.manual_value_usd) + Decimal(pt.auto_value_usd)
    assert f["mistaken_deposits_unrecoverable"] == pt.unrecoverable
    # Fund security: round.json's user assets, the verified wallets' assets
    fund = rep["fund_security"]
    assert fund["assets_covered"] == 3 and fund["circuit_digest"] == DIGEST and fund["leaf_root"] == ROOT
    net = {a["asset"]: Decimal(a["net_liabilities"]) for a in _round_json()["assets"]}
    for a in fund["assets"]:
        assert Decimal(a["user_assets"]) == net[a["asset"]]
        assert Decimal(a["wallet_assets"]) == month.reserves[a["asset"]]
        assert Decimal(a["reserve_ratio"]) == month.reserves[a["asset"]] / net[a["asset"]]
    assert fund["status"].startswith("NOT FULLY RESERVED (under 100%: USDT")
    assert rep["previous"] is None  # nothing in September

    # What a person reads: every section, filled, in the printed PDF.
    text = _pdf_text(month.out / "report.pdf")
    flat = re.sub(r"\s+", "", text)
    for section in SECTIONS:
        assert section in text, section
    assert "First report" in text
    assert DIGEST in flat and ROOT in flat
    assert "Coverage: 3 assets" in text
    for figure in (f"{t.risk.intercepted_users:,}", f"${Decimal(t.risk.intercepted_value_usd):,.2f}",
                   "NOT FULLY RESERVED", "98.00%", "bastion por verify"):  # fmt: skip
        assert figure in text, figure
    page = (month.out / "report.html").read_text()
    # 3 charts, plus the protection section's 2 (fund size over time, beginners' margin calls by cohort)
    assert page.count("<svg") == 5 and "<script" not in page
    assert "No data" not in page  # a full month has no empty section

    _following_month_is_empty_and_compares_with_the_simulated_one(month)


def _following_month_is_empty_and_compares_with_the_simulated_one(month: Month) -> None:
    engine = make_engine(month.db_url)
    try:
        paths = write_monthly(make_sessionmaker(engine), "2026-11", month.out, pdf=True)
    finally:
        engine.dispose()
    r = paths.report
    assert r.current.empty and r.previous is not None and r.previous_month == MONTH
    assert r.previous.risk.withdrawals_intercepted == month.truth.risk.intercepted
    assert paths.pdf is not None
    text = _pdf_text(paths.pdf)
    for section in SECTIONS:
        assert section in text, section
    assert "No data: no proof-of-reserves round" in text
    assert "No data: no withdrawal was evaluated this month." in text
    assert "No withdrawal was intercepted this month" in text  # the chart's own empty state
    assert "First report" not in text
    # The change table: the simulated month's interceptions against none.
    assert re.search(rf"Withdrawals intercepted 0 {month.truth.risk.intercepted} -{month.truth.risk.intercepted}", text)


def test_empty_database_renders_no_data_states(db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "monthly", "--month", "2026-02", "--db", db_url, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "first report" in result.output
    text = _pdf_text(tmp_path / "report.pdf")
    for section in SECTIONS:
        assert section in text, section
    assert "No data: the database holds no activity for February 2026." in text
    assert "First report" in text
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["figures"]["withdrawals_intercepted"] == 0 and rep["fund_security"] is None


def test_bad_inputs_are_named(db_url: str, tmp_path: Path) -> None:
    bad = runner.invoke(app, ["report", "monthly", "--month", "2026-13", "--db", db_url, "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
    (tmp_path / "round").mkdir()
    (tmp_path / "round" / "round.json").write_text(json.dumps(_round_json()))
    missing = runner.invoke(app, ["report", "monthly", "--month", MONTH, "--db", db_url, "--out", str(tmp_path),
                                  "--round", str(tmp_path / "round"), "--no-pdf"])  # fmt: skip
    assert missing.exit_code == 2 and "reserves.json: not found" in missing.output
    other = tmp_path / "other-reserves.json"
    other.write_text(json.dumps({"format": "bastion-reserves/1", "round_id": "2026-09", "assets": {}}))
    args = ["report", "monthly", "--month", MONTH, "--db", db_url, "--out", str(tmp_path), "--no-pdf"]
    foreign = runner.invoke(app, [*args, "--round", str(tmp_path / "round"), "--reserves", str(other)])
    assert foreign.exit_code == 2 and "round_id '2026-09' is not round.json's '2026-10'" in foreign.output
