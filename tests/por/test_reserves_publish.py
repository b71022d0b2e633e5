"""What a stranger can check: `reserves verify` publishes the signed wallet set and the price table beside
reserves.json, with their SHA-256; the service serves them; downloaded, they verify again on their own."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.cli._demo_month import DEMO_HEIGHTS
from bastion.por.reserves.round_view import parse_round
from bastion.por.reserves.verify import verify_wallet_set
from bastion.por.reserves.walletset import read_wallet_set
from bastion.sim.liabilities import REAL_ASSETS
from bastion.sim.wallets import NATIVE_BY_ASSET, make_wallet_set

runner = CliRunner()


_OWED = {"total_equity": "5000", "total_debt": "0", "net_liabilities": "5000"}


def _round_json() -> dict[str, Any]:
    return {
        "format": "bastion-round/3",
        "exchange": "Demo Exchange",
        "round_id": "2026-11",
        "snapshot_time": "2026-11-01T00:00:00Z",
        "nonce": "c0ffee00" * 4,
        "block_heights": DEMO_HEIGHTS,
        "assets": [
            {"asset": a, "decimals": d, "price_usd": p, **_OWED} for a, p, d, _ in REAL_ASSETS[:22]
        ],
    }  # fmt: skip


@pytest.fixture
def published(tmp_path: Path) -> Path:
    round_dir = tmp_path / "round"
    round_dir.mkdir()
    (round_dir / "round.json").write_text(json.dumps(_round_json()))
    make_wallet_set(_round_json(), tmp_path / "signed-wallets.csv", seed=3)
    result = runner.invoke(
        app, ["por", "reserves", "verify", str(tmp_path / "signed-wallets.csv"), "--round", str(round_dir)]
    )
    assert result.exit_code == 0, result.output
    return round_dir


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_22_assets_are_held_on_their_native_chains(published: Path) -> None:
    reserves = json.loads((published / "reserves.json").read_text())
    chains = {(w["asset"], w["chain"]) for w in reserves["wallets"] if w["verified"]}
    for asset, chain in NATIVE_BY_ASSET.items():
        assert (asset, chain) in chains
        assert not any(a == asset and c != chain for a, c in chains), f"{asset} is also held off its chain"
    assert {("BNB", "bsc"), ("AVAX", "avalanche"), ("TRX", "tron")} <= chains
    assert {a for a, _ in chains} == {a for a, *_ in REAL_ASSETS[:22]}
    assert reserves["status"] == "verified"


def test_public_files_are_listed_with_their_hashes(published: Path, tmp_path: Path) -> None:
    reserves = json.loads((published / "reserves.json").read_text())
    listed = {f["file"]: f for f in reserves["public_files"]}
    assert set(listed) == {"wallets.csv", "prices.json"}
    original = (tmp_path / "signed-wallets.csv").read_bytes()
    assert (published / "wallets.csv").read_bytes() == original  # byte for byte what was verified
    assert listed["wallets.csv"]["sha256"] == _sha(original) == reserves["wallet_set"]["sha256"]
    assert listed["prices.json"]["sha256"] == _sha((published / "prices.json").read_bytes())
    prices = json.loads((published / "prices.json").read_text())
    assert prices["format"] == "bastion-prices/1" and prices["round_id"] == "2026-11"
    assert prices["assets"]["BTC"] == {"price_usd": "96250.5", "decimals": 8}
    assert len(prices["assets"]) == 22
    heights = {w["chain"]: w["snapshot_height"] for w in reserves["wallets"]}
    assert heights["solana"] == DEMO_HEIGHTS["solana"] and heights["xrpl"] == DEMO_HEIGHTS["xrpl"]


def test_a_stranger_downloads_and_verifies(published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP from the real server: every listed file matches its hash, and the wallet set re-verifies."""
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread
    from bastion.settings import Settings

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'bastion.sqlite'}",
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789abcdef0123456789",  # type: ignore[arg-type]
        keys_sweep_interval_seconds=0.0,
        round_dir=published,
    )
    # reserves.json may not smuggle a secret out by naming it: private/ stays private
    (published / "private").mkdir()
    (published / "private" / "secret.json").write_text("{}")
    raw = json.loads((published / "reserves.json").read_text())
    raw["public_files"].append({"file": "private/secret.json", "sha256": "0" * 64, "kind": "wallet set"})
    raw["public_files"].append({"file": "../round.json", "sha256": "0" * 64, "kind": "wallet set"})
    (published / "reserves.json").write_text(json.dumps(raw))
    with ServerThread(create_app(settings)) as base:
        view = httpx.get(f"{base}/por/api/round").json()
        files = {f["name"]: f for f in view["files"]}
        assert {"wallets.csv", "prices.json", "reserves.json", "round.json"} <= set(files)
        assert "private/secret.json" not in files and "../round.json" not in files
        assert httpx.get(f"{base}/por/files/private/secret.json").status_code == 404
        down = tmp_path / "download"
        down.mkdir()
        for name in ("round.json", "wallets.csv", "prices.json"):
            r = httpx.get(f"{base}{files[name]['url']}")
            assert r.status_code == 200
            if files[name]["sha256"] is not None:
                assert _sha(r.content) == files[name]["sha256"]
            (down / name).write_bytes(r.content)
    assert files["wallets.csv"]["sha256"] is not None and files["prices.json"]["sha256"] is not None
    rnd = parse_round(json.loads((down / "round.json").read_text()))
    again = verify_wallet_set(rnd, read_wallet_set(down / "wallets.csv"))
    assert again.ok
    assert again.reserves == {k: Decimal(v["reserves"]) for k, v in raw["assets"].items()}
    # docs/reserves.md step 4, as written: the CLI in the download folder, its result in a new folder
    monkeypatch.chdir(down)
    cli = runner.invoke(
        app, ["por", "reserves", "verify", "wallets.csv", "--round", ".", "--out", "mine/reserves.json"]
    )
    assert cli.exit_code == 0, cli.output
    mine = json.loads((down / "mine" / "reserves.json").read_text())
    assert mine["assets"] == raw["assets"] and mine["status"] == "verified"
