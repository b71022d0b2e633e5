"""Review of issue 14 (rev14): a hostile round.json makes ``por verify`` build the aggregation's public columns
for 32 x batches x assets rows before it reads the aggregation proof or the leaf list.

``check_round_doc`` bounds the batch count (2^16) and the asset count (4096) separately, and the aggregation is
verified first (``round_verify._verify_aggregate``), so the STARK verifier's ``check_air`` evaluates
``AggregateAir.public_columns()``: 26 columns of 32·B·A u64 each. An honest round cannot be shaped like that
cheaply (each batch has >= 2^17 - zk_rows rows of leaves in ``leaves.bin`` and >= 32 rows per asset), but the
verifier only looks at ``leaves.bin`` afterwards. So the work is the *product* of two counts of a file whose
size is their *sum*: a round.json of ~1 MB (4096 assets, 1024 batches: 2^27 rows) asks for 26 GiB.

The claim under test (docs/spec/round-format.md, "Bounds: a hostile round.json ends fast"; issue 14, "a verdict
within a time bound proportional to the input size"): the resources ``verify_round`` spends on a round.json
are proportional to its size. Measured here at a safe scale (~0.4 GiB), not at the size that exhausts memory.
"""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
from pathlib import Path

from bastion.por.aggregate_air import NAME as AGGREGATE_NAME
from bastion.por.batch_commit import NAME as SOLVENCY_NAME
from bastion.por.round_format import (
    AGGREGATE_FILE,
    LEAVES_FILE,
    ROUND_FILE,
    known_aggregate_digest,
    known_circuit_digest,
    params_to_json,
)
from bastion.por.round_verify import verify_round
from bastion.stark.params import DEFAULT_PARAMS


def _hostile_round(d: Path, assets: int, batches: int) -> int:
    """A round.json that passes every bound of check_round_doc (default parameters, known digests, consistent
    totals, canonical commitments), with an aggregation file whose SHA-256 it states. Returns its size."""
    d.mkdir(parents=True)
    proof = b"\x00" * 64
    (d / AGGREGATE_FILE).write_bytes(proof)
    doc = {
        "format": "bastion-round/3",
        "exchange": "X",
        "round_id": "2026-12",
        "snapshot_time": "2026-12-01T00:00:00Z",
        "nonce": "0" * 32,
        "block_heights": {},
        "circuit": {"name": SOLVENCY_NAME, "digest": known_circuit_digest(),
                    "stark_params": params_to_json(DEFAULT_PARAMS)},
        "assets": [
            {"index": i, "asset": f"A{i}", "decimals": 8, "price_usd": "1", "haircut": "1", "amount_bits": 48,
             "total_equity": "1.00000000", "total_debt": "0", "net_liabilities": "1.00000000"}
            for i in range(assets)
        ],
        "leaves": {"file": LEAVES_FILE, "count": 1, "sha256": "0" * 64, "root": "0" * 64},
        "batches": [
            {"index": i, "file": f"batches/batch-{i:05d}.proof", "leaf_start": 0, "rows": 1, "sha256": "0" * 64,
             "security": {}, "totals_commitment": "0" * 64}
            for i in range(batches)
        ],
        "aggregate": {"file": AGGREGATE_FILE, "sha256": hashlib.sha256(proof).hexdigest(),
                      "circuit": {"name": AGGREGATE_NAME, "digest": known_aggregate_digest()}, "security": {}},
    }
    text = json.dumps(doc, separators=(",", ":"))
    (d / ROUND_FILE).write_text(text)
    return len(text) + len(proof)


def _cost(d: Path) -> tuple[float, int, str]:
    tracemalloc.start()
    try:
        started = time.perf_counter()
        verdict = verify_round(d)
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not verdict.ok and verdict.reason is not None
    return took, peak, verdict.reason


def test_hostile_batch_and_asset_counts_cost_in_proportion_to_the_file(tmp_path: Path) -> None:
    small_size = _hostile_round(tmp_path / "small", assets=16, batches=16)
    big_size = _hostile_round(tmp_path / "big", assets=512, batches=128)  # 32 x 128 x 512 = 2^21 rows
    verify_round(tmp_path / "small")  # warm the circuit-digest caches and imports
    t_small, m_small, _ = _cost(tmp_path / "small")
    t_big, m_big, reason = _cost(tmp_path / "big")
    ratio = big_size / small_size
    # the verdict is a refusal either way (the proof is 64 zero bytes); what it costs is the point
    assert "aggregat" in reason, reason
    assert m_big <= m_small + 200 * big_size + (16 << 20), (
        f"a {big_size / 1024:.0f} KiB round.json made the verifier allocate {m_big / 2**20:.0f} MiB before "
        f"reading its proof (a {small_size / 1024:.0f} KiB one: {m_small / 2**20:.0f} MiB): 32 x batches x assets "
        f"rows of public columns")
    assert t_big <= 3 * t_small * ratio + 1.0, f"{t_big:.2f} s for {ratio:.0f}x the input (small: {t_small:.2f} s)"
