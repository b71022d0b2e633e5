"""Plain-Python reference for the Merkle vector commitment of ``bastion.stark.commit.merkle``.

Slow and obviously correct: every leaf and node is hashed one at a time with the ``blake3`` package,
rows are Python lists of ints, salts are ``bytes``. The fast tree is tested against it (roots,
openings and verification agree), and it documents the format in a few lines:

- leaf ``j``  = BLAKE3(0x00 || salt_j || le64(row_j[0]) || ... || le64(row_j[k-1]))
- node        = BLAKE3(0x01 || left || right)
- the tree has ``n = 2^d`` leaves; layer 0 is the leaves, layer d the root
- an opening of a set of leaf indices lists, level by level from the leaves up and within a level by
  increasing node index, the hash of every sibling that the verifier cannot compute itself
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import blake3

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(row: Sequence[int], salt: bytes) -> bytes:
    data = LEAF_PREFIX + salt + b"".join(int(v).to_bytes(8, "little") for v in row)
    return blake3.blake3(data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return blake3.blake3(NODE_PREFIX + left + right).digest()


def commit(rows: Sequence[Sequence[int]], salts: Sequence[bytes]) -> list[list[bytes]]:
    """All layers of the tree over ``rows`` (a power-of-two count), leaves first, root last."""
    n = len(rows)
    if n == 0 or n & (n - 1):
        raise ValueError(f"the number of rows must be a power of two, got {n}")
    layer = [leaf_hash(row, salt) for row, salt in zip(rows, salts, strict=True)]
    layers = [layer]
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
        layers.append(layer)
    return layers


def open_siblings(layers: list[list[bytes]], indices: Iterable[int]) -> list[bytes]:
    """The sibling hashes of a multi-opening, in the canonical order described above."""
    known = set(indices)
    siblings: list[bytes] = []
    for layer in layers[:-1]:
        for i in sorted(known):
            if i ^ 1 not in known:
                siblings.append(layer[i ^ 1])
        known = {i // 2 for i in known}
    return siblings


def verify(
    root: bytes,
    n_leaves: int,
    indices: Iterable[int],
    rows: Sequence[Sequence[int]],
    salts: Sequence[bytes],
    siblings: Sequence[bytes],
) -> bool:
    """Check an opening: ``rows``/``salts`` belong to the sorted distinct ``indices``."""
    wanted = sorted(set(indices))
    if not wanted or len(rows) != len(wanted) or len(salts) != len(wanted):
        return False
    if n_leaves < 1 or n_leaves & (n_leaves - 1) or wanted[0] < 0 or wanted[-1] >= n_leaves:
        return False
    nodes = {i: leaf_hash(row, salt) for i, row, salt in zip(wanted, rows, salts, strict=True)}
    rest = list(siblings)
    size = n_leaves
    while size > 1:
        for i in sorted(nodes):
            if i ^ 1 not in nodes:
                if not rest:
                    return False
                nodes[i ^ 1] = rest.pop(0)
        nodes = {i // 2: node_hash(nodes[i], nodes[i + 1]) for i in sorted(nodes) if i % 2 == 0}
        size //= 2
    return not rest and nodes == {0: root}
