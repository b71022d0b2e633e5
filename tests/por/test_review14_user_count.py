"""Review of issue 14 (rev14): what users' inclusion proofs reveal about the number of holdings in a batch.

docs/por.md ("What a round reveals"): "the number of holdings is revealed only as a number of batches ... and
the number of users not at all beyond that bound". The planner (``round._plan``) puts each batch's real rows
first and its padding rows last, so a user's proof (``leaf_index`` and ``count`` of their rows) proves that
their batch holds at least ``leaf_index - leaf_start + count`` real rows, and the proofs of the users of a batch
together give its exact number of real rows (the largest end). If padding rows were shuffled among the real
ones, a user's position would say nothing about that number.

The claim under test: the largest row end among all users' proofs of a batch is not its exact real-row count
(padding is not simply the batch's tail). On main this fails: it is exactly that count.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.por.round import RoundConfig, UserProofs, prove_round
from bastion.por.round_format import ROUND_FILE
from bastion.sim.liabilities import simulate_liabilities
from bastion.stark.params import INSECURE_TEST_PARAMS


@pytest.fixture(scope="module")
def small_round(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("usercount")
    simulate_liabilities(base / "snap", users=60, assets=3, seed=11)
    out = base / "round"
    prove_round(base / "snap", out, RoundConfig(round_id="2026-12", params=INSECURE_TEST_PARAMS))
    return base / "snap", out


def test_users_proofs_do_not_pin_the_number_of_real_rows(small_round: tuple[Path, Path]) -> None:
    snap, out = small_round
    doc = json.loads((out / ROUND_FILE).read_text())
    assert "users" not in doc and "rows" not in doc  # the round itself states no count
    lines = (snap / "balances.csv").read_text().splitlines()[1:]
    uids = sorted({line.split(",")[0] for line in lines})
    real_rows = len(lines)
    assert len(doc["batches"]) == 1 and doc["batches"][0]["rows"] > real_rows  # one padded batch
    proofs = UserProofs(out)
    ends = [max(r["leaf_index"] for r in proofs.make(uid)["rows"]) + 1 for uid in uids]
    # what the users can compute together (and each one, a lower bound): the batch's real-row count
    assert max(ends) != real_rows, (
        f"the users' proofs end at leaf {max(ends)}: exactly the {real_rows} real rows of a batch of "
        f"{doc['batches'][0]['rows']} (padding is the batch's tail)")
