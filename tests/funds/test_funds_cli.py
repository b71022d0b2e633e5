"""`bastion funds import`: all or nothing, idempotent on a second run."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bastion.cli import app

HEADER = "id,instType,instFamily,ccy,instId,posSide,sz,bkPx,fillPx,ts\n"


def _row(i: int, fill: str) -> str:
    return f"L{i},SWAP,BTC-USDT,USDT,BTC-USDT-SWAP,long,1,100,{fill},2026-03-01T00:0{i}:00+00:00\n"


def test_import_all_or_nothing_then_idempotent(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + _row(1, "101") + _row(2, "oops"))
    r = runner.invoke(app, ["funds", "import", str(bad), "--url", db_url])
    assert r.exit_code == 2 and "row 3, fillPx" in r.output, r.output  # line 3: header is line 1
    good = tmp_path / "good.csv"
    good.write_text(HEADER + _row(1, "101") + _row(2, "99.5"))
    r = runner.invoke(app, ["funds", "import", str(good), "--url", db_url])
    assert r.exit_code == 0 and "2 booked" in r.output, r.output
    r = runner.invoke(app, ["funds", "import", str(good), "--url", db_url])
    assert "0 booked, 2 already booked" in r.output
    r = runner.invoke(app, ["funds", "check", "--url", db_url])
    assert r.exit_code == 0 and "problems 0" in r.output
