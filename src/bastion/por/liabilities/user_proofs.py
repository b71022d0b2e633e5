"""Users' inclusion proofs (``bastion-user-proof/1``), made on request from a round's private data: the user's
rows, their salts and their Merkle paths to the published root (the tree cached in ``private/tree.bin``).
Checking one is ``bastion.por.verify.user``, which this module never imports.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np

from bastion.por.format import leaves as leaf_format
from bastion.por.format.amounts import format_units
from bastion.por.format.leaves import LEAVES_FILE, TREE_FILE, read_leaves
from bastion.por.format.round import (
    PRIVATE_DIR,
    USER_PROOF_FORMAT,
    read_round,
)
from bastion.por.liabilities.prover.plan import RoundError, load_rows, user_salt

# --------------------------------------------------------------------------------------------------
# users' inclusion proofs


class UserProofs:
    """Makes users' inclusion proofs (``bastion-user-proof/1``) from a round's private data, loaded once."""

    def __init__(self, round_dir: Path, *, levels: list[leaf_format.NodeLevel] | None = None) -> None:
        self.round_dir = Path(round_dir)
        self.doc = read_round(self.round_dir)
        priv = self.round_dir / PRIVATE_DIR
        if not (priv / "secret.bin").exists():
            raise RoundError(f"{priv}: the round's private data is missing (user proofs are made where it was proven)")
        self.secret = (priv / "secret.bin").read_bytes()
        self.uids = np.load(priv / "users-uid.npy", mmap_mode="r")
        self.starts = np.load(priv / "users-leaf-start.npy", mmap_mode="r")
        self.counts = np.load(priv / "users-count.npy", mmap_mode="r")
        self.rows = load_rows(self.round_dir)
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
                "path": [h.hex() for h in leaf_format.tree_path(self.levels, r)],
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


def make_user_proof(round_dir: Path, uid: str, *, levels: list[leaf_format.NodeLevel] | None = None) -> dict[str, Any]:
    """The inclusion proof of ``uid``, from the round's private data (one-off; ``UserProofs`` for many)."""
    return UserProofs(round_dir, levels=levels).make(uid)


class _MappedLevel:
    """One level of the cached tree, read from the memory-mapped ``tree.bin`` on demand (a user's proof reads
    one node per level: the file, 4 GB for 10^7 users, is never read whole)."""

    def __init__(self, data: mmap.mmap, start: int, size: int) -> None:
        self.data, self.start, self.size = data, start, size

    def __getitem__(self, s: slice, /) -> bytes:
        lo, hi, _ = s.indices(self.size)
        return self.data[self.start + lo : self.start + max(lo, hi)]

    def __len__(self) -> int:
        return self.size


def load_tree(round_dir: Path, n_leaves: int) -> list[leaf_format.NodeLevel]:
    """The SHA-256 tree's levels, from the private cache (memory-mapped), or rebuilt from leaves.bin if it is
    missing."""
    path = round_dir / PRIVATE_DIR / TREE_FILE
    size = 1 << leaf_format.tree_depth(n_leaves)
    if path.exists() and path.stat().st_size == 32 * (2 * size - 1):
        with path.open("rb") as handle:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # stays valid once the file is closed
        levels: list[leaf_format.NodeLevel] = []
        at = 0
        while size >= 1:
            levels.append(_MappedLevel(data, at, 32 * size))
            at += 32 * size
            size //= 2
        return levels
    records, _ = read_leaves(round_dir / LEAVES_FILE)
    return list(leaf_format.build_tree(records))
