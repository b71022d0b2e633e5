"""A round's second stage: every batch's STARK (the hidden-totals circuit), one process per batch in a pool, or
on a Ray cluster. A worker needs nothing but the round directory: ``prove_one_batch`` reads the plan and the
rows from ``private/`` and checkpoints its record there (atomically) when its proof is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from bastion.por.format.round import (
    PRIVATE_DIR,
    batch_file,
    commitment_hex,
    round_digest,
    statement_words,
    write_bytes_atomic,
    write_json_atomic,
)
from bastion.por.liabilities.circuit.columns import AssetRow
from bastion.por.liabilities.circuit.hidden import hidden_batch_security, prove_hidden_batch
from bastion.por.liabilities.prover.plan import (
    PLAN_FILE,
    RoundConfig,
    RoundError,
    batch_totals_salt,
    load_rows,
    rows_of,
)
from bastion.por.progress import Progress
from bastion.stark.uni.params import StarkParams

# --------------------------------------------------------------------------------------------------
# proving batches (runs in worker processes: everything it needs comes from disk)


def batch_done_file(round_dir: Path, index: int) -> Path:
    return round_dir / PRIVATE_DIR / f"batch-{index:05d}.json"


def batch_is_done(round_dir: Path, index: int) -> bool:
    """A checkpoint of this version (with its totals commitment); one of an older version is proven again."""
    path = batch_done_file(round_dir, index)
    return path.exists() and "totals_commitment" in json.loads(path.read_text())


def prove_one_batch(round_dir_text: str, index: int, table_json: str) -> dict[str, Any]:
    """Prove batch ``index`` of the planned round and checkpoint it; returns its public record."""
    round_dir = Path(round_dir_text)
    plan = json.loads((round_dir / PRIVATE_DIR / PLAN_FILE).read_text())
    params = StarkParams(**plan["stark_params"])
    table = [AssetRow(tuple(r[0]), tuple(r[1]), r[2], r[3]) for r in json.loads(table_json)]  # type: ignore[arg-type]
    info = plan["batches"][index]
    lo = info["leaf_start"]
    rows = rows_of(load_rows(round_dir), slice(lo, lo + info["rows"]))
    statement = statement_words(round_digest(plan), index, lo)
    salt = batch_totals_salt((round_dir / PRIVATE_DIR / "secret.bin").read_bytes(), index)
    proof, _, eq_tot, debt_tot, commitment = prove_hidden_batch(rows, table, statement, salt, params)
    path = round_dir / batch_file(index)
    write_bytes_atomic(path, proof)
    record = {
        "index": index,
        "file": batch_file(index),
        "leaf_start": lo,
        "rows": info["rows"],
        "sha256": hashlib.sha256(proof).hexdigest(),
        "proof_bytes": len(proof),
        "security": hidden_batch_security(table, info["rows"], params).to_json(),
        "totals_commitment": commitment_hex(commitment),
        # private (this checkpoint, never published): the aggregation proof's witness
        "equity_limbs": [[str(v) for v in row] for row in eq_tot],
        "debt_limbs": [[str(v) for v in row] for row in debt_tot],
    }
    write_json_atomic(batch_done_file(round_dir, index), record)
    return record


def _table_json(table: list[AssetRow]) -> str:
    return json.dumps([[list(r.equity_weights), list(r.debt_weights), r.scale, r.amount_bits] for r in table])


def run_batches(round_dir: Path, todo: list[int], table: list[AssetRow], config: RoundConfig,
                 progress: Progress) -> list[dict[str, Any]]:
    table_json = _table_json(table)
    out: list[dict[str, Any]] = []
    if not todo:
        return out
    if config.ray_address:
        return _run_batches_ray(round_dir, todo, table_json, config.ray_address, progress)
    if config.workers <= 1:
        for i in todo:
            out.append(prove_one_batch(str(round_dir), i, table_json))
            progress.advance("batches")
        return out
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // config.workers)
    env_before = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = str(threads)  # spawned workers read it before numba starts
    try:
        with ProcessPoolExecutor(config.workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(prove_one_batch, str(round_dir), i, table_json) for i in todo]
            for fut in as_completed(futures):
                out.append(fut.result())
                progress.advance("batches")
    finally:
        if env_before is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = env_before
    return out


def _run_batches_ray(round_dir: Path, todo: list[int], table_json: str, address: str,
                     progress: Progress) -> list[dict[str, Any]]:
    try:
        import ray  # type: ignore[import-not-found]
    except ImportError:
        raise RoundError("--ray-address needs Ray: pip install 'bastion[ray]' (or pip install ray)") from None
    # "local" starts a throw-away single-machine cluster (tests, trying it out); anything else is an existing
    # cluster's address. The round directory must be on storage every Ray worker sees (a shared volume).
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        remote = ray.remote(prove_one_batch)
        pending = {remote.remote(str(round_dir), i, table_json): i for i in todo}
        out = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                out.append(ray.get(ref))
                pending.pop(ref)
                progress.advance("batches")
        return out
    finally:
        ray.shutdown()


