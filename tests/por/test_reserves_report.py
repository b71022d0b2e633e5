"""The reserve report and the CLI: numbers, change since the previous round, exit codes, JSON and HTML."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.por.reserves.report import build_report, load_round_reserves, report_html, report_json
from bastion.sim.wallets import make_wallet_set

runner = CliRunner()


def _round(round_id: str, nonce: str, btc: str, usdt: str, btc_price: str) -> dict[str, Any]:
    return {
        "format": "bastion-round/3",
        "exchange": "Demo Exchange",
        "round_id": round_id,
        "snapshot_time": f"{round_id}-01T00:00:00Z",
        "nonce": nonce,
        "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
        "assets": [
            {
                "asset": "BTC",
                "decimals": 8,
                "price_usd": btc_price,
                "total_equity": btc,
                "total_debt": "0",
                "net_liabilities": btc,
            },
            {
                "asset": "USDT",
                "decimals": 6,
                "price_usd": "1",
                "total_equity": usdt,
                "total_debt": "0",
                "net_liabilities": usdt,
            },
        ],
    }


def _write_round(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True)
    (directory / "round.json").write_text(json.dumps(data))
    return directory


def _fixed_wallets(path: Path, data: dict[str, Any], balances: dict[str, str]) -> None:
    """A simulated set rewritten so each asset's reserves are exactly `balances` (one wallet per asset)."""
    make_wallet_set(data, path, seed=1, wallets_per_asset=1)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["balance"] = balances[row["asset"]]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def rounds(tmp_path: Path) -> tuple[Path, Path]:
    old = _write_round(tmp_path / "2026-10", _round("2026-10", "a" * 32, "100", "1000000", "90000"))
    new = _write_round(tmp_path / "2026-11", _round("2026-11", "b" * 32, "110", "1200000", "100000"))
    _fixed_wallets(
        tmp_path / "old.csv", json.loads((old / "round.json").read_text()), {"BTC": "104", "USDT": "1060000"}
    )
    _fixed_wallets(
        tmp_path / "new.csv", json.loads((new / "round.json").read_text()), {"BTC": "114.4", "USDT": "1176000"}
    )
    return old, new


def test_challenge_command_prints_the_round_message(rounds: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["por", "challenge", str(rounds[1])])
    assert result.exit_code == 0
    assert result.output.strip().endswith("round: 2026-11 | snapshot: 2026-11-01T00:00:00Z | nonce: " + "b" * 32)


def test_report_numbers_change_and_outputs(rounds: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = rounds
    assert (
        runner.invoke(app, ["por", "reserves", "verify", str(tmp_path / "old.csv"), "--round", str(old)]).exit_code == 0
    )
    verify = runner.invoke(app, ["por", "reserves", "verify", str(tmp_path / "new.csv"), "--round", str(new)])
    # USDT: 1,176,000 for 1,200,000 of liabilities = 98%: named, exit 1
    assert verify.exit_code == 1 and "under 100%: USDT" in verify.output
    report = build_report(load_round_reserves(new), load_round_reserves(old))
    btc, usdt = report.lines
    assert (btc.liabilities, btc.reserves, btc.ratio, btc.difference) == (
        110,
        Decimal("114.4"),
        Decimal("1.04"),
        Decimal("4.4"),
    )
    assert (btc.liabilities_change, btc.reserves_change) == (10, Decimal("10.4"))
    assert usdt.ratio == Decimal("0.98") and usdt.under and not btc.under
    assert report.totals["liabilities_usd"] == 110 * 100000 + 1200000
    # users' USD holdings, each round at its own prices: 12.2M - (9M + 1M)
    assert report.totals["liabilities_usd_change"] == Decimal("2200000")
    assert report.under_assets == ["USDT"] and not report.ok
    out_html, out_json = tmp_path / "r.html", tmp_path / "r.json"
    cli = runner.invoke(
        app, ["por", "report", str(new), "--previous", str(old), "--html", str(out_html), "--out", str(out_json)]
    )
    assert cli.exit_code == 1 and "NOT FULLY RESERVED (under 100%: USDT)" in cli.output
    data = json.loads(out_json.read_text())
    assert data == report_json(report)
    assert data["assets"][0] | {"ratio_percent": "104.00%", "liabilities_change": "10"} == data["assets"][0]
    assert data["status"] == "not_fully_reserved" and data["under_assets"] == ["USDT"]
    page = out_html.read_text()
    assert page == report_html(report)
    for text in (
        "User assets",
        "Wallet assets",
        "Reserve ratio",
        "104.00%",
        "98.00%",
        '<tr class="under">',
        "increased by about $2,200,000 since the 2026-10 report",
    ):
        assert text in page


def test_fully_reserved_round_exits_zero(rounds: tuple[Path, Path], tmp_path: Path) -> None:
    old, _ = rounds
    assert (
        runner.invoke(app, ["por", "reserves", "verify", str(tmp_path / "old.csv"), "--round", str(old)]).exit_code == 0
    )
    result = runner.invoke(app, ["por", "report", str(old)])
    assert result.exit_code == 0 and "FULLY RESERVED" in result.output and "104.00%" in result.output


def test_failed_signature_is_named_and_fails_the_report(rounds: tuple[Path, Path], tmp_path: Path) -> None:
    old, _ = rounds
    path = tmp_path / "old.csv"
    rows = list(csv.DictReader(path.open(newline="")))
    rows[0]["message"] = "Static proof of reserves message"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = runner.invoke(app, ["por", "reserves", "verify", str(path), "--round", str(old)])
    assert result.exit_code == 1
    assert "row 2" in result.output and "static" in result.output  # the first data row: the header is row 1
    report = runner.invoke(app, ["por", "report", str(old)])
    assert report.exit_code == 1 and "1 wallet row(s) failed verification" in report.output
    stored = json.loads((old / "reserves.json").read_text())
    assert stored["status"] == "failed" and stored["failures"][0]["row"] == 2


def test_bad_input_exits_two_naming_the_row(rounds: tuple[Path, Path], tmp_path: Path) -> None:
    old, _ = rounds
    bad = tmp_path / "bad.csv"
    text = (tmp_path / "old.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[3] = "1.2.3"
    bad.write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    result = runner.invoke(app, ["por", "reserves", "verify", str(bad), "--round", str(old)])
    assert result.exit_code == 2
    assert "bad.csv: row 2, balance: not a decimal amount: '1.2.3'" in result.output
    assert not (old / "reserves.json").exists()  # a failed import writes nothing
    missing = runner.invoke(app, ["por", "report", str(old)])
    assert missing.exit_code == 2 and "run `bastion por reserves verify" in missing.output
