"""Merkle vector commitments over the rows of a matrix, with salted (hiding) leaves and multi-openings.

The prover commits to a matrix given column-major (``columns`` of shape ``(k, N)``, row ``j`` is
``columns[:, j]``, N a power of two); the root binds every row. Each leaf carries a fresh random salt,
so an unopened leaf hash reveals nothing about its row (the STARK's zero knowledge needs this: the
trace LDE rows next to opened ones must stay hidden). Hashes are BLAKE3 (``bastion.stark.hash.blake3_kernels``):

- leaf ``j`` = BLAKE3(0x00 || salt_j || le64 row_j[0] || ... || le64 row_j[k-1])
- node       = BLAKE3(0x01 || left || right)

An opening of a set of leaf indices holds the rows and salts of the sorted distinct indices and the
sibling hashes the verifier cannot compute itself, level by level from the leaves up and by increasing
node index within a level: the minimal list, without duplicates. ``tests/stark/oracles/merkle.py``
is the plain-Python reference of all of this.

``verify_opening`` and ``MerkleOpening.from_bytes`` take untrusted input: the first returns False and
the second raises ``MerkleFormatError`` (a ``ValueError``) on anything malformed; neither raises
anything else.
"""

from __future__ import annotations

import hmac
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import blake3
import numpy as np
from numpy.typing import NDArray

from bastion.stark.hash.blake3_kernels import DIGEST_BYTES, hash_leaves, hash_nodes

U8 = NDArray[np.uint8]
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]

DEFAULT_SALT_BYTES = 16  # 128-bit salts: an unopened leaf cannot be brute-forced from its hash
MAX_DEPTH = 40  # 2^40 leaves: far beyond any trace we commit, small enough that indices fit int64
_COUNT = struct.Struct("<I")


class MerkleFormatError(ValueError):
    """Opening bytes (or their declared shape) are malformed."""


@dataclass(frozen=True, eq=False)
class MerkleOpening:
    """Rows, salts and sibling hashes that open a set of leaves of one tree.

    ``values`` is ``(m, width)`` uint64 and ``salts`` ``(m, salt_bytes)`` uint8, one row per distinct
    index in increasing order; ``siblings`` is ``(s, 32)`` uint8 in the canonical order.
    """

    values: U64
    salts: U8
    siblings: U8

    def to_bytes(self) -> bytes:
        """values (little-endian uint64) || salts || u32 sibling count || siblings."""
        return b"".join(
            (
                np.ascontiguousarray(self.values, dtype="<u8").tobytes(),
                np.ascontiguousarray(self.salts, dtype=np.uint8).tobytes(),
                _COUNT.pack(len(self.siblings)),
                np.ascontiguousarray(self.siblings, dtype=np.uint8).tobytes(),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes, m: int, width: int, salt_bytes: int) -> MerkleOpening:
        """Parse ``to_bytes`` output for ``m`` opened rows; the whole of ``data`` must be used."""
        for name, v, low in (("m", m, 1), ("width", width, 1), ("salt_bytes", salt_bytes, 0)):
            if not _is_int(v) or v < low or v > 1 << 32:
                raise MerkleFormatError(f"{name} must be an integer >= {low}, got {v!r}")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MerkleFormatError(f"opening must be bytes, got {type(data).__name__}")
        data = bytes(data)
        n_values = m * width * 8
        n_salts = m * salt_bytes
        head = n_values + n_salts + _COUNT.size
        if len(data) < head:
            raise MerkleFormatError(f"opening is {len(data)} bytes, shorter than its {head}-byte header")
        (n_siblings,) = _COUNT.unpack_from(data, n_values + n_salts)
        if len(data) != head + n_siblings * DIGEST_BYTES:
            raise MerkleFormatError(
                f"opening declares {n_siblings} siblings ({head + n_siblings * DIGEST_BYTES} bytes in all) "
                f"but is {len(data)} bytes"
            )
        values = np.frombuffer(data, dtype="<u8", count=m * width).astype(np.uint64).reshape(m, width)
        salts = np.frombuffer(data, dtype=np.uint8, count=n_salts, offset=n_values).reshape(m, salt_bytes)
        siblings = np.frombuffer(data, dtype=np.uint8, offset=head).reshape(n_siblings, DIGEST_BYTES)
        return cls(values=values, salts=salts.copy(), siblings=siblings.copy())


class MerkleTree:
    """A committed matrix: keeps the rows, the salts and every node layer so openings are lookups."""

    def __init__(self, columns: U64, salts: U8, layers: list[U8]) -> None:
        self._columns = columns
        self._salts = salts
        self._layers = layers

    @classmethod
    def commit(
        cls,
        columns: U64,
        salt_bytes: int = DEFAULT_SALT_BYTES,
        rng: np.random.Generator | None = None,
    ) -> MerkleTree:
        """Commit to the rows of ``columns`` ``(k, N)`` (N a power of two) with fresh random salts.

        Salts come from a BLAKE3 stream keyed by 32 bytes of OS randomness (``secrets``), 5x faster than
        ``os.urandom`` for the 64 MB of salts of 2^22 rows. ``rng`` makes them reproducible instead, for
        tests only: a commitment whose salts can be recomputed hides nothing.
        """
        cols = np.ascontiguousarray(columns, dtype=np.uint64)
        if cols.ndim != 2 or cols.shape[0] < 1:
            raise ValueError(f"columns must have shape (k, N) with k >= 1, got {cols.shape}")
        n = cols.shape[1]
        if n < 1 or n & (n - 1) or n > 1 << MAX_DEPTH:
            raise ValueError(f"the number of rows must be a power of two up to 2^{MAX_DEPTH}, got {n}")
        if not _is_int(salt_bytes) or salt_bytes < 0:
            raise ValueError(f"salt_bytes must be a non-negative integer, got {salt_bytes!r}")
        salts = _fresh_salts(n, salt_bytes, rng)
        layer = hash_leaves(cols, salts)
        layers = [layer]
        while layer.shape[0] > 1:
            layer = hash_nodes(layer)
            layers.append(layer)
        return cls(cols, salts, layers)

    @property
    def root(self) -> bytes:
        return bytes(self._layers[-1][0].tobytes())

    @property
    def n_leaves(self) -> int:
        return int(self._columns.shape[1])

    @property
    def width(self) -> int:
        return int(self._columns.shape[0])

    @property
    def salt_bytes(self) -> int:
        return int(self._salts.shape[1])

    @property
    def depth(self) -> int:
        return len(self._layers) - 1

    def leaf_hashes(self) -> U8:
        """The ``(N, 32)`` leaf layer (read-only view)."""
        view = self._layers[0].view()
        view.flags.writeable = False
        return view

    def open(self, indices: Iterable[int] | NDArray[Any]) -> MerkleOpening:
        """Open the rows at ``indices`` (any order, repeats allowed: the opening covers the distinct ones)."""
        idx = canonical_indices(indices, self.n_leaves)
        if idx is None:
            raise ValueError(f"indices must be a non-empty set of integers in [0, {self.n_leaves})")
        values = np.ascontiguousarray(self._columns[:, idx].T)
        salts = np.ascontiguousarray(self._salts[idx])
        parts = []
        known = idx
        for layer in self._layers[:-1]:
            sib = known ^ 1
            parts.append(layer[sib[~_has_partner(known)]])
            known = np.unique(known >> 1)
        siblings = np.concatenate(parts) if parts else np.empty((0, DIGEST_BYTES), dtype=np.uint8)
        return MerkleOpening(values=values, salts=salts, siblings=np.ascontiguousarray(siblings))


def canonical_indices(indices: Iterable[int] | NDArray[Any], n_leaves: int) -> I64 | None:
    """The sorted distinct leaf indices an opening covers, or None unless they are integers in range."""
    try:
        arr = np.asarray(indices if isinstance(indices, np.ndarray) else list(indices))
    except Exception:  # an untrusted iterable may fail in any way; it is simply not a valid index set
        return None
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        return None
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and int(arr.max()) >= 1 << 63:
        return None
    arr = arr.astype(np.int64)
    if int(arr.min()) < 0 or int(arr.max()) >= n_leaves:
        return None
    return np.unique(arr)


def verify_opening(
    root: bytes,
    n_leaves: int,
    width: int,
    salt_bytes: int,
    indices: Iterable[int] | NDArray[Any],
    opening: MerkleOpening,
) -> bool:
    """True iff ``opening`` proves the rows at ``indices`` against ``root``. Never raises.

    The opening must hold one row and salt per distinct index, in increasing index order, and exactly
    the sibling hashes of the canonical order: a longer, shorter or reordered list is rejected.
    """
    if not isinstance(root, bytes) or len(root) != DIGEST_BYTES:
        return False
    if not (_is_int(n_leaves) and _is_int(width) and _is_int(salt_bytes)):
        return False
    if n_leaves < 1 or n_leaves & (n_leaves - 1) or n_leaves > 1 << MAX_DEPTH:
        return False
    if width < 1 or salt_bytes < 0 or not isinstance(opening, MerkleOpening):
        return False
    idx = canonical_indices(indices, n_leaves)
    if idx is None:
        return False
    m = idx.size
    values, salts, siblings = opening.values, opening.salts, opening.siblings
    if not (
        _is_array(values, np.uint64, (m, width))
        and _is_array(salts, np.uint8, (m, salt_bytes))
        and _is_array(siblings, np.uint8, (None, DIGEST_BYTES))
    ):
        return False
    hashes = hash_leaves(np.ascontiguousarray(values.T), salts)
    known = idx
    used = 0
    while n_leaves > 1:
        need = ~_has_partner(known)
        n_need = int(need.sum())
        if used + n_need > siblings.shape[0]:
            return False
        all_idx = np.concatenate((known, known[need] ^ 1))
        all_hashes = np.concatenate((hashes, siblings[used : used + n_need]))
        used += n_need
        order = np.argsort(all_idx, kind="stable")
        # every parent now has both children, adjacent in index order
        hashes = hash_nodes(all_hashes[order])
        known = all_idx[order][0::2] >> 1
        n_leaves >>= 1
    if used != siblings.shape[0]:
        return False
    return hmac.compare_digest(hashes[0].tobytes(), root)


# --------------------------------------------------------------------------------------------------


def _fresh_salts(n: int, salt_bytes: int, rng: np.random.Generator | None) -> U8:
    size = n * salt_bytes
    if rng is not None:
        raw = rng.bytes(size)
    elif size:
        raw = blake3.blake3(key=secrets.token_bytes(32)).digest(length=size)
    else:
        raw = b""
    return np.frombuffer(raw, dtype=np.uint8).reshape(n, salt_bytes).copy()


def _has_partner(known: I64) -> NDArray[np.bool_]:
    """For sorted distinct node indices: whether each one's sibling is in the set too."""
    has = np.zeros(known.size, dtype=bool)
    pair = (known[1:] == known[:-1] + 1) & (known[:-1] % 2 == 0)
    has[:-1] |= pair
    has[1:] |= pair
    return has


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_array(a: object, dtype: type, shape: tuple[int | None, ...]) -> bool:
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.ndim != len(shape):
        return False
    return all(want is None or got == want for got, want in zip(a.shape, shape, strict=True))
