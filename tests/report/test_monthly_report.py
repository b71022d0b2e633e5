"""A small simulated month through the real service, then the monthly report: its figures equal the simulator's
ground truth, the PDF is a real PDF with every section filled, and empty months say so instead of crashing."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pdf_layout import ends_with_heading, fill, headings_and_words, page_lines, split_words
from pypdf import PdfReader
from typer.testing import CliRunner

from bastion.cli import app
from bastion.cli.sim_month import simulate_month
from bastion.db.session import make_engine, make_sessionmaker
from bastion.report import write_monthly
from bastion.sim.month import TRUTH_FILE, MonthGroundTruth
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
        "format": "bastion-round/3",
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


PUBLIC_URL = "https://demo-exchange.example"


def _previous_round_json() -> dict[str, Any]:
    """September's round: other balances and prices, so every change since then is a real difference."""
    doc = _round_json()
    doc.update(round_id="2026-09", snapshot_time="2026-09-30T23:59:59Z", nonce="4" * 32)
    for a, (equity, debt, price) in zip(doc["assets"], [("100.25", "2", "91000.5"), ("2500", "0", "3300"),
                                                          ("4000000", "100000", "1")], strict=True):  # fmt: skip
        a.update(total_equity=equity, total_debt=debt, price_usd=price,
                 net_liabilities=str(Decimal(equity) - Decimal(debt)))  # fmt: skip
    return doc


@dataclass
class Month:
    db_url: str
    truth: MonthGroundTruth
    rounds: Path
    round_dir: Path
    reserves: dict[str, Decimal]
    previous_reserves: dict[str, Decimal]
    wallets: list[Any]
    out: Path
    key: Path
    public_key: str


def _verified_round(base: Path, data: dict[str, Any], seed: int) -> tuple[Path, Any]:
    round_dir = base / "rounds" / data["round_id"]
    round_dir.mkdir(parents=True)
    (round_dir / "round.json").write_text(json.dumps(data))
    csv_path = base / f"wallets-{data['round_id']}.csv"
    wallets = make_wallet_set(data, csv_path, seed=seed, shortfall={"USDT": Decimal("0.02")}, wallets_per_asset=2)
    verify = runner.invoke(app, ["por", "reserves", "verify", str(csv_path), "--round", str(round_dir)])
    assert verify.exit_code == 1 and "USDT" in verify.output  # the shortfall is named
    return round_dir, wallets


@pytest.fixture
def month(db_url: str, tmp_path: Path) -> Month:
    truth = simulate_month(tmp_path / "sim", MONTH, users=60, seed=3, db_url=db_url, progress=False)
    _, before = _verified_round(tmp_path, _previous_round_json(), seed=1)
    round_dir, wallets = _verified_round(tmp_path, _round_json(), seed=2)
    key = tmp_path / "report.key"
    keygen = runner.invoke(app, ["report", "keygen", "--out", str(key)])
    assert keygen.exit_code == 0, keygen.output
    return Month(db_url, truth, tmp_path / "rounds", round_dir, wallets.reserves, before.reserves, wallets.wallets,
                 tmp_path / "report", key, keygen.output.strip())  # fmt: skip


def _pdf_text(path: Path) -> str:
    raw = path.read_bytes()
    assert raw.startswith(b"%PDF-") and b"%%EOF" in raw[-1024:]
    reader = PdfReader(path)
    assert len(reader.pages) >= 3
    return "\n".join(p.extract_text() or "" for p in reader.pages)


def _wallet_rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open() as f:
        return list(csv.DictReader(f))


def test_report_figures_equal_the_ground_truth(month: Month) -> None:
    result = runner.invoke(app, ["report", "monthly", "--month", MONTH, "--db", month.db_url, "--out", str(month.out),
                                 "--rounds", str(month.rounds), "--public-url", PUBLIC_URL,
                                 "--signing-key", str(month.key)])  # fmt: skip
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
    # API keys: Fast API keys issued this month and keys bound to third-party apps at the end, apart
    assert t.keys.created > 0 and t.keys.created_fast_api > 0
    assert f["api_keys_created"] == t.keys.created
    assert f["api_keys_created_direct"] == t.keys.created_direct
    assert f["api_keys_fast_api_created"] == f["api_keys_bound_to_apps"] == t.keys.created_fast_api
    assert f["api_keys_bound_to_apps_at_end"] == t.keys.bound_to_apps_at_end
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
    fund_usdt = sum(Decimal(p.balance) for p in t.funds.pools)
    assert Decimal(f["fund_balance_by_ccy"]["USDT"]) == fund_usdt
    # ... and in USD at the round's price of its currency (USDT at 1 in round.json)
    usdt_price = Decimal(next(a["price_usd"] for a in _round_json()["assets"] if a["asset"] == "USDT"))
    assert Decimal(rep["fund_balance_usd"]) == fund_usdt * usdt_price and rep["fund_balance_unpriced"] == []
    # User protection: recovered by support and returned automatically, each with its own value
    pt = t.protection
    assert f["cooling_off_activations"] == pt.activations > 0
    assert f["cooling_off_users"] == pt.users_activating
    assert f["cooling_off_durations"] == pt.durations
    assert f["cooling_off_orders_refused"] == pt.refused
    assert f["mistaken_deposit_cases"] == pt.mistaken_deposits == sum(pt.cases_by_reason.values())
    assert f["mistaken_deposits_by_reason"] == pt.cases_by_reason
    assert (f["mistaken_deposits_manual"], f["mistaken_deposits_automatic"]) == (pt.manual_recovered,
                                                                                 pt.auto_returned)  # fmt: skip
    assert pt.manual_recovered > 0 and pt.auto_returned > 0
    assert Decimal(f["mistaken_deposits_manual_usd"]) == Decimal(pt.manual_value_usd)
    assert Decimal(f["mistaken_deposits_automatic_usd"]) == Decimal(pt.auto_value_usd)
    assert f["mistaken_deposits_recovered"] == pt.recovered
    assert Decimal(f["mistaken_deposits_recovered_usd"]) == Decimal(pt.manual_value_usd) + Decimal(pt.auto_value_usd)
    assert f["mistaken_deposits_unrecoverable"] == pt.unrecoverable
    # Due diligence: requests opened (by trigger), answered, approved, rejected, overdue at the month's end
    dt = t.diligence
    assert dt.opened > 0 and dt.answered > 0 and dt.approved > 0 and dt.rejected > 0 and dt.overdue > 0
    assert f["due_diligence_opened"] == dt.opened == sum(dt.opened_by_reason.values())
    assert f["due_diligence_opened_by_reason"] == dt.opened_by_reason
    assert (f["due_diligence_answered"], f["due_diligence_approved"], f["due_diligence_rejected"],
            f["due_diligence_overdue"]) == (dt.answered, dt.approved, dt.rejected, dt.overdue)  # fmt: skip
    # Travel Rule: deposits held, released (by originator / wallet proof), returned at the deadline; one instance
    # exchanges no messages
    tr = t.travel_rule
    assert tr.deposits_released > 0 and tr.deposits_returned > 0 and set(tr.released_by) == {"originator", "ownership"}
    assert (f["travel_rule_messages_sent"], f["travel_rule_messages_received"]) == (tr.messages_sent,
                                                                                     tr.messages_received)  # fmt: skip
    assert (f["travel_rule_deposits_held"], f["travel_rule_deposits_released"], f["travel_rule_deposits_returned"]) == (
        tr.deposits_held, tr.deposits_released, tr.deposits_returned)  # fmt: skip
    assert tr.deposits_held == tr.deposits_released + tr.deposits_returned
    assert f["travel_rule_released_by"] == tr.released_by
    assert tr.median_hours_to_release is not None
    assert f["travel_rule_median_hours_to_release"] == tr.median_hours_to_release
    # Fund security: round.json's user assets, the verified wallets' assets, and the round's facts
    fund = rep["fund_security"]
    doc, before = _round_json(), _previous_round_json()
    assert fund["assets_covered"] == 3 and fund["circuit_digest"] == DIGEST and fund["leaf_root"] == ROOT
    assert (fund["round_number"], fund["previous_round_id"]) == (2, "2026-09")
    assert fund["publication"] == "the 2nd consecutive monthly publication"
    assert fund["issuer"] == doc["exchange"] and fund["nonce"] == doc["nonce"]
    assert fund["block_heights"] == doc["block_heights"]
    round_sha = hashlib.sha256((month.round_dir / "round.json").read_bytes()).hexdigest()
    assert fund["round_sha256"] == round_sha
    reserves_sha = hashlib.sha256((month.round_dir / "reserves.json").read_bytes()).hexdigest()
    published = {name: hashlib.sha256((month.round_dir / name).read_bytes()).hexdigest()
                 for name in ("wallets.csv", "prices.json")}  # fmt: skip
    assert {x["name"]: x["sha256"] for x in fund["files"]} == {"round.json": round_sha, "reserves.json": reserves_sha,
                                                              **published}  # fmt: skip
    assert all(x["matches_round_json"] for x in fund["files"])  # the digests reserves.json states
    assert fund["prices_usd"] == {a["asset"]: a["price_usd"] for a in doc["assets"]}
    wallet_rows = _wallet_rows(month.out.parent / "wallets-2026-10.csv")
    # one wallet per address (a multisig takes a row per signing key; EVM addresses compare without case)
    listed = {w["address"].lower(): Decimal(w["balance"]) for w in fund["wallets"]}
    assert listed == {w["address"].lower(): Decimal(w["balance"]) for w in wallet_rows}
    assert len(fund["wallets"]) == len(listed)
    net = {a["asset"]: Decimal(a["net_liabilities"]) for a in doc["assets"]}
    net_before = {a["asset"]: Decimal(a["net_liabilities"]) for a in before["assets"]}
    for a in fund["assets"]:
        name = a["asset"]
        assert Decimal(a["user_assets"]) == net[name]
        assert Decimal(a["wallet_assets"]) == month.reserves[name]
        assert Decimal(a["reserve_ratio"]) == month.reserves[name] / net[name]
        # the change since September's round, per asset
        assert Decimal(a["user_assets_change"]) == net[name] - net_before[name]
        assert Decimal(a["wallet_assets_change"]) == month.reserves[name] - month.previous_reserves[name]
    usd_now = sum(net[a["asset"]] * Decimal(a["price_usd"]) for a in doc["assets"])
    usd_before = sum(net_before[a["asset"]] * Decimal(a["price_usd"]) for a in before["assets"])
    assert Decimal(fund["user_assets_usd"]) == usd_now
    assert Decimal(fund["user_assets_usd_change"]) == usd_now - usd_before
    assert fund["files_url"] == f"{PUBLIC_URL}/por/rounds/2026-10/files"
    assert fund["status"].startswith("NOT FULLY RESERVED (under 100%: USDT")
    assert rep["signer_public_key"] == month.public_key
    assert rep["previous"] is None  # nothing in September

    # What a person reads: every section and every listed item, filled, in the printed PDF.
    pdf = month.out / "report.pdf"
    text = _pdf_text(pdf)
    flat = re.sub(r"\s+", "", text)
    text = " ".join(text.split())  # phrases may wrap: compare with single spaces
    for section in SECTIONS:
        assert section in text, section
    assert "First report" in text
    assert f"{PUBLIC_URL}/por/rounds/2026-10/files/wallets.csv" in text  # the signed wallet file, linked
    for digest in (DIGEST, ROOT, round_sha, reserves_sha, *published.values(), doc["nonce"], month.public_key):
        assert digest in flat, digest
    for address in listed:
        assert address in flat.lower(), address
    assert "Coverage: 3 assets" in text
    assert "round number 2: the 2nd consecutive monthly publication" in text
    assert "Issued by Demo Exchange" in text
    assert "bitcoin 870,000; ethereum 21,000,000" in text  # block heights
    assert "BTC 97,000.12 117.25" in text  # price, then user assets
    assert "Round 2026-10 against round 2026-09: total user assets +$" in text
    assert f"BTC 117.25 +{(net['BTC'] - net_before['BTC']).normalize():,f}" in text  # 19 BTC more than September
    fund_usd = f"${(fund_usdt * usdt_price).quantize(Decimal('0.01')):,}"
    assert fund_usd in text
    assert f"${Decimal(pt.manual_value_usd):,.2f} at arrival" in text  # recovered by support
    assert f"${Decimal(pt.auto_value_usd):,.2f} at arrival" in text  # returned automatically
    assert "Fast API keys issued" in text and "Keys bound to third-party apps" in text
    for figure in (f"{t.risk.intercepted_users:,}", f"${Decimal(t.risk.intercepted_value_usd):,.2f}",
                   "NOT FULLY RESERVED", "98.00%", "bastion por verify .", "What the proof does not show",
                   "Prices, haircuts and caps are the exchange's word", "Disclaimer", "It is not an audit opinion",
                   f"curl -fsSO {PUBLIC_URL}/por/rounds/2026-10/files/round.json", f"{PUBLIC_URL}/por/rounds",
                   "bastion report verify report.pdf"):  # fmt: skip
        assert figure in text, figure
    # How to verify: public URLs and commands only, never the operator's paths or a placeholder
    assert str(month.out.parent) not in text and "WALLETS.csv" not in text and "demo-out" not in text
    page = (month.out / "report.html").read_text()
    # 3 charts, plus the protection section's 2 (fund size over time, beginners' margin calls by cohort)
    assert page.count("<svg") == 5 and "<script" not in page
    assert "No data" not in page  # a full month has no empty section
    assert 'id="due-diligence"' in page and "deadline passed this month unanswered" in page
    assert 'id="travel-rule"' in page and "the user&#39;s proof of owning the sending wallet" in page
    assert f"{t.travel_rule.median_hours_to_release:.1f} h" in page
    _the_layout_holds(pdf, page)
    _the_signature_verifies_and_fails_on_one_changed_byte(month)

    _following_month_is_empty_and_compares_with_the_simulated_one(month)


def _the_layout_holds(pdf: Path, page: str) -> None:
    """No near-empty page but the last, no page ending on a heading, no word split across two lines."""
    pages, height = page_lines(pdf)
    assert 3 <= len(pages) <= 13  # 13 since the Travel Rule section
    headings, words = headings_and_words(page)
    assert "What the proof does not show" in headings and "Wallets" in headings
    for i, lines in enumerate(pages[:-1], start=1):
        assert fill(lines, height) >= 0.25, f"page {i} is {fill(lines, height):.0%} full"
        assert ends_with_heading(lines, headings) is None, f"page {i} ends with a heading: {lines[-1].text}"
    assert split_words(pages, words) == []


def _the_signature_verifies_and_fails_on_one_changed_byte(month: Month) -> None:
    pdf = month.out / "report.pdf"
    ok = runner.invoke(app, ["report", "verify", str(pdf), "--public-key", month.public_key])
    assert ok.exit_code == 0 and "OK" in ok.output, ok.output
    ok_json = runner.invoke(app, ["report", "verify", str(month.out / "report.json"), "--public-key",
                                  str(month.key.with_name(month.key.name + ".pub"))])  # fmt: skip
    assert ok_json.exit_code == 0, ok_json.output
    raw = bytearray(pdf.read_bytes())
    tampered = month.out.parent / "tampered.pdf"
    raw[len(raw) // 2] ^= 0x01
    tampered.write_bytes(bytes(raw))
    bad = runner.invoke(app, ["report", "verify", str(tampered), "--signature", str(pdf) + ".sig",
                              "--public-key", month.public_key])  # fmt: skip
    assert bad.exit_code == 1 and "changed after signing" in bad.output, bad.output
    # a signature file re-made for the tampered bytes by someone else's key: refused by the exchange's key
    other = month.out.parent / "other.key"
    assert runner.invoke(app, ["report", "keygen", "--out", str(other)]).exit_code == 0
    from bastion.report.signature import load_private_key, sign_file

    sign_file(tampered, load_private_key(other))
    forged = runner.invoke(app, ["report", "verify", str(tampered), "--public-key", month.public_key])
    assert forged.exit_code == 1 and "not by the key given" in forged.output, forged.output
    # the same, with the forger's key swapped for the exchange's in the signature file: the signature fails
    sig = json.loads((tampered.with_name(tampered.name + ".sig")).read_text())
    sig["public_key"] = month.public_key
    tampered.with_name(tampered.name + ".sig").write_text(json.dumps(sig))
    swapped = runner.invoke(app, ["report", "verify", str(tampered), "--public-key", month.public_key])
    assert swapped.exit_code == 1 and "does not verify" in swapped.output, swapped.output
    garbage = runner.invoke(app, ["report", "verify", str(pdf), "--public-key", "xyz"])
    assert garbage.exit_code == 2 and "public key" in garbage.output


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
