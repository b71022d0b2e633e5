"""A round's plan, its first stage: fresh secrets, users' ids, the shuffle, batches of whole users padded to one
size, row salts and the leaf list, all checkpointed in ``ROUND_DIR/private`` (``plan.json`` written last).

The per-round secret keys every random value (``user_salt``, ``batch_order``, ``batch_totals_salt``); the
stages after this one read what they need from the private files (``load_rows``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import blake3
import numpy as np
from numpy.typing import NDArray

from bastion.por.format import leaves as leaf_format
from bastion.por.format.leaves import LEAVES_FILE, LeafListWriter
from bastion.por.format.round import (
    BATCH_DIR,
    PRIVATE_DIR,
    params_to_json,
    write_bytes_atomic,
    write_json_atomic,
)
from bastion.por.liabilities.circuit.columns import MIN_ROWS, AssetRow, asset_row
from bastion.por.liabilities.circuit.totals_hash import SALT_WORDS
from bastion.por.liabilities.circuit.trace import BatchRows, leaves
from bastion.por.liabilities.snapshot import Snapshot
from bastion.por.progress import Progress
from bastion.stark.field import goldilocks as F
from bastion.stark.uni.params import DEFAULT_PARAMS, StarkParams

U64 = NDArray[np.uint64]
PLAN_FILE = "plan.json"
MIN_LOG_ROWS = 17  # a batch's trace: the 2^16 range table must fit in the used rows
DEFAULT_MAX_LOG_ROWS = 18


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


def snapshot_digest(snapshot: Snapshot) -> str:
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


ROW_COLUMNS: dict[str, Any] = {  # the private row files (``rows-NAME.npy``): dtype and width
    "ids": (np.uint64, 4),
    "asset": (np.uint64, 1),
    "equity": (np.uint64, 1),
    "debt": (np.uint64, 1),
    "salt": (np.uint64, 1),
    "user_start": (np.bool_, 1),
}
_ID_CHUNK = 1 << 16  # users per chunk of ids and of the uid file


def user_ids(secret: bytes, round_id: str, uids: Any, progress: Progress) -> U64:
    """(n_users, 4) every user's id (``leaf_format.user_id`` with ``user_salt``), for the uids of a pyarrow string
    array, 2^16 users at a time (the uids are never all Python strings at once)."""
    n = len(uids)
    ids = np.empty((n, 4), dtype=np.uint64)
    # user_salt's HMAC-SHA256 with its key and prefix absorbed once (RFC 2104: a 32-byte key is zero-padded to the
    # block): per user two state copies, not a keyed HMAC set up again (2.3x faster; tests check it is user_salt)
    key = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
    key = key.ljust(64, b"\x00")
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + b"bastion-user-salt/1\x00")
    outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))
    sha = hashlib.sha256
    round_bytes = round_id.encode()
    id_prefix = leaf_format.ID_DOMAIN + len(round_bytes).to_bytes(4, "big") + round_bytes  # as user_id lays it out
    for lo in range(0, n, _ID_CHUNK):
        chunk = uids.slice(lo, _ID_CHUNK).to_pylist()
        digests = []
        for uid in chunk:
            raw = str(uid).encode()
            h = inner.copy()
            h.update(raw)
            salt = outer.copy()
            salt.update(h.digest())
            digests.append(sha(id_prefix + len(raw).to_bytes(4, "big") + raw + salt.digest()).digest())
        words = np.frombuffer(b"".join(digests), dtype="<u8").reshape(-1, 4)
        ids[lo : lo + len(chunk)] = words % np.uint64(leaf_format.P)
        progress.advance("ids", len(chunk))
    return ids


class _NpyColumn:
    """A ``.npy`` file written front to back in slices (the same file ``np.save`` writes for the whole array)."""

    def __init__(self, path: Path, dtype: Any, shape: tuple[int, ...]) -> None:
        header = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        offset = header.offset
        del header
        self.handle = path.open("r+b")
        self.handle.seek(offset)

    def write(self, values: NDArray[Any]) -> None:
        self.handle.write(np.ascontiguousarray(values).tobytes())

    def close(self) -> None:
        self.handle.close()


def _write_uids(path: Path, uids: Any) -> None:
    """``users-uid.npy``: the sorted uids as a fixed-width unicode array, written 2^16 at a time (the file
    ``np.save(path, np.array(list_of_uids, dtype=str))`` would write)."""
    import pyarrow.compute as pc

    width = max(1, int(pc.max(pc.utf8_length(uids)).as_py() or 0))
    column = _NpyColumn(path, np.dtype(f"<U{width}"), (len(uids),))
    try:
        for lo in range(0, len(uids), _ID_CHUNK):
            column.write(np.array([str(u) for u in uids.slice(lo, _ID_CHUNK).to_pylist()], dtype=f"<U{width}"))
    finally:
        column.close()


def make_plan(snapshot: Snapshot, out: Path, config: RoundConfig, progress: Progress) -> dict[str, Any]:
    """The plan, streamed batch by batch: each batch's rows are laid out in memory of its own size, hashed into
    its leaves and appended to the row files and ``leaves.bin``; what stays in memory for the whole round is a few
    words per user and per row (ids, the shuffle, row salts), never the rows or leaves of the whole round."""
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
    ids = user_ids(secret, round_id, snapshot.uids, progress)

    # shuffle: users ordered by their random id, so a row's position says nothing about the user
    order = np.lexsort((ids[:, 1], ids[:, 0]))
    capacity, ranges = _batch_layout(snapshot.row_count[order].astype(np.int64), config.max_log_rows,
                                     config.params.zk_rows)

    row_salts = _field_stream(secret, b"row-salts", snapshot.n_rows)
    pad_total = capacity * len(ranges) - snapshot.n_rows
    pad_ids = _field_stream(secret, b"padding-ids", 4 * pad_total).reshape(-1, 4)
    pad_salts = _field_stream(secret, b"padding-salts", pad_total)

    n_all = capacity * len(ranges)
    files = {
        name: _NpyColumn(priv / f"rows-{name}.npy", dtype, (n_all, 4) if width == 4 else (n_all,))
        for name, (dtype, width) in ROW_COLUMNS.items()
    }
    leaf_list = LeafListWriter(out / LEAVES_FILE, n_all)
    user_leaf_start = np.zeros(n_users, dtype=np.int64)
    batches = []
    pad_at = 0
    progress.start("leaves", n_all)
    try:
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
            dst = np.repeat(user_at - offsets, cnts) + np.arange(real)
            first = np.zeros(real, dtype=bool)
            first[offsets] = True
            batch = {
                "ids": np.zeros((capacity, 4), dtype=np.uint64),
                "asset": np.zeros(capacity, dtype=np.uint64),
                "equity": np.zeros(capacity, dtype=np.uint64),
                "debt": np.zeros(capacity, dtype=np.uint64),
                "salt": np.zeros(capacity, dtype=np.uint64),
                "user_start": np.ones(capacity, dtype=bool),
            }
            batch["ids"][dst] = np.repeat(ids[users], cnts, axis=0)
            batch["asset"][dst] = snapshot.asset[src].astype(np.uint64)
            batch["equity"][dst] = snapshot.equity[src]
            batch["debt"][dst] = snapshot.debt[src]
            batch["salt"][dst] = row_salts[src]
            batch["user_start"][dst] = first
            user_leaf_start[users] = base + user_at
            batch["ids"][pad_rows] = pad_ids[pad_at : pad_at + pad]
            batch["salt"][pad_rows] = pad_salts[pad_at : pad_at + pad]
            pad_at += pad
            batches.append({"index": b, "leaf_start": base, "rows": capacity, "real_rows": real, "users": hi - lo})
            for name, column in files.items():
                column.write(batch[name])
            leaf_list.write(leaves(rows_of(batch, slice(0, capacity))))
            progress.advance("leaves", capacity)
    finally:
        for column in files.values():
            column.close()
    del ids, order, row_salts, pad_ids, pad_salts

    _write_uids(priv / "users-uid.npy", snapshot.uids)
    np.save(priv / "users-leaf-start.npy", user_leaf_start)
    np.save(priv / "users-count.npy", snapshot.row_count.astype(np.int64))
    write_bytes_atomic(priv / "secret.bin", secret)
    leaves_sha = leaf_list.close()
    plan = {
        "snapshot_sha256": snapshot_digest(snapshot),
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


def rows_of(arr: dict[str, Any], s: slice) -> BatchRows:
    return BatchRows(
        ids=np.ascontiguousarray(arr["ids"][s]),
        asset=np.ascontiguousarray(arr["asset"][s]),
        equity=np.ascontiguousarray(arr["equity"][s]),
        debt=np.ascontiguousarray(arr["debt"][s]),
        salt=np.ascontiguousarray(arr["salt"][s]),
        user_start=np.ascontiguousarray(arr["user_start"][s]),
    )


def load_rows(round_dir: Path, mmap: bool = True) -> dict[str, Any]:
    priv = round_dir / PRIVATE_DIR
    names = ("ids", "asset", "equity", "debt", "salt", "user_start")
    return {n: np.load(priv / f"rows-{n}.npy", mmap_mode="r" if mmap else None) for n in names}


def table_of(snapshot: Snapshot) -> list[AssetRow]:
    return [asset_row(a.decimals, a.price_usd, a.haircut, a.amount_bits) for a in snapshot.assets]


