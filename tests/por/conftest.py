"""Rounds proven once per test session and shared by the files that only read them (proving is what makes the
proof-of-reserves tests slow). A test that changes a round works on a copy."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from por_support import ProvenRound

from bastion.por.round import RoundConfig, prove_round
from bastion.sim.liabilities import simulate_liabilities
from bastion.stark.uni.params import INSECURE_TEST_PARAMS


@pytest.fixture(scope="session")
def small_insecure_round(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """60 users, 3 assets, one padded batch, test parameters: (snapshot dir, round dir). Read only."""
    base = tmp_path_factory.mktemp("small-round")
    simulate_liabilities(base / "snap", users=60, assets=3, seed=11)
    out = base / "round"
    prove_round(base / "snap", out, RoundConfig(round_id="2026-12", params=INSECURE_TEST_PARAMS))
    return base / "snap", out


@pytest.fixture(scope="session")
def two_batch_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """33,000 users, 5 assets: more rows than one 2^17 batch holds. Read only."""
    snap = tmp_path_factory.mktemp("two-batches") / "snap"
    simulate_liabilities(snap, users=33000, assets=5, seed=4)
    return snap


@pytest.fixture(scope="session")
def two_batch_round_proven(two_batch_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> ProvenRound:
    """`two_batch_snapshot` proven once with test parameters and batches of at most 2^17 rows: on a local Ray
    cluster when ray is installed (test_round.py holds that path to it), in this process otherwise. Read only."""
    on_ray = importlib.util.find_spec("ray") is not None
    out = tmp_path_factory.mktemp("two-batch-round") / "round"
    config = RoundConfig(round_id="2026-12", params=INSECURE_TEST_PARAMS, max_log_rows=17,
                         ray_address="local" if on_ray else None)  # fmt: skip
    return ProvenRound(two_batch_snapshot, out, prove_round(two_batch_snapshot, out, config), on_ray)
