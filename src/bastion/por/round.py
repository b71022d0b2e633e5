"""A proof-of-reserves round: snapshot in, round directory out (``docs/spec/round-format.md``).

Stages, each checkpointed in ``ROUND_DIR/private`` so a killed run resumes where it stopped:

1. **plan**: fresh secrets, users' ids (SHA-256 of uid and a per-user salt), shuffle (by id), batches of
   whole users padded to one size (padding rows interleaved with the users in a secret order, ``batch_order``),
   row salts, all leaves (``leaves.bin``);
2. **prove**: each batch's STARK (the hidden-totals circuit, ``batch_commit``) in a process pool (or on a Ray
   cluster); a batch is done when its proof, its totals commitment and (privately) its limb totals are on disk,
   written atomically;
3. **publish**: the aggregation proof (the committed batch totals add up to the published per-asset totals,
   ``aggregate_air``; checkpointed too), the SHA-256 tree over the leaves and ``round.json``.

Secrets. ``private/secret.bin`` (32 random bytes per round, never published: ``private/`` is the one folder
of a round directory that is never served nor listed in round.json) keys every per-round random value: users'
salts, row salts, padding (and its places in each batch), and each batch's 4-word totals salt
(``batch_totals_salt``). The totals salts and the batches' limb totals are never written to a public file;
the limb totals sit in the private batch checkpoints, the salts are derived again when needed.

Users' inclusion proofs are made later, on request, from the private data (``make_user_proof``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import blake3
import numpy as np
from numpy.typing import NDArray

from bastion import __version__
from bastion.por import commit
from bastion.por.aggregate_air import MAX_BATCHES, AggregateAir, aggregate_trace
from bastion.por.aggregate_air import NAME as AGGREGATE_NAME
from bastion.por.batch import BatchError, BatchRows, leaves
from bastion.por.batch_commit import NAME as SOLVENCY_NAME
from bastion.por.batch_commit import hidden_batch_security, prove_hidden_batch
from bastion.por.progress import Progress, SilentProgress
from bastion.por.round_format import (
    AGGREGATE_FILE,
    BATCH_DIR,
    LEAVES_FILE,
    PRIVATE_DIR,
    ROUND_FILE,
    ROUND_FORMAT,
    batch_file,
    commitment_hex,
    digest_words,
    known_aggregate_digest,
    known_circuit_digest,
    params_to_json,
    read_leaves,
    read_round,
    recombine,
    round_digest,
    statement_words,
    units_to_decimal,
    write_bytes_atomic,
    write_json_atomic,
    write_leaves,
)
from bastion.por.snapshot import Snapshot, load_snapshot
from bastion.por.solvency_air import MIN_ROWS, AssetRow, asset_row
from bastion.por.totals_hash import SALT_WORDS
from bastion.por.user_proof import FORMAT as USER_PROOF_FORMAT
from bastion.por.user_proof import format_units
from bastion.stark.field import goldilocks as F
from bastion.stark.uni.params import DEFAULT_PARAMS, StarkParams
from bastion.stark.uni.prover import prove
from bastion.stark.uni.security import MIN_SECURITY_BITS, SecurityReport, report_for

U64 = NDArray[np.uint64]
PLAN_FILE = "plan.json"
MIN_LOG_ROWS = 17  # a batch's trace: the 2^16 range table must fit in the used rows
DEFAULT_MAX_LOG_ROWS = 18
DEFAULT_CHAINS = ("bitcoin", "ethereum", "tron", "arbitrum")


class RoundError(Exception):
    """The round cannot be proven (or resumed) as asked; the message says why."""


@dataclass
class RoundConfig:
    exchange: str = "Demo Exchange"
    round_id: str | None = None  # default: the snapshot month, e.g. 2026-11
    snapshot_time: str | None = None  # ISO 8601 UTC; default: now
    block_heights: dict[str, int] = field(default_factory=dict)
    max_log_rows: int = DEFAULT_MAX_LOG_ROWS
    workers: int = 1
    ray_address: str | None = None
    params: StarkParams = DEFAULT_PARAMS
    security: str = "conjectured"  # the regime the round claims >= 100 bits in: "conjectured" or "proven"


@dataclass
class RoundSummary:
    round_dir: Path
    round_id: str
    users: int
    rows: int
    batches: int
    leaves: int
    leaf_root: str
    resumed_batches: int


# --------------------------------------------------------------------------------------------------
# secrets and the plan


def user_salt(secret: bytes, uid: str) -> bytes:
    return hmac.new(secret, b"bastion-user-salt/1\x00" + uid.encode(), hashlib.sha256).digest()


def _field_stream(secret: bytes, context: bytes, count: int) -> U64:
    """``count`` random field elements of 63 bits from the round secret (BLAKE3 keyed XOF, per context)."""
    xof = blake3.blake3(context, key=secret).digest(length=8 * count)
    return np.frombuffer(xof, dtype="<u8").astype(np.uint64) & np.uint64((1 << 63) - 1)


def batch_totals_salt(secret: bytes, index: int) -> list[int]:
    """Batch ``index``'s secret salt for its totals commitment: 4 field elements, each 128 bits of a BLAKE3
    keyed XOF (keyed by the round secret, per batch) reduced mod p, so uniform up to 2^-64 and unrelated to
    anything public. A fresh secret per round and the index in the context make every salt of every round
    distinct (equal totals under one salt would commit alike)."""
    context = b"bastion-batch-totals-salt/1\x00" + index.to_bytes(4, "big")
    xof = blake3.blake3(context, key=secret).digest(length=16 * SALT_WORDS)
    return [int.from_bytes(xof[16 * k : 16 * k + 16], "little") % F.P_INT for k in range(SALT_WORDS)]


def _snapshot_digest(snapshot: Snapshot) -> str:
    h = hashlib.sha256()
    for name in ("assets.csv", snapshot.balances_file):
        with open(snapshot.directory / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _batch_layout(counts: NDArray[np.int64], max_log_rows: int, zk_rows: int) -> tuple[int, list[tuple[int, int]]]:
    """Rows per batch (all batches the same) and each batch's user range [lo, hi) in shuffled order."""
    total = int(counts.sum())
    biggest = int(counts.max()) if len(counts) else 1
    log = MIN_LOG_ROWS
    while log < max_log_rows and (1 << log) - zk_rows < total:
        log += 1
    capacity = (1 << log) - zk_rows
    if capacity < MIN_ROWS or biggest > capacity:
        raise RoundError(f"a user with {biggest} rows does not fit a batch of {capacity} rows")
    cum = np.cumsum(counts)
    n_batches = max(1, -(-total // capacity))
    while True:
        target = -(-total // n_batches)
        cuts = np.searchsorted(cum, [target * (b + 1) for b in range(n_batches - 1)], side="left") + 1
        bounds = [0, *[int(c) for c in cuts], len(counts)]
        ranges = [(bounds[i], bounds[i + 1]) for i in range(n_batches)]
        sizes = [int(counts[lo:hi].sum()) for lo, hi in ranges]
        if max(sizes) <= capacity:
            return capacity, ranges
        n_batches += 1


def batch_order(
    secret: bytes, index: int, counts: NDArray[np.int64], pad: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Batch ``index``'s layout: its users (``counts`` rows each, in order) and ``pad`` one-row padding users in
    one uniformly random order, keyed by the round secret (a BLAKE3 keyed XOF per batch: nothing public derives
    it). Returns the first row of every user and the row of every padding row, relative to the batch.

    Why: with the padding as the batch's tail, users' proofs (their leaf indices) would together give the
    batch's exact real-row count; spread uniformly among the users, a leaf index says nothing beyond the padded
    size (docs/por.md, "What a round reveals")."""
    units = len(counts) + pad
    context = b"bastion-batch-layout/1\x00" + index.to_bytes(4, "big")
    keys = _field_stream(secret, context, units)
    slots = np.argsort(keys, kind="stable")  # slot -> unit: uniform (a tie of 63-bit keys: < 2^-27 per batch)
    sizes = np.concatenate([counts, np.ones(pad, dtype=np.int64)])[slots]
    at = np.empty(units, dtype=np.int64)
    at[slots] = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return at[: len(counts)], at[len(counts) :]


def _plan(snapshot: Snapshot, out: Path, config: RoundConfig, progress: Progress) -> dict[str, Any]:
    priv = out / PRIVATE_DIR
    priv.mkdir(parents=True, exist_ok=True)
    (out / BATCH_DIR).mkdir(exist_ok=True)
    secret = secrets.token_bytes(32)
    nonce = secrets.token_hex(16)
    now = datetime.now(UTC).replace(microsecond=0)
    round_id = config.round_id or now.strftime("%Y-%m")
    snapshot_time = config.snapshot_time or now.isoformat().replace("+00:00", "Z")

    n_users = snapshot.n_users
    progress.start("ids", n_users)
    uids = [str(u) for u in snapshot.uids.to_pylist()]
    ids = np.empty((n_users, 4), dtype=np.uint64)
    for u, uid in enumerate(uids):
        ids[u] = commit.user_id(round_id, uid, user_salt(secret, uid))
        if u % 65536 == 65535:
            progress.advance("ids", 65536)
    progress.advance("ids", n_users % 65536)

    # shuffle: users ordered by their random id, so a row's position says nothing about the user
    order = np.lexsort((ids[:, 1], ids[:, 0]))
    counts = snapshot.row_count[order].astype(np.int64)
    capacity, ranges = _batch_layout(counts, config.max_log_rows, config.params.zk_rows)

    row_salts = _field_stream(secret, b"row-salts", snapshot.n_rows)
    pad_total = capacity * len(ranges) - snapshot.n_rows
    pad_ids = _field_stream(secret, b"padding-ids", 4 * pad_total).reshape(-1, 4)
    pad_salts = _field_stream(secret, b"padding-salts", pad_total)

    n_all = capacity * len(ranges)
    arr = {
        "ids": np.zeros((n_all, 4), dtype=np.uint64),
        "asset": np.zeros(n_all, dtype=np.uint64),
        "equity": np.zeros(n_all, dtype=np.uint64),
        "debt": np.zeros(n_all, dtype=np.uint64),
        "salt": np.zeros(n_all, dtype=np.uint64),
        "user_start": np.ones(n_all, dtype=bool),
    }
    user_leaf_start = np.zeros(n_users, dtype=np.int64)
    batches = []
    pad_at = 0
    for b, (lo, hi) in enumerate(ranges):
        base = b * capacity
        users = order[lo:hi]
        starts = snapshot.row_start[users].astype(np.int64)
        cnts = snapshot.row_count[users].astype(np.int64)
        real = int(cnts.sum())
        pad = capacity - real
        offsets = np.concatenate([[0], np.cumsum(cnts)[:-1]]).astype(np.int64)  # packed: users back to back
        src = np.repeat(starts - offsets, cnts) + np.arange(real)  # snapshot row of each packed row
        # where each user and each padding row (a one-row zero "user") sits in the batch
        user_at, pad_rows = batch_order(secret, b, cnts, pad)
        dst = base + np.repeat(user_at - offsets, cnts) + np.arange(real)
        arr["ids"][dst] = np.repeat(ids[users], cnts, axis=0)
        arr["asset"][dst] = snapshot.asset[src].astype(np.uint64)
        arr["equity"][dst] = snapshot.equity[src]
        arr["debt"][dst] = snapshot.debt[src]
        arr["salt"][dst] = row_salts[src]
        first = np.zeros(real, dtype=bool)
        first[offsets] = True
        arr["user_start"][dst] = first
        user_leaf_start[users] = base + user_at
        arr["ids"][base + pad_rows] = pad_ids[pad_at : pad_at + pad]
        arr["salt"][base + pad_rows] = pad_salts[pad_at : pad_at + pad]
        pad_at += pad
        batches.append({"index": b, "leaf_start": base, "rows": capacity, "real_rows": real, "users": hi - lo})

    progress.start("leaves", n_all)
    leaf_words = np.empty((n_all, 4), dtype=np.uint64)
    for b in range(len(ranges)):
        s = slice(b * capacity, (b + 1) * capacity)
        leaf_words[s] = leaves(_rows_of(arr, s))
        progress.advance("leaves", capacity)

    for name, a in arr.items():
        np.save(priv / f"rows-{name}.npy", a)
    np.save(priv / "users-uid.npy", np.array(uids, dtype=str))
    np.save(priv / "users-leaf-start.npy", user_leaf_start)
    np.save(priv / "users-count.npy", snapshot.row_count.astype(np.int64))
    write_bytes_atomic(priv / "secret.bin", secret)
    leaves_sha = write_leaves(out / LEAVES_FILE, leaf_words)
    plan = {
        "snapshot_sha256": _snapshot_digest(snapshot),
        "round_id": round_id,
        "snapshot_time": snapshot_time,
        "nonce": nonce,
        "exchange": config.exchange,
        "block_heights": config.block_heights,
        "stark_params": params_to_json(config.params),
        "security": config.security,
        "capacity": capacity,
        "batches": batches,
        "leaves_sha256": leaves_sha,
        "users": n_users,
        "rows": snapshot.n_rows,
    }
    write_json_atomic(priv / PLAN_FILE, plan)  # written last: its presence means the plan is complete
    return plan


def _rows_of(arr: dict[str, Any], s: slice) -> BatchRows:
    return BatchRows(
        ids=np.ascontiguousarray(arr["ids"][s]),
        asset=np.ascontiguousarray(arr["asset"][s]),
        equity=np.ascontiguousarray(arr["equity"][s]),
        debt=np.ascontiguousarray(arr["debt"][s]),
        salt=np.ascontiguousarray(arr["salt"][s]),
        user_start=np.ascontiguousarray(arr["user_start"][s]),
    )


def _load_rows(round_dir: Path, mmap: bool = True) -> dict[str, Any]:
    priv = round_dir / PRIVATE_DIR
    names = ("ids", "asset", "equity", "debt", "salt", "user_start")
    return {n: np.load(priv / f"rows-{n}.npy", mmap_mode="r" if mmap else None) for n in names}


def table_of(snapshot: Snapshot) -> list[AssetRow]:
    return [asset_row(a.decimals, a.price_usd, a.haircut, a.amount_bits) for a in snapshot.assets]


# --------------------------------------------------------------------------------------------------
# proving batches (runs in worker processes: everything it needs comes from disk)


def _batch_done_file(round_dir: Path, index: int) -> Path:
    return round_dir / PRIVATE_DIR / f"batch-{index:05d}.json"


def _batch_is_done(round_dir: Path, index: int) -> bool:
    """A checkpoint of this version (with its totals commitment); one of an older version is proven again."""
    path = _batch_done_file(round_dir, index)
    return path.exists() and "totals_commitment" in json.loads(path.read_text())


def prove_one_batch(round_dir_text: str, index: int, table_json: str) -> dict[str, Any]:
    """Prove batch ``index`` of the planned round and checkpoint it; returns its public record."""
    round_dir = Path(round_dir_text)
    plan = json.loads((round_dir / PRIVATE_DIR / PLAN_FILE).read_text())
    params = StarkParams(**plan["stark_params"])
    table = [AssetRow(tuple(r[0]), tuple(r[1]), r[2], r[3]) for r in json.loads(table_json)]  # type: ignore[arg-type]
    info = plan["batches"][index]
    lo = info["leaf_start"]
    rows = _rows_of(_load_rows(round_dir), slice(lo, lo + info["rows"]))
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
    write_json_atomic(_batch_done_file(round_dir, index), record)
    return record


def _table_json(table: list[AssetRow]) -> str:
    return json.dumps([[list(r.equity_weights), list(r.debt_weights), r.scale, r.amount_bits] for r in table])


def _worker_init(threads: int) -> None:
    os.environ["NUMBA_NUM_THREADS"] = str(threads)


def _run_batches(round_dir: Path, todo: list[int], table: list[AssetRow], config: RoundConfig,
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


# --------------------------------------------------------------------------------------------------
# the whole round


def prove_round(snapshot_dir: Path, round_dir: Path, config: RoundConfig | None = None,
                progress: Progress | None = None) -> RoundSummary:
    config = config or RoundConfig()
    prog = progress or SilentProgress()
    round_dir = Path(round_dir)
    snapshot = load_snapshot(Path(snapshot_dir))
    if snapshot.n_rows == 0:
        raise RoundError(f"{snapshot.balances_file}: no rows under the header: a round needs at least one balance")
    if snapshot.insolvent_users:
        lines = "\n".join(
            f"  {u.uid}: collateral {u.collateral_usd} USD < debt {u.debt_usd} USD"
            for u in snapshot.insolvent_users[:20]
        )
        raise RoundError(
            f"{len(snapshot.insolvent_users)} user(s) owe more than their collateral is worth; a solvency proof "
            f"cannot include them and will not leave them out silently:\n{lines}"
        )
    table = table_of(snapshot)
    plan_path = round_dir / PRIVATE_DIR / PLAN_FILE
    resumed = 0
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
        if plan["snapshot_sha256"] != _snapshot_digest(snapshot):
            raise RoundError(f"{round_dir} holds a round of another snapshot: use a new --out directory")
        if plan["stark_params"] != params_to_json(config.params):
            raise RoundError(f"{round_dir} was started with other STARK parameters: use a new --out directory")
    else:
        if (round_dir / ROUND_FILE).exists() or (round_dir.exists() and any(round_dir.iterdir())):
            raise RoundError(f"{round_dir} is not empty and holds no plan to resume: use a new --out directory")
        created = not round_dir.exists()
        round_dir.mkdir(parents=True, exist_ok=True)
        try:
            plan = _plan(snapshot, round_dir, config, prog)
        except BaseException:
            if created:  # a half-made directory without a plan would refuse the rerun
                shutil.rmtree(round_dir, ignore_errors=True)
            raise

    _check_security(table, plan, config)
    n_batches = len(plan["batches"])
    todo = [i for i in range(n_batches) if not _batch_is_done(round_dir, i)]
    resumed = n_batches - len(todo)
    prog.start("batches", n_batches)
    if resumed:
        prog.advance("batches", resumed)
    try:
        _run_batches(round_dir, todo, table, config, prog)
    except BatchError as exc:
        raise RoundError(f"a batch cannot be proven: {exc}") from exc
    return _publish(round_dir, snapshot, plan, table, prog, resumed)


SECURITY_PROFILES = ("conjectured", "proven")


def _check_security(table: list[AssetRow], plan: dict[str, Any], config: RoundConfig) -> None:
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


def _publish(round_dir: Path, snapshot: Snapshot, plan: dict[str, Any], table: list[AssetRow], prog: Progress,
             resumed: int) -> RoundSummary:
    records = [json.loads(_batch_done_file(round_dir, i).read_text()) for i in range(len(plan["batches"]))]
    records_by_index = sorted(records, key=lambda r: r["index"])
    # the batches' limb totals must add up to the snapshot's exact totals: a last self-check
    n_assets = len(snapshot.assets)
    eq = [sum(recombine([int(v) for v in r["equity_limbs"][a]]) for r in records_by_index) for a in range(n_assets)]
    dt = [sum(recombine([int(v) for v in r["debt_limbs"][a]]) for r in records_by_index) for a in range(n_assets)]
    for a, tot in enumerate(snapshot.totals):
        if (eq[a], dt[a]) != (tot.equity, tot.debt):
            raise RoundError(f"internal error: batch totals of {snapshot.assets[a].symbol} differ from the snapshot")

    prog.start("aggregate", 1)
    agg = _prove_aggregate(round_dir, plan, records_by_index, eq, dt)
    prog.advance("aggregate")

    records_leaves, leaves_sha = read_leaves(round_dir / LEAVES_FILE)
    n_leaves = len(records_leaves) // commit.LEAF_BYTES
    depth = commit.tree_depth(n_leaves)
    prog.start("tree", n_leaves + (1 << depth) - 1)
    levels = commit.build_tree(records_leaves, progress=lambda k: prog.advance("tree", k))
    root = levels[-1].hex()
    write_bytes_atomic(round_dir / PRIVATE_DIR / "tree.bin", b"".join(levels))

    assets_doc = []
    for a, asset in enumerate(snapshot.assets):
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
    write_json_atomic(round_dir / ROUND_FILE, doc)
    return RoundSummary(round_dir, plan["round_id"], plan["users"], plan["rows"], len(records), n_leaves, root, resumed)


# --------------------------------------------------------------------------------------------------
# users' inclusion proofs


class UserProofs:
    """Makes users' inclusion proofs (``bastion-user-proof/1``) from a round's private data, loaded once."""

    def __init__(self, round_dir: Path, *, levels: list[bytes] | None = None) -> None:
        self.round_dir = Path(round_dir)
        self.doc = read_round(self.round_dir)
        priv = self.round_dir / PRIVATE_DIR
        if not (priv / "secret.bin").exists():
            raise RoundError(f"{priv}: the round's private data is missing (user proofs are made where it was proven)")
        self.secret = (priv / "secret.bin").read_bytes()
        self.uids = np.load(priv / "users-uid.npy", mmap_mode="r")
        self.starts = np.load(priv / "users-leaf-start.npy", mmap_mode="r")
        self.counts = np.load(priv / "users-count.npy", mmap_mode="r")
        self.rows = _load_rows(self.round_dir)
        self.n_leaves = int(self.doc["leaves"]["count"])
        self.leaves = np.memmap(self.round_dir / LEAVES_FILE, dtype=np.uint8, mode="r", offset=16)
        self.levels = levels if levels is not None else load_tree(self.round_dir, self.n_leaves)

    def make(self, uid: str) -> dict[str, Any]:
        doc = self.doc
        pos = int(np.searchsorted(self.uids, uid))
        if pos >= len(self.uids) or str(self.uids[pos]) != uid:
            raise RoundError(f"uid {uid!r} is not in round {doc['round_id']}")
        start, count = int(self.starts[pos]), int(self.counts[pos])
        assets = doc["assets"]
        out_rows = []
        for i in range(count):
            r = start + i
            a = assets[int(self.rows["asset"][r])]
            eq, dt = int(self.rows["equity"][r]), int(self.rows["debt"][r])
            out_rows.append({
                "idx": i,
                "count": count,
                "asset": a["asset"],
                "asset_index": int(a["index"]),
                "decimals": int(a["decimals"]),
                "equity": format_units(eq, int(a["decimals"])),
                "debt": format_units(dt, int(a["decimals"])),
                "equity_units": str(eq),
                "debt_units": str(dt),
                "salt": str(int(self.rows["salt"][r])),
                "leaf_index": r,
                "leaf": bytes(self.leaves[32 * r : 32 * r + 32]).hex(),
                "path": [h.hex() for h in commit.tree_path(self.levels, r)],
            })
        return {
            "format": USER_PROOF_FORMAT,
            "round": {
                "exchange": doc["exchange"],
                "round_id": doc["round_id"],
                "snapshot_time": doc["snapshot_time"],
                "leaf_root": doc["leaves"]["root"],
                "leaf_count": self.n_leaves,
                "circuit_digest": doc["circuit"]["digest"],
            },
            "uid": uid,
            "user_salt": user_salt(self.secret, uid).hex(),
            "rows": out_rows,
        }


def make_user_proof(round_dir: Path, uid: str, *, levels: list[bytes] | None = None) -> dict[str, Any]:
    """The inclusion proof of ``uid``, from the round's private data (one-off; ``UserProofs`` for many)."""
    return UserProofs(round_dir, levels=levels).make(uid)


def load_tree(round_dir: Path, n_leaves: int) -> list[bytes]:
    """The SHA-256 tree's levels, from the private cache (or rebuilt from leaves.bin if it is missing)."""
    path = round_dir / PRIVATE_DIR / "tree.bin"
    size = 1 << commit.tree_depth(n_leaves)
    if path.exists():
        data = path.read_bytes()
        levels = []
        at = 0
        while size >= 1:
            levels.append(data[at : at + 32 * size])
            at += 32 * size
            size //= 2
        if at == len(data):
            return levels
    records, _ = read_leaves(round_dir / LEAVES_FILE)
    return commit.build_tree(records)
