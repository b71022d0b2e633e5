"""The liabilities simulator: deterministic, realistic in shape, within every cap, ground truth that holds."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.por.liabilities.snapshot import amount_bits, exact_sums, load_snapshot
from bastion.sim.liabilities import REAL_ASSETS, asset_universe, decimal_strings, read_truth, simulate_liabilities


def test_same_seed_same_bytes_other_seed_other_snapshot(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        simulate_liabilities(tmp_path / name, users=2000, assets=22, seed=seed, insolvent=2)
    read = lambda d: ((tmp_path / d / "balances.csv").read_bytes(), (tmp_path / d / "assets.csv").read_bytes())  # noqa: E731
    assert read("a") == read("b")
    assert read("a")[0] != read("c")[0]
    assert read("a")[1] == read("c")[1]  # the asset universe does not depend on the seed


def test_shape_is_realistic_and_the_ground_truth_holds(tmp_path: Path) -> None:
    users = 20_000
    truth = simulate_liabilities(tmp_path, users=users, assets=22, seed=1)
    s = load_snapshot(tmp_path)
    assert s.n_users == users and s.n_rows == truth.rows
    assert 3.5 <= truth.rows / users <= 4.5  # about 4 holdings a user
    assert [t.equity for t in s.totals] == truth.equity and [t.debt for t in s.totals] == truth.debt
    assert s.insolvent_users == [] and truth.insolvent_uids == []

    debtors = np.unique(s.user_id[s.debt > 0])
    assert 0.035 <= len(debtors) / users <= 0.065 and len(debtors) == truth.margin_users

    price = np.array([float(a.price_usd) for a in s.assets])
    scale = np.array([10.0**a.decimals for a in s.assets])
    usd = np.bincount(s.user_id, weights=s.equity.astype(np.float64) / scale[s.asset] * price[s.asset])
    top = np.sort(usd)[::-1]
    assert top[: users // 100].sum() > 0.4 * top.sum()  # heavy tail: the top 1% hold a large share
    assert np.median(usd) < 0.5 * usd.mean()  # most users are small next to the mean
    whales = [s.user_id_of(uid) for uid in truth.whale_uids]
    assert len(whales) >= 3 and all(w is not None and usd[w] > 1e6 for w in whales)

    popular = np.bincount(s.asset, minlength=len(s.assets))
    assert popular[0] > popular[10] > 0  # BTC is held more often than the 11th asset
    caps = np.array([a.cap for a in s.assets], dtype=np.uint64)
    assert (s.equity < caps[s.asset]).all() and (s.debt < caps[s.asset]).all()
    assert ((s.equity > 0) | (s.debt > 0)).all()


def test_insolvent_users_are_exactly_the_ones_asked_for(tmp_path: Path) -> None:
    truth = simulate_liabilities(tmp_path, users=5000, assets=30, seed=2, insolvent=7)
    s = load_snapshot(tmp_path)
    assert len(truth.insolvent_uids) == 7
    assert sorted(u.uid for u in s.insolvent_users) == truth.insolvent_uids
    assert all(u.debt_usd > u.collateral_usd for u in s.insolvent_users)
    assert read_truth(tmp_path).insolvent_uids == truth.insolvent_uids


@pytest.mark.parametrize("k", [1, 2, 22, 200, 1024])
def test_asset_universe(k: int) -> None:
    universe = asset_universe(k)
    symbols = [a.symbol for a in universe]
    assert len(set(symbols)) == k
    assert symbols[: min(k, len(REAL_ASSETS))] == [r[0] for r in REAL_ASSETS[:k]]
    for a in universe:
        bits = amount_bits(a.decimals, a.price_usd)
        cap_usd = Decimal(2**bits) / 10**a.decimals * Decimal(a.price_usd)
        assert cap_usd > 10**9, a  # no realistic holding or total hits the cap
        assert Decimal(a.price_usd) > 0


def test_asset_universe_bounds() -> None:
    with pytest.raises(ValueError):
        asset_universe(0)
    with pytest.raises(ValueError):
        asset_universe(1025)


def test_decimal_strings_are_exact() -> None:
    values = np.array([0, 1, 150_000_000, 2**60 - 1, 10, 7], dtype=np.uint64)
    decimals = np.array([8, 8, 8, 18, 1, 0], dtype=np.int64)
    assert decimal_strings(values, decimals).to_pylist() == [
        "0",
        "0.00000001",
        "1.5",
        "1.152921504606846975",
        "1",
        "7",
    ]


def test_exact_sums_never_wrap() -> None:
    values = np.array([2**64 - 1] * 1000 + [2**63, 5], dtype=np.uint64)
    groups = np.array([0] * 1000 + [1, 1], dtype=np.int16)
    assert exact_sums(groups, values, 3) == [1000 * (2**64 - 1), 2**63 + 5, 0]


def test_cli_writes_a_loadable_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    result = CliRunner().invoke(
        app,
        [
            "sim",
            "liabilities",
            "--users",
            "1500",
            "--assets",
            "200",
            "--out",
            str(out),
            "--seed",
            "9",
            "--insolvent",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1500 users" in result.output and "3 insolvent" in result.output
    s = load_snapshot(out)
    assert len(s.assets) == 200 and s.n_users == 1500 and len(s.insolvent_users) == 3
    assert 3.6 <= s.n_rows / s.n_users <= 4.4  # about 4 holdings with 200 assets too
    assert json.loads((out / "sim_truth.json").read_text())["users"] == 1500
    bad = CliRunner().invoke(app, ["sim", "liabilities", "--users", "5", "--out", str(out), "--insolvent", "6"])
    assert bad.exit_code != 0
