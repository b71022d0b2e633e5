"""Merkle vector commitments: the fast tree against the plain reference, and every way to break an opening.

Binding is what the STARK's soundness rests on: each test below hands the verifier an opening that
differs from the honest one in one way (a bit, a byte count, an index, a root, a salt, a sibling) and
expects False, never an exception.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import merkle as ref

from bastion.stark.commit.merkle import (
    MerkleFormatError,
    MerkleOpening,
    MerkleTree,
    canonical_indices,
    verify_opening,
)
from bastion.stark.hash.blake3_kernels import hash_nodes

P = 2**64 - 2**32 + 1


def make_tree(log_n: int, k: int, salt_bytes: int, seed: int = 0) -> tuple[MerkleTree, np.ndarray]:
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, P, size=(k, 1 << log_n), dtype=np.uint64)
    return MerkleTree.commit(columns, salt_bytes, rng=np.random.default_rng(seed + 1)), columns


def ref_layers(tree: MerkleTree, columns: np.ndarray) -> tuple[list[list[int]], list[bytes], list[list[bytes]]]:
    opened = tree.open(range(tree.n_leaves))  # every row and salt, in order
    rows = [[int(v) for v in row] for row in opened.values]
    salts = [bytes(s) for s in opened.salts]
    assert rows == [[int(v) for v in columns[:, j]] for j in range(tree.n_leaves)]
    return rows, salts, ref.commit(rows, salts)


def check(tree: MerkleTree, indices: Any, opening: MerkleOpening) -> bool:
    return verify_opening(tree.root, tree.n_leaves, tree.width, tree.salt_bytes, indices, opening)


@pytest.fixture(scope="module")
def small() -> tuple[MerkleTree, list[int], MerkleOpening]:
    """16 leaves of 3 columns, 3 opened rows: small enough to flip every bit of the opening."""
    tree, _ = make_tree(4, 3, 16, seed=11)
    indices = [2, 3, 9]
    return tree, indices, tree.open(indices)


# ------------------------------------------------------------------------------------- against the reference


@pytest.mark.parametrize(("log_n", "k", "salt_bytes"), [(0, 1, 16), (1, 2, 0), (3, 64, 16), (6, 5, 7), (7, 130, 16)])
def test_root_and_openings_equal_the_reference(log_n: int, k: int, salt_bytes: int) -> None:
    tree, columns = make_tree(log_n, k, salt_bytes)
    assert (tree.n_leaves, tree.width, tree.salt_bytes, tree.depth) == (1 << log_n, k, salt_bytes, log_n)
    rows, salts, layers = ref_layers(tree, columns)
    assert tree.root == layers[-1][0]
    assert [bytes(h) for h in tree.leaf_hashes()] == layers[0]
    n = tree.n_leaves
    rng = np.random.default_rng(log_n)
    for indices in ([0], [n - 1], list(range(n)), list(rng.integers(0, n, size=5))):
        opening = tree.open(indices)
        distinct = sorted(set(int(i) for i in indices))
        assert [bytes(s) for s in opening.siblings] == ref.open_siblings(layers, distinct)
        assert opening.values.tolist() == [rows[i] for i in distinct]
        assert [bytes(s) for s in opening.salts] == [salts[i] for i in distinct]
        assert check(tree, indices, opening)
        siblings = [bytes(s) for s in opening.siblings]
        assert ref.verify(tree.root, n, distinct, opening.values.tolist(), salts_of(opening), siblings)


def salts_of(opening: MerkleOpening) -> list[bytes]:
    return [bytes(s) for s in opening.salts]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_multi_openings_are_minimal_and_verify(data: st.DataObject) -> None:
    log_n = data.draw(st.integers(0, 7), label="log_n")
    tree, columns = make_tree(log_n, 2, 16, seed=log_n)
    _, _, layers = ref_layers(tree, columns)
    n = tree.n_leaves
    indices = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=12), label="indices")
    opening = tree.open(indices)
    distinct = sorted(set(indices))
    expected = ref.open_siblings(layers, distinct)
    assert [bytes(s) for s in opening.siblings] == expected
    assert len(set(expected)) == len(expected) or n <= 2  # no sibling is sent twice
    if len(distinct) == n:
        assert opening.siblings.shape[0] == 0  # the whole tree needs no sibling
    if len(distinct) == 1:
        assert opening.siblings.shape[0] == log_n  # one leaf: exactly its authentication path
    assert check(tree, indices, opening)
    assert check(tree, list(reversed(indices)) * 2, opening)  # order and repeats do not matter
    parsed = MerkleOpening.from_bytes(opening.to_bytes(), len(distinct), tree.width, tree.salt_bytes)
    assert check(tree, indices, parsed)
    assert np.array_equal(parsed.values, opening.values)


def test_salts_are_fresh_and_hide_equal_rows() -> None:
    columns = np.zeros((4, 8), dtype=np.uint64)  # eight identical rows
    a = MerkleTree.commit(columns)
    b = MerkleTree.commit(columns)
    assert a.root != b.root  # new salts every commitment: rounds cannot be linked
    leaves = [bytes(h) for h in a.leaf_hashes()]
    assert len(set(leaves)) == 8  # equal rows do not give equal leaves
    assert not np.any(np.all(a.open(range(8)).salts == 0, axis=1))
    seeded = [MerkleTree.commit(columns, rng=np.random.default_rng(5)).root for _ in range(2)]
    assert seeded[0] == seeded[1]
    unsalted = MerkleTree.commit(columns, salt_bytes=0)
    assert len({bytes(h) for h in unsalted.leaf_hashes()}) == 1  # without salts equal rows collide


def test_commit_and_open_reject_bad_arguments() -> None:
    tree, _ = make_tree(3, 2, 16)
    for bad in ([], [8], [-1], [1.5], "ab", None, [[0, 1]], [2**70]):
        with pytest.raises(ValueError):
            tree.open(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="power of two"):
        MerkleTree.commit(np.zeros((2, 6), dtype=np.uint64))
    with pytest.raises(ValueError, match="power of two"):
        MerkleTree.commit(np.zeros((2, 0), dtype=np.uint64))
    with pytest.raises(ValueError, match="columns"):
        MerkleTree.commit(np.zeros((0, 4), dtype=np.uint64))
    with pytest.raises(ValueError, match="salt_bytes"):
        MerkleTree.commit(np.zeros((1, 4), dtype=np.uint64), salt_bytes=-1)


def test_canonical_indices() -> None:
    assert canonical_indices([5, 1, 5, 0], 8).tolist() == [0, 1, 5]  # type: ignore[union-attr]
    assert canonical_indices(np.array([3], dtype=np.uint8), 4).tolist() == [3]  # type: ignore[union-attr]
    for bad in ([], [8], [-1], np.array([2**63], dtype=np.uint64), np.array([True]), [0.0], 3, "1"):
        assert canonical_indices(bad, 8) is None  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- tampering


def test_every_single_bit_flip_of_the_bytes_is_rejected(small: tuple[MerkleTree, list[int], MerkleOpening]) -> None:
    tree, indices, opening = small
    blob = bytearray(opening.to_bytes())
    m = len(indices)
    assert opening.siblings.shape[0] > 0
    for pos, bit in itertools.product(range(len(blob)), range(8)):
        blob[pos] ^= 1 << bit
        try:
            parsed = MerkleOpening.from_bytes(bytes(blob), m, tree.width, tree.salt_bytes)
        except MerkleFormatError:
            pass  # the sibling count changed: the length no longer adds up
        else:
            assert not check(tree, indices, parsed), f"flip of bit {bit} of byte {pos} accepted"
        blob[pos] ^= 1 << bit
    assert check(tree, indices, MerkleOpening.from_bytes(bytes(blob), m, tree.width, tree.salt_bytes))


def test_truncated_or_extended_bytes_are_rejected(small: tuple[MerkleTree, list[int], MerkleOpening]) -> None:
    tree, indices, opening = small
    blob = opening.to_bytes()
    shape = (len(indices), tree.width, tree.salt_bytes)
    for cut in range(len(blob)):
        with pytest.raises(MerkleFormatError):
            MerkleOpening.from_bytes(blob[:cut], *shape)
    for extra in (b"\x00", bytes(31), bytes(32), bytes(33)):
        with pytest.raises(MerkleFormatError):
            MerkleOpening.from_bytes(blob + extra, *shape)
    # a well-formed extension: one more sibling, count raised to match
    n_values_salts = len(indices) * (8 * tree.width + tree.salt_bytes)
    count = int.from_bytes(blob[n_values_salts : n_values_salts + 4], "little")
    longer = blob[:n_values_salts] + (count + 1).to_bytes(4, "little") + blob[n_values_salts + 4 :] + bytes(32)
    assert not check(tree, indices, MerkleOpening.from_bytes(longer, *shape))
    # and the other shape parameters must match what was written
    for wrong in ((len(indices) + 1, tree.width, tree.salt_bytes), (len(indices), tree.width + 1, tree.salt_bytes)):
        with pytest.raises(MerkleFormatError):
            MerkleOpening.from_bytes(blob, *wrong)


def test_structural_tampering_is_rejected(small: tuple[MerkleTree, list[int], MerkleOpening]) -> None:
    tree, indices, op = small
    sib = op.siblings
    replace = dataclasses.replace
    forged = {
        "sibling dropped (last)": replace(op, siblings=sib[:-1]),
        "sibling dropped (first)": replace(op, siblings=sib[1:]),
        "sibling duplicated": replace(op, siblings=np.concatenate([sib, sib[-1:]])),
        "extra zero sibling": replace(op, siblings=np.concatenate([sib, np.zeros((1, 32), np.uint8)])),
        "siblings swapped": replace(op, siblings=sib[[1, 0, *range(2, len(sib))]]),
        "salts of two rows swapped": replace(op, salts=op.salts[[1, 0, 2]]),
        "rows swapped": replace(op, values=op.values[[1, 0, 2]]),
        "a row dropped": replace(op, values=op.values[:2], salts=op.salts[:2]),
        "zero salt": replace(op, salts=np.zeros_like(op.salts)),
    }
    other = tree.open([4])  # a real salt of another leaf
    forged["another leaf's salt"] = replace(op, salts=np.concatenate([other.salts, op.salts[1:]]))
    for name, bad in forged.items():
        assert not check(tree, indices, bad), name
    assert check(tree, indices, op)


def test_another_representative_of_the_same_field_element_is_rejected() -> None:
    # the commitment binds the exact 64-bit words, not their value mod p
    columns = np.arange(8, dtype=np.uint64).reshape(1, 8)
    tree = MerkleTree.commit(columns, rng=np.random.default_rng(0))
    op = tree.open([5])
    assert check(tree, [5], op)
    assert not check(tree, [5], dataclasses.replace(op, values=op.values + np.uint64(P)))


def test_wrong_index_root_or_shape_is_rejected(small: tuple[MerkleTree, list[int], MerkleOpening]) -> None:
    tree, indices, op = small
    n, width, salt_bytes = tree.n_leaves, tree.width, tree.salt_bytes
    for pos, wrong in itertools.product(range(len(indices)), range(n)):
        if wrong in indices:
            continue
        moved = list(indices)
        moved[pos] = wrong
        assert not check(tree, moved, op), (pos, wrong)
    assert not check(tree, indices[:2], op)  # fewer indices than rows
    assert not check(tree, [*indices, 15], op)  # more indices than rows
    for i in range(32):
        root = bytearray(tree.root)
        root[i] ^= 1
        assert not verify_opening(bytes(root), n, width, salt_bytes, indices, op)
    assert not verify_opening(MerkleTree.commit(np.zeros((3, 16), np.uint64)).root, n, width, salt_bytes, indices, op)
    assert not verify_opening(tree.root, 2 * n, width, salt_bytes, indices, op)
    assert not verify_opening(tree.root, n // 2, width, salt_bytes, [2, 3, 5], op)
    assert not verify_opening(tree.root, n, width + 1, salt_bytes, indices, op)
    assert not verify_opening(tree.root, n, width, salt_bytes + 1, indices, op)


def test_an_inner_node_cannot_pass_for_a_leaf() -> None:
    # Second-preimage attempt across levels: claim the tree has half as many leaves and that leaf 0 is
    # the 64 bytes (left child || right child) of the first level-1 node, read as an 8-column row.
    tree, _ = make_tree(3, 2, 0, seed=4)
    layers = [tree.leaf_hashes()]
    while layers[-1].shape[0] > 1:
        layers.append(hash_nodes(layers[-1]))
    row = np.frombuffer(layers[0][:2].tobytes(), dtype="<u8").astype(np.uint64).reshape(1, 8)
    forged = MerkleOpening(
        values=row,
        salts=np.zeros((1, 0), dtype=np.uint8),
        siblings=np.stack([layers[1][1], layers[2][1]]),
    )
    assert not verify_opening(tree.root, 4, 8, 0, [0], forged)


# ------------------------------------------------------------------------------------ hostile input


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=400),
    m=st.one_of(st.integers(-3, 6), st.just(2**40), st.booleans(), st.floats(), st.none()),
    width=st.one_of(st.integers(-1, 5), st.just(2**33), st.text(max_size=2)),
    salt_bytes=st.one_of(st.integers(-1, 17), st.just(-(2**70))),
)
def test_random_bytes_never_crash_the_parser_or_verifier(data: bytes, m: Any, width: Any, salt_bytes: Any) -> None:
    try:
        parsed = MerkleOpening.from_bytes(data, m, width, salt_bytes)
    except MerkleFormatError:
        return
    tree_root = bytes(32)
    for n in (1, 4, 16):
        assert verify_opening(tree_root, n, width, salt_bytes, range(min(m, n)), parsed) is False


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=600),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(0, 17)),
)
def test_random_well_sized_bytes_parse_but_never_verify(data: bytes, shape: tuple[int, int, int]) -> None:
    m, width, salt_bytes = shape
    head = m * (8 * width + salt_bytes)
    n_siblings = len(data) // 32
    blob = data[:head].ljust(head, b"\x00") + n_siblings.to_bytes(4, "little") + data[: 32 * n_siblings]
    parsed = MerkleOpening.from_bytes(blob, m, width, salt_bytes)
    assert parsed.values.shape == (m, width) and parsed.siblings.shape == (n_siblings, 32)
    assert parsed.values.flags.writeable and parsed.values.dtype == np.uint64
    assert verify_opening(bytes(range(32)), 16, width, salt_bytes, range(m), parsed) is False


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.binary(max_size=40),
    st.lists(st.integers(-5, 40), max_size=5),
    st.lists(st.floats(), max_size=3),
    st.just(np.array([[1, 2]], dtype=np.int64)),
    st.just(np.array([1, 2], dtype=np.float64)),
    st.just(np.array([2**64 - 1], dtype=np.uint64)),
    st.just(object()),
)


@settings(max_examples=300, deadline=None)
@given(
    which=st.sets(st.sampled_from(["root", "n", "width", "salt_bytes", "indices", "opening"]), min_size=1),
    junk=st.lists(_junk, min_size=6, max_size=6),
    mangle=st.sampled_from(["values-dtype", "values-shape", "salts-dtype", "siblings-shape", "list", "none"]),
)
def test_verify_never_raises_on_garbage_arguments(
    small: tuple[MerkleTree, list[int], MerkleOpening], which: set[str], junk: list[Any], mangle: str
) -> None:
    tree, indices, op = small
    args: dict[str, Any] = {
        "root": tree.root,
        "n": tree.n_leaves,
        "width": tree.width,
        "salt_bytes": tree.salt_bytes,
        "indices": indices,
        "opening": op,
    }
    for name, value in zip(sorted(which), junk, strict=False):
        args[name] = value
    if "opening" in which:
        args["opening"] = {
            "values-dtype": dataclasses.replace(op, values=op.values.astype(np.int64)),
            "values-shape": dataclasses.replace(op, values=op.values.reshape(-1)),
            "salts-dtype": dataclasses.replace(op, salts=op.salts.astype(np.int16)),
            "siblings-shape": dataclasses.replace(op, siblings=op.siblings[:, :31]),
            "list": dataclasses.replace(op, siblings=[bytes(s) for s in op.siblings]),  # type: ignore[arg-type]
            "none": None,
        }[mangle]
    result = verify_opening(
        args["root"], args["n"], args["width"], args["salt_bytes"], args["indices"], args["opening"]
    )
    assert isinstance(result, bool)
    if result:  # only when the junk happened to equal the honest arguments
        honest = canonical_indices(args["indices"], tree.n_leaves)
        assert honest is not None and honest.tolist() == indices
        assert args["opening"] is op and args["root"] == tree.root
        assert [type(args[k]) for k in ("n", "width", "salt_bytes")] == [int, int, int]
        assert (args["n"], args["width"], args["salt_bytes"]) == (16, 3, 16)


def test_opening_round_trips_through_bytes(small: tuple[MerkleTree, list[int], MerkleOpening]) -> None:
    tree, indices, op = small
    blob = op.to_bytes()
    assert len(blob) == len(indices) * (8 * tree.width + tree.salt_bytes) + 4 + 32 * op.siblings.shape[0]
    again = MerkleOpening.from_bytes(bytearray(blob), len(indices), tree.width, tree.salt_bytes)
    assert again.to_bytes() == blob
    with pytest.raises(MerkleFormatError):
        MerkleOpening.from_bytes("text", 1, 1, 0)  # type: ignore[arg-type]
    assert issubclass(MerkleFormatError, ValueError)
