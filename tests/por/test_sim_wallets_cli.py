"""`bastion sim wallets` writes a signed wallet set that `bastion por reserves verify` accepts, shortfall named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROUND = {
    "format": "bastion-round/3", "exchange": "Demo Exchange", "round_id": "2026-11",
    "snapshot_time": "2026-11-01T00:00:00Z", "nonce": "00112233445566778899aabbccddeeff",
    "block_heights": {"bitcoin": 870000, "ethereum": 21000000, "tron": 60000000},
    "assets": [
        {"asset": "BTC", "decimals": 8, "price_usd": "97000", "total_equity": "100", "total_debt": "1",
         "net_liabilities": "99"},
        {"asset": "USDT", "decimals": 6, "price_usd": "1", "total_equity": "5000000", "total_debt": "0",
         "net_liabilities": "5000000"},
    ],
}


def _bastion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from bastion.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


def test_simulated_wallets_verify_and_the_shortfall_is_reported(tmp_path: Path) -> None:
    (tmp_path / "round.json").write_text(json.dumps(ROUND))
    wallets = tmp_path / "wallets.csv"
    made = _bastion("sim", "wallets", "--round", str(tmp_path), "--out", str(wallets), "--shortfall", "BTC=0.03")
    assert made.returncode == 0, made.stderr
    checked = _bastion("por", "reserves", "verify", str(wallets), "--round", str(tmp_path))
    assert checked.returncode == 1  # BTC under 100%
    assert "0 row(s) failed" in checked.stdout and "BTC" in checked.stdout
    report = json.loads((tmp_path / "reserves.json").read_text())
    assert report  # written for `bastion por report`
    fine = _bastion("sim", "wallets", "--round", str(tmp_path), "--out", str(wallets))
    assert fine.returncode == 0
    assert _bastion("por", "reserves", "verify", str(wallets), "--round", str(tmp_path)).returncode == 0


def test_bad_shortfall_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "round.json").write_text(json.dumps(ROUND))
    out = _bastion("sim", "wallets", "--round", str(tmp_path), "--out", str(tmp_path / "w.csv"), "--shortfall", "BTC")
    assert out.returncode != 0 and "ASSET=FRACTION" in out.stdout + out.stderr
