"""The leaves: what a user recomputes (their id, the leaves of their rows, the SHA-256 path to the published
root) and the leaf list file (``leaves.bin``).

Plain Python (hashlib and the Poseidon2 reference), no numba, and numpy only inside the leaf-list file
functions: ``bastion por verify-user`` imports only this and stays fast when run cold. The prover computes
the same leaves in bulk with the numba kernels (``bastion.por.liabilities.circuit.trace.leaves``); tests
check both agree. Formats: ``docs/spec/round-format.md``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from numpy.typing import NDArray

from bastion.stark.hash import poseidon2_scalar as poseidon2_ref

P = poseidon2_ref.P
LEAVES_FILE = "leaves.bin"
TREE_FILE = "tree.bin"  # the prover's private cache of every tree level (in the round's private/)
LEAVES_MAGIC = b"BLEAVES1"
LEAVES_HEADER_BYTES = 16  # the magic and the leaf count (u64)
LEAF_WIDTH = 8  # Poseidon2 width used for leaves (a truncated-permutation compression of 8 words)
LEAF_BYTES = 32
ID_DOMAIN = b"bastion-user-id/1\x00"
USER_SALT_BYTES = 32

# packed = asset + 2^16 idx + 2^40 count: injective while asset < 2^16 and idx < count < 2^23, so the
# packed word stays below 2^63 < p.
ASSET_SHIFT = 16
COUNT_SHIFT = 40
MAX_ASSETS = 1 << ASSET_SHIFT
MAX_ROWS_PER_USER = 1 << 23

EMPTY_LEAF = bytes(LEAF_BYTES)  # pads the leaf list to a power of two


def _len_prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def user_id(round_id: str, uid: str, user_salt: bytes) -> tuple[int, int, int, int]:
    """The user's 4-word id in this round: SHA-256 of the round, the uid and the user's secret salt."""
    if len(user_salt) != USER_SALT_BYTES:
        raise ValueError(f"user_salt must be {USER_SALT_BYTES} bytes, got {len(user_salt)}")
    digest = hashlib.sha256(
        ID_DOMAIN + _len_prefixed(round_id.encode()) + _len_prefixed(uid.encode()) + user_salt
    ).digest()
    w = [int.from_bytes(digest[8 * i : 8 * i + 8], "little") % P for i in range(4)]
    return (w[0], w[1], w[2], w[3])


def pack(asset_index: int, idx: int, count: int) -> int:
    """The row's position word: asset, index within the user and the user's row count in one element."""
    if not 0 <= asset_index < MAX_ASSETS:
        raise ValueError(f"asset index {asset_index} out of range")
    if not 0 < count < MAX_ROWS_PER_USER or not 0 <= idx < count:
        raise ValueError(f"row index {idx} / count {count} out of range")
    return asset_index + (idx << ASSET_SHIFT) + (count << COUNT_SHIFT)


def leaf_words(uid_words: Sequence[int], packed: int, equity: int, debt: int, salt: int) -> list[int]:
    """Poseidon2-w8(id0..id3, packed, equity, debt, salt), first 4 words."""
    if len(uid_words) != 4:
        raise ValueError("the id has 4 words")
    for name, v in (("packed", packed), ("equity", equity), ("debt", debt), ("salt", salt)):
        if not 0 <= v < P:
            raise ValueError(f"{name} {v} is not a field element")
    return poseidon2_ref.permute([*uid_words, packed, equity, debt, salt])[:4]


def words_to_bytes(words: Sequence[int]) -> bytes:
    return b"".join(int(w).to_bytes(8, "little") for w in words)


# -- the SHA-256 tree over the leaf list ------------------------------------------------------------


def leaf_node(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def inner_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_depth(n_leaves: int) -> int:
    if n_leaves < 1:
        raise ValueError("the tree needs at least one leaf")
    return (n_leaves - 1).bit_length()


def verify_path(leaf: bytes, index: int, path: Sequence[bytes], root: bytes, n_leaves: int) -> bool:
    """Walk ``path`` from leaf ``index`` up; True when it arrives at ``root``. Never raises on bad input."""
    if len(leaf) != LEAF_BYTES or not 0 <= index < n_leaves or len(path) != tree_depth(n_leaves):
        return False
    node = leaf_node(leaf)
    i = index
    for sibling in path:
        if len(sibling) != 32:
            return False
        node = inner_node(sibling, node) if i & 1 else inner_node(node, sibling)
        i >>= 1
    return node == root


def build_tree(leaves: bytes, progress: Callable[[int], None] | None = None) -> list[bytes]:
    """Every level of the tree over ``leaves`` (32 bytes each, concatenated), bottom (leaf nodes) to root.

    Level l is the concatenation of its 32-byte nodes; the list is padded with ``EMPTY_LEAF`` to a power of
    two. About 0.7 s per million leaves; ``progress`` gets the number of nodes hashed since the last call.
    """
    if len(leaves) % LEAF_BYTES or not leaves:
        raise ValueError("the leaf list must be a non-empty multiple of 32 bytes")
    n = len(leaves) // LEAF_BYTES
    size = 1 << tree_depth(n)
    sha = hashlib.sha256
    mv = memoryview(leaves)
    chunk = 1 << 16
    parts: list[bytes] = []
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        parts.append(b"".join(sha(b"\x00" + mv[32 * i : 32 * i + 32]).digest() for i in range(lo, hi)))
        if progress:
            progress(hi - lo)
    pad = size - n
    if pad:
        parts.append(leaf_node(EMPTY_LEAF) * pad)
    level = b"".join(parts)
    levels = [level]
    while len(level) > 32:
        m = len(level) // 64
        lv = memoryview(level)
        level = b"".join(sha(b"\x01" + lv[64 * i : 64 * i + 64]).digest() for i in range(m))
        if progress:
            progress(m)
        levels.append(level)
    return levels


def _leaf_nodes(records: bytes | memoryview) -> bytes:
    sha = hashlib.sha256
    mv = memoryview(records)
    return b"".join([sha(b"\x00" + mv[32 * i : 32 * i + 32]).digest() for i in range(len(mv) // 32)])


def _parent_level(level: bytes) -> bytes:
    sha = hashlib.sha256
    lv = memoryview(level)
    return b"".join([sha(b"\x01" + lv[64 * i : 64 * i + 64]).digest() for i in range(len(lv) // 64)])


TREE_CHUNK_LOG = 16  # leaves per subtree hashed at once by ``stream_tree`` (2 MB of leaves, 4 MB of nodes)


def stream_tree(
    leaves_path: Path,
    *,
    out: Path | None = None,
    progress: Callable[[int], None] | None = None,
    inspect: Callable[[int, bytes], None] | None = None,
) -> tuple[str, str, int]:
    """The leaf list file read once, in chunks: (root hex, the file's SHA-256 hex, leaf count).

    The same tree as ``build_tree`` (whose levels it writes to ``out``, concatenated bottom to root, when given,
    atomically), in memory bounded by the chunk whatever the leaf count: subtrees of 2^TREE_CHUNK_LOG leaves are
    hashed one at a time (their nodes written at their places in each level), then the subtrees' roots are
    combined. A subtree wholly in the power-of-two padding is the same every time: hashed once per level.
    ``inspect(first_leaf, records)`` sees every chunk of real leaves, in order (the verifier's checks on the
    words). Raises ``RoundFormatError`` as ``read_leaves`` does.
    """
    with open(leaves_path, "rb") as handle:
        header = handle.read(LEAVES_HEADER_BYTES)
        if len(header) < LEAVES_HEADER_BYTES or header[:8] != LEAVES_MAGIC:
            raise RoundFormatError(f"{leaves_path}: not a leaf list (bad magic)")
        count = int.from_bytes(header[8:16], "little")
        size_bytes = os.fstat(handle.fileno()).st_size
        if size_bytes != LEAVES_HEADER_BYTES + 32 * count:
            raise RoundFormatError(
                f"{leaves_path}: header says {count} leaves but the file holds {(size_bytes - 16) / 32:g}"
            )
        if count == 0:
            raise ValueError("the leaf list must be a non-empty multiple of 32 bytes")
        file_sha = hashlib.sha256(header)
        depth = tree_depth(count)
        size = 1 << depth
        chunk_log = min(depth, TREE_CHUNK_LOG)
        chunk = 1 << chunk_log
        # the padding's subtrees, one per height: every padded slot of level l holds pad[l]
        pad = [leaf_node(EMPTY_LEAF)]
        for _ in range(depth):
            pad.append(inner_node(pad[-1], pad[-1]))
        offsets = [0]
        for level in range(depth):
            offsets.append(offsets[-1] + 32 * (size >> level))
        tmp = None if out is None else out.with_name(out.name + ".tmp")
        fd = None if tmp is None else os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if fd is not None:
                os.ftruncate(fd, offsets[-1] + 32)
            tops: list[bytes] = []
            for k in range(size // chunk):
                first = k * chunk
                real = max(0, min(count, first + chunk) - first)
                if real == 0:
                    nodes = [pad[level] * (chunk >> level) for level in range(chunk_log + 1)]
                else:
                    records = handle.read(32 * real)
                    file_sha.update(records)
                    if inspect is not None:
                        inspect(first, records)
                    bottom = _leaf_nodes(records) + pad[0] * (chunk - real)
                    nodes = [bottom]
                    for _ in range(chunk_log):
                        nodes.append(_parent_level(nodes[-1]))
                if progress:
                    progress(real + chunk - 1)
                if fd is not None:
                    for level, data in enumerate(nodes):
                        os.pwrite(fd, data, offsets[level] + 32 * (first >> level))
                tops.append(nodes[-1])
            level_nodes = b"".join(tops)
            for level in range(chunk_log + 1, depth + 1):
                level_nodes = _parent_level(level_nodes)
                if progress:
                    progress(len(level_nodes) // 32)
                if fd is not None:
                    os.pwrite(fd, level_nodes, offsets[level])
        finally:
            if fd is not None:
                os.close(fd)
    if tmp is not None and out is not None:
        os.replace(tmp, out)
    return level_nodes.hex(), file_sha.hexdigest(), count


class NodeLevel(Protocol):
    """One level of the tree: its 32-byte nodes concatenated (bytes, or a view of the cached tree file)."""

    def __getitem__(self, s: slice, /) -> bytes: ...

    def __len__(self) -> int: ...


def tree_path(levels: Sequence[NodeLevel], index: int) -> list[bytes]:
    """Siblings of leaf ``index`` from the bottom level up to just below the root."""
    out = []
    i = index
    for level in levels[:-1]:
        j = i ^ 1
        out.append(level[32 * j : 32 * j + 32])
        i >>= 1
    return out


# ------------------------------------------------------------------------------------------------ leaves.bin
class RoundFormatError(ValueError):
    """A round file (round.json, the leaf list) is missing, malformed or of an unknown version; the message
    names the file and field. Defined here, the lowest module of the format, so the leaf list can raise it."""


class LeafListWriter:
    """Writes the leaf list chunk by chunk (the same file as ``write_leaves``, atomically on ``close``), so the
    prover never holds every leaf at once; hashes what it writes."""

    def __init__(self, path: Path, count: int) -> None:
        self.path, self.count, self.written = path, count, 0
        self.tmp = path.with_name(path.name + ".tmp")
        self.handle = self.tmp.open("wb")
        header = LEAVES_MAGIC + count.to_bytes(8, "little")
        self.sha = hashlib.sha256(header)
        self.handle.write(header)

    def write(self, leaf_words: NDArray[Any]) -> None:
        import numpy as np

        data = np.ascontiguousarray(leaf_words, dtype="<u8").tobytes()
        self.handle.write(data)
        self.sha.update(data)
        self.written += len(data) // LEAF_BYTES

    def close(self) -> str:
        """Put the file in place; returns its SHA-256 (hex)."""
        self.handle.close()
        if self.written != self.count:
            raise ValueError(f"the leaf list holds {self.written} leaves, its header says {self.count}")
        os.replace(self.tmp, self.path)
        return self.sha.hexdigest()


def write_leaves(path: Path, leaf_words: NDArray[Any]) -> str:
    """Write the leaf list (atomically); returns its SHA-256 (hex)."""
    import numpy as np

    words = np.ascontiguousarray(leaf_words, dtype="<u8")
    data = LEAVES_MAGIC + len(words).to_bytes(8, "little") + words.tobytes()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def read_leaves(path: Path) -> tuple[bytes, str]:
    """(the leaves' 32-byte records concatenated, SHA-256 of the whole file)."""
    data = path.read_bytes()
    if len(data) < LEAVES_HEADER_BYTES or data[:8] != LEAVES_MAGIC:
        raise RoundFormatError(f"{path}: not a leaf list (bad magic)")
    count = int.from_bytes(data[8:16], "little")
    if len(data) != LEAVES_HEADER_BYTES + 32 * count:
        raise RoundFormatError(f"{path}: header says {count} leaves but the file holds {(len(data) - 16) / 32:g}")
    return data[LEAVES_HEADER_BYTES:], hashlib.sha256(data).hexdigest()


def leaf_words_of(records: bytes) -> NDArray[Any]:
    """(n, 4) words (uint64) of leaf records."""
    import numpy as np

    return np.frombuffer(records, dtype="<u8").reshape(-1, 4).astype(np.uint64)
