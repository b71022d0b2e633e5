"""A round's last stage: the aggregation proof (the committed batch totals add up to the published per-asset
totals; checkpointed too), the SHA-256 tree over the leaves, and round.json (written through
``bastion.por.format.round``). Also the refusal, before any proving, of parameters the verifier would refuse.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bastion import __version__
from bastion.por.format import leaves as leaf_format
from bastion.por.format.amounts import units_to_decimal
from bastion.por.format.leaves import LEAVES_FILE, TREE_FILE
from bastion.por.format.round import (
    AGGREGATE_FILE,
    PRIVATE_DIR,
    ROUND_FORMAT,
    commitment_hex,
    digest_words,
    round_digest,
    write_bytes_atomic,
    write_json_atomic,
    write_round,
)
from bastion.por.liabilities.circuit.aggregate import MAX_BATCHES, AggregateAir, aggregate_trace
from bastion.por.liabilities.circuit.aggregate import NAME as AGGREGATE_NAME
from bastion.por.liabilities.circuit.columns import AssetRow
from bastion.por.liabilities.circuit.hidden import NAME as SOLVENCY_NAME
from bastion.por.liabilities.circuit.hidden import hidden_batch_security
from bastion.por.liabilities.circuit.published import known_aggregate_digest, known_circuit_digest, recombine
from bastion.por.liabilities.prover.batches import batch_done_file
from bastion.por.liabilities.prover.plan import RoundConfig, RoundError, RoundSummary, batch_totals_salt
from bastion.por.liabilities.snapshot import Asset, AssetTotal
from bastion.por.progress import Progress
from bastion.stark.uni.params import StarkParams
from bastion.stark.uni.prover import prove
from bastion.stark.uni.security import MIN_SECURITY_BITS, SecurityReport, report_for

DEFAULT_CHAINS = ("bitcoin", "ethereum", "tron", "arbitrum")
SECURITY_PROFILES = ("conjectured", "proven")


def check_security(table: list[AssetRow], plan: dict[str, Any], config: RoundConfig) -> None:
    """Refuse to spend hours proving a round whose proofs the verifier would refuse (< 100 bits)."""
    if config.security not in SECURITY_PROFILES:
        raise RoundError(f"--security must be one of {', '.join(SECURITY_PROFILES)}")
    n_batches, n_assets = len(plan["batches"]), len(table)
    if n_batches > MAX_BATCHES:
        raise RoundError(f"{n_batches} batches: the aggregation proof takes at most {MAX_BATCHES} (raise "
                         "--max-log-rows)")
    for what, report in (
        (f"batches of {plan['capacity']} rows", hidden_batch_security(table, plan["capacity"], config.params)),
        (f"the aggregation of {n_batches} batches", _aggregate_security(n_batches, n_assets, config.params)),
    ):
        bits = report.conjectured_bits if config.security == "conjectured" else report.proven_bits
        if bits < MIN_SECURITY_BITS and not config.params.allow_insecure:
            raise RoundError(
                f"the STARK parameters give {bits:.1f} bits of {config.security} soundness for {what}, below "
                f"{MIN_SECURITY_BITS}"
            )


def _aggregate_security(n_batches: int, n_assets: int, params: StarkParams) -> SecurityReport:
    """The aggregation proof's soundness count: its shape is fixed by the numbers of batches and assets."""
    return report_for(AggregateAir([[0] * 4] * n_batches, [0] * n_assets, [0] * n_assets, []), params)


AGGREGATE_RECORD_KEYS = ("file", "circuit", "sha256", "security", "commitments")


def _aggregate_checkpoint_ok(round_dir: Path, done: Path, commitments: list[str]) -> bool:
    """Whether ``private/aggregate.json`` is this version's checkpoint of this round's aggregation: every key
    the publication reads, this verifier's aggregation circuit, the batches' current commitments and the proof
    file it hashed. Anything else (an older version's checkpoint, a half-written file) is proven again."""
    try:
        record = json.loads(done.read_text())
    except (OSError, ValueError):
        return False
    path = round_dir / AGGREGATE_FILE
    return (isinstance(record, dict) and all(k in record for k in AGGREGATE_RECORD_KEYS)
            and record["circuit"] == {"name": AGGREGATE_NAME, "digest": known_aggregate_digest()}
            and record["commitments"] == commitments and path.exists()
            and hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"])


def _prove_aggregate(round_dir: Path, plan: dict[str, Any], records: list[dict[str, Any]], equity: list[int],
                     debt: list[int]) -> dict[str, Any]:
    """Prove (or take from its checkpoint) that the batches' committed totals add up to ``equity`` / ``debt``
    per asset, for this round's digest; returns its public record."""
    done = round_dir / PRIVATE_DIR / "aggregate.json"
    commitments = [r["totals_commitment"] for r in records]
    if _aggregate_checkpoint_ok(round_dir, done, commitments):
        return dict(json.loads(done.read_text()))
    params = StarkParams(**plan["stark_params"])
    secret = (round_dir / PRIVATE_DIR / "secret.bin").read_bytes()
    salts = [batch_totals_salt(secret, r["index"]) for r in records]
    eq = np.array([[[int(v) for v in row] for row in r["equity_limbs"]] for r in records], dtype=object)
    dt = np.array([[[int(v) for v in row] for row in r["debt_limbs"]] for r in records], dtype=object)
    main, commits = aggregate_trace(salts, eq, dt)
    if [commitment_hex(c) for c in commits] != commitments:
        raise RoundError("internal error: the aggregation's commitments differ from the batch proofs'")
    air = AggregateAir(commits, equity, debt, digest_words(round_digest(plan)))
    started = time.perf_counter()
    proof = prove(air, main, params)
    took = time.perf_counter() - started
    write_bytes_atomic(round_dir / AGGREGATE_FILE, proof)
    record = {
        "file": AGGREGATE_FILE,
        "circuit": {"name": AGGREGATE_NAME, "digest": known_aggregate_digest()},
        "sha256": hashlib.sha256(proof).hexdigest(),
        "security": report_for(air, params).to_json(),
        "commitments": commitments,  # the checkpoint's key: a re-proven batch invalidates it
        "prove_seconds": round(took, 3),  # private, for bench/por.py
    }
    write_json_atomic(done, record)
    return record


def publish(round_dir: Path, assets: list[Asset], totals: list[AssetTotal], plan: dict[str, Any],
            table: list[AssetRow], prog: Progress, resumed: int) -> RoundSummary:
    """The aggregation proof, the tree and round.json, from the checkpoints and the snapshot's asset list and
    exact totals (nothing per user: the caller has let the snapshot's rows go)."""
    records = [json.loads(batch_done_file(round_dir, i).read_text()) for i in range(len(plan["batches"]))]
    records_by_index = sorted(records, key=lambda r: r["index"])
    # the batches' limb totals must add up to the snapshot's exact totals: a last self-check
    n_assets = len(assets)
    eq = [sum(recombine([int(v) for v in r["equity_limbs"][a]]) for r in records_by_index) for a in range(n_assets)]
    dt = [sum(recombine([int(v) for v in r["debt_limbs"][a]]) for r in records_by_index) for a in range(n_assets)]
    for a, tot in enumerate(totals):
        if (eq[a], dt[a]) != (tot.equity, tot.debt):
            raise RoundError(f"internal error: batch totals of {assets[a].symbol} differ from the snapshot")

    prog.start("aggregate", 1)
    agg = _prove_aggregate(round_dir, plan, records_by_index, eq, dt)
    prog.advance("aggregate")

    # the tree, streamed from leaves.bin to its private cache (tree.bin, for users' proofs): memory of one chunk
    planned = int(plan["batches"][-1]["leaf_start"]) + int(plan["batches"][-1]["rows"])
    prog.start("tree", planned + (1 << leaf_format.tree_depth(planned)) - 1)
    root, leaves_sha, n_leaves = leaf_format.stream_tree(
        round_dir / LEAVES_FILE, out=round_dir / PRIVATE_DIR / TREE_FILE, progress=lambda k: prog.advance("tree", k)
    )

    assets_doc = []
    for a, asset in enumerate(assets):
        row = table[a]
        assets_doc.append({
            "index": a,
            "asset": asset.symbol,
            "decimals": asset.decimals,
            "price_usd": str(asset.price_usd),
            "haircut": str(asset.haircut),
            "amount_bits": row.amount_bits,
            "total_equity": units_to_decimal(eq[a], asset.decimals),
            "total_debt": units_to_decimal(dt[a], asset.decimals),
            "net_liabilities": units_to_decimal(eq[a] - dt[a], asset.decimals),
            "total_equity_units": str(eq[a]),
            "total_debt_units": str(dt[a]),
        })
    heights = dict(plan["block_heights"])
    for chain in DEFAULT_CHAINS:
        heights.setdefault(chain, 0)
    doc = {
        "format": ROUND_FORMAT,
        "exchange": plan["exchange"],
        "round_id": plan["round_id"],
        "snapshot_time": plan["snapshot_time"],
        "nonce": plan["nonce"],
        "round_digest": round_digest(plan).hex(),
        "block_heights": heights,
        "prover_version": f"bastion {__version__}",
        "circuit": {"name": SOLVENCY_NAME, "digest": known_circuit_digest(),
                    "stark_params": plan["stark_params"], "security_profile": plan.get("security", "conjectured")},
        "assets": assets_doc,
        # No user or row count: a round reveals only the padded leaf count (batches x rows per batch), so the
        # number of users is known only to within a batch (docs/por.md, "What a round reveals").
        "leaves": {"file": LEAVES_FILE, "count": n_leaves, "sha256": leaves_sha, "root": root},
        "batches": [
            {
                "index": r["index"],
                "file": r["file"],
                "leaf_start": r["leaf_start"],
                "rows": r["rows"],
                "sha256": r["sha256"],
                "security": r["security"],
                # a hiding commitment (salted Poseidon2) to the batch's per-asset totals, never the totals
                "totals_commitment": r["totals_commitment"],
            }
            for r in records_by_index
        ],
        "aggregate": {k: agg[k] for k in ("file", "circuit", "sha256", "security")},
    }
    write_round(round_dir, doc)
    return RoundSummary(round_dir, plan["round_id"], plan["users"], plan["rows"], len(records), n_leaves, root, resumed)


