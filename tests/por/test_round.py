"""The liabilities round end to end: prove, verify, user proofs, resume, refusals, and the CLI.

One round with the real (secure) STARK parameters and 22 assets, one with 200 assets on test parameters;
the attack suite lives in test_solvency_attacks.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from por_support import ProvenRound
from typer.testing import CliRunner

from bastion.cli import app
from bastion.por import commit
from bastion.por.round import RoundConfig, RoundError, load_tree, make_user_proof, prove_round
from bastion.por.round_format import read_round
from bastion.por.round_verify import verify_round
from bastion.por.user_proof import verify_user_proof
from bastion.sim.liabilities import read_truth, simulate_liabilities
from bastion.stark.uni.params import DEFAULT_PARAMS, INSECURE_TEST_PARAMS


@pytest.fixture(scope="module")
def round22(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("round22")
    snap, out = base / "snap", base / "round"
    simulate_liabilities(snap, users=3000, assets=22, seed=3)
    prove_round(snap, out, RoundConfig(round_id="2026-10", exchange="Test Exchange", params=DEFAULT_PARAMS))
    return snap, out


def uids_of(snap: Path) -> list[str]:
    lines = (snap / "balances.csv").read_text().splitlines()[1:]
    return sorted({line.split(",")[0] for line in lines})


def test_a_round_of_thousands_of_users_with_22_assets_verifies_with_exact_totals(round22: tuple[Path, Path]) -> None:
    snap, out = round22
    verdict = verify_round(out)
    assert verdict.ok, verdict.reason
    truth = read_truth(snap)
    doc = read_round(out)
    assert [a["asset"] for a in doc["assets"]] == truth.assets
    assert [int(a["total_equity_units"]) for a in doc["assets"]] == truth.equity
    assert [int(a["total_debt_units"]) for a in doc["assets"]] == truth.debt
    # the exact user and row counts are not published: only the padded leaf count
    assert "users" not in doc and "rows" not in doc
    assert doc["leaves"]["count"] == sum(b["rows"] for b in doc["batches"]) >= truth.rows
    assert len({b["rows"] for b in doc["batches"]}) == 1  # every batch padded to one size
    assert doc["circuit"]["stark_params"]["num_queries"] == DEFAULT_PARAMS.num_queries
    # the reserves side's contract (docs/reserves.md)
    assert len(doc["nonce"]) == 32 and {"bitcoin", "ethereum", "tron", "arbitrum"} <= set(doc["block_heights"])
    # nothing private is published next to the public files
    public = {p.name for p in out.iterdir()}
    assert public == {"round.json", "leaves.bin", "batches", "aggregate.proof", "private"}


def test_every_sampled_user_finds_all_their_rows_with_their_values(round22: tuple[Path, Path]) -> None:
    snap, out = round22
    doc = read_round(out)
    levels = load_tree(out, doc["leaves"]["count"])
    balances: dict[str, dict[str, tuple[str, str]]] = {}
    for line in (snap / "balances.csv").read_text().splitlines()[1:]:
        uid, asset, equity, debt = line.split(",")
        balances.setdefault(uid, {})[asset] = (equity, debt)
    for uid in uids_of(snap)[::150]:
        proof = make_user_proof(out, uid, levels=levels)
        verdict = verify_user_proof(json.loads(json.dumps(proof)), doc)
        assert verdict.ok, verdict.reason
        shown = {r.asset: (r.equity, r.debt) for r in verdict.rows}
        expect = {a: (_norm(e), _norm(d)) for a, (e, d) in balances[uid].items()}
        assert shown == expect


def _norm(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def test_user_proof_of_another_round_or_root_is_refused(round22: tuple[Path, Path]) -> None:
    snap, out = round22
    doc = read_round(out)
    proof = make_user_proof(out, uids_of(snap)[0])
    other = json.loads(json.dumps(doc))
    other["leaves"]["root"] = "00" * 32
    assert verify_user_proof(proof, other).reason == "the proof's leaf root is not the round's published root"
    other = json.loads(json.dumps(doc))
    other["round_id"] = "2026-09"
    assert "is for round" in (verify_user_proof(proof, other).reason or "")


def test_users_are_shuffled_and_ids_are_private(round22: tuple[Path, Path]) -> None:
    snap, out = round22
    doc = read_round(out)
    starts = [make_user_proof(out, u)["rows"][0]["leaf_index"] for u in uids_of(snap)[:40]]
    # uids in sorted order land at unrelated positions
    assert starts != sorted(starts)
    # the published leaves carry no uid: a leaf recomputed without the user's salt does not appear
    records = (out / "leaves.bin").read_bytes()[16:]
    p = make_user_proof(out, uids_of(snap)[0])
    row = p["rows"][0]
    wrong_id = commit.user_id(doc["round_id"], p["uid"], b"\x00" * 32)
    guess = commit.words_to_bytes(commit.leaf_words(
        wrong_id, commit.pack(row["asset_index"], row["idx"], row["count"]), int(row["equity_units"]),
        int(row["debt_units"]), int(row["salt"])))
    assert guess not in records and bytes.fromhex(row["leaf"]) in records


def test_two_hundred_assets(tmp_path: Path) -> None:
    snap, out = tmp_path / "snap", tmp_path / "round"
    truth = simulate_liabilities(snap, users=2500, assets=200, seed=11)
    summary = prove_round(snap, out, RoundConfig(params=INSECURE_TEST_PARAMS))
    assert summary.users == 2500
    verdict = verify_round(out, allow_insecure_params=True)
    assert verdict.ok, verdict.reason
    doc = read_round(out)
    assert len(doc["assets"]) == 200
    assert [int(a["total_equity_units"]) for a in doc["assets"]] == truth.equity
    # test parameters are refused unless asked for
    assert not verify_round(out).ok


class _KillAfter:
    """Progress that 'kills' the run after the first finished batch."""

    def start(self, task: str, total: int) -> None:
        pass

    def advance(self, task: str, n: int = 1) -> None:
        if task == "batches":
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def two_batches(two_batch_snapshot: Path) -> Path:
    return two_batch_snapshot  # tests/por/conftest.py: 33,000 users, more rows than one 2^17 batch


def test_a_killed_run_resumes_from_its_checkpoints(two_batches: Path, tmp_path: Path) -> None:
    out = tmp_path / "round"
    config = RoundConfig(params=INSECURE_TEST_PARAMS, max_log_rows=17)
    with pytest.raises(KeyboardInterrupt):
        prove_round(two_batches, out, config, _KillAfter())
    done = sorted(p.name for p in (out / "private").glob("batch-*.json"))
    assert done == ["batch-00000.json"] and not (out / "round.json").exists()
    first_proof = (out / "batches" / "batch-00000.proof").read_bytes()
    # resumed in a worker process this time: the pool path proves what is missing
    config.workers = 2
    summary = prove_round(two_batches, out, config)
    assert summary.batches == 2 and summary.resumed_batches == 1
    assert (out / "batches" / "batch-00000.proof").read_bytes() == first_proof  # not proven twice
    assert verify_round(out, allow_insecure_params=True).ok
    # run again after publication (say it was killed while writing round.json): the aggregation proof comes
    # from its checkpoint, not proven twice, and the round still verifies
    aggregate = (out / "aggregate.proof").read_bytes()
    assert prove_round(two_batches, out, config).resumed_batches == 2
    assert (out / "aggregate.proof").read_bytes() == aggregate
    assert verify_round(out, allow_insecure_params=True).ok
    # an older version's checkpoint of the aggregation (same commitments, other keys, another circuit digest)
    # is proven again rather than published as it stands (it raised KeyError)
    checkpoint = out / "private" / "aggregate.json"
    old = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({"commitments": old["commitments"], "proof": "aggregate.proof",
                                      "circuit": {"name": old["circuit"]["name"], "digest": "00" * 32}}))
    assert prove_round(two_batches, out, config).resumed_batches == 2
    assert set(json.loads(checkpoint.read_text())) >= {"file", "circuit", "sha256", "security", "commitments"}
    assert (out / "aggregate.proof").read_bytes() != aggregate  # proven again (a zero-knowledge proof differs)
    assert verify_round(out, allow_insecure_params=True).ok


def test_batches_proven_on_a_ray_cluster(two_batch_round_proven: ProvenRound) -> None:
    """The shared two-batch round (tests/por/conftest.py) is proven on a local Ray cluster whenever ray is
    installed; test_round_privacy.py reads the same round."""
    pytest.importorskip("ray", reason="ray is a dev dependency: pip install -e '.[dev]'")
    assert two_batch_round_proven.on_ray
    assert two_batch_round_proven.summary.batches == 2
    verdict = verify_round(two_batch_round_proven.out, allow_insecure_params=True)
    assert verdict.ok, verdict.reason


def test_insolvent_users_are_named_and_never_proven(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    truth = simulate_liabilities(snap, users=300, seed=4, insolvent=2)
    with pytest.raises(RoundError) as info:
        prove_round(snap, tmp_path / "round", RoundConfig(params=INSECURE_TEST_PARAMS))
    for uid in truth.insolvent_uids:
        assert uid in str(info.value)
    assert not (tmp_path / "round").exists()


def test_refuses_to_mix_rounds(round22: tuple[Path, Path], tmp_path: Path) -> None:
    _snap, out = round22
    other = tmp_path / "other"
    simulate_liabilities(other, users=50, seed=9)
    with pytest.raises(RoundError, match="another snapshot"):
        prove_round(other, out, RoundConfig(params=DEFAULT_PARAMS))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(RoundError, match="not empty"):
        prove_round(other, tmp_path / "busy", RoundConfig(params=INSECURE_TEST_PARAMS))
    with pytest.raises(RoundError, match="not in round"):
        make_user_proof(out, "no-such-user")


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_prove_verify_user_proof_verify_user(tmp_path: Path) -> None:
    runner = CliRunner()
    snap, out = tmp_path / "snap", tmp_path / "round"
    simulate_liabilities(snap, users=400, seed=5)
    res = runner.invoke(app, ["por", "prove", str(snap), "--out", str(out), "--insecure-test-params",
                              "--round-id", "2026-08", "--height", "bitcoin=870000"])
    assert res.exit_code == 0, res.output
    assert "400 users" in res.output
    assert read_round(out)["block_heights"]["bitcoin"] == 870000
    res = runner.invoke(app, ["por", "verify", str(out)])
    assert res.exit_code == 1 and "below 100" in res.output  # test parameters: refused by default
    res = runner.invoke(app, ["por", "verify", str(out), "--allow-insecure-params", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["ok"] is True
    uid = uids_of(snap)[7]
    res = runner.invoke(app, ["por", "user-proof", str(out), "--uid", uid, "--out", str(tmp_path / "me.json")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["por", "verify-user", str(tmp_path / "me.json"), "--round", str(out)])
    assert res.exit_code == 0 and "VERIFIED" in res.output, res.output
    doc = json.loads((tmp_path / "me.json").read_text())
    doc["rows"][0]["equity_units"] = str(int(doc["rows"][0]["equity_units"]) + 1)
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    res = runner.invoke(app, ["por", "verify-user", str(tmp_path / "bad.json")])
    assert res.exit_code == 1 and "NOT VERIFIED" in res.output and "equity" in res.output


def test_verify_user_runs_without_numpy_or_numba(round22: tuple[Path, Path], tmp_path: Path) -> None:
    snap, out = round22
    path = tmp_path / "u.json"
    path.write_text(json.dumps(make_user_proof(out, uids_of(snap)[1])))
    code = (
        "import sys\n"
        "from bastion.cli import app\n"
        f"try:\n    app(['por', 'verify-user', {str(path)!r}, '--round', {str(out)!r}])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "heavy = [m for m in ('numpy', 'numba', 'sqlalchemy', 'pyarrow') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "VERIFIED" in res.stdout
    assert "HEAVY []" in res.stdout, res.stdout


def test_leaves_from_the_bulk_kernel_equal_the_reference(round22: tuple[Path, Path]) -> None:
    snap, out = round22
    records = (out / "leaves.bin").read_bytes()[16:]
    words = np.frombuffer(records, dtype="<u8").reshape(-1, 4)
    proof = make_user_proof(out, uids_of(snap)[2])
    for row in proof["rows"]:
        assert commit.words_to_bytes([int(w) for w in words[row["leaf_index"]]]) == bytes.fromhex(row["leaf"])
