"""The BLAKE3 kernels against the ``blake3`` package, byte for byte.

Sizes are chosen to hit BLAKE3's edges: messages of exactly one block, exactly one chunk (1024
bytes), one byte past a chunk, several chunks (the chunk tree, with 2, 3, 4 and 5 chunks), and lane
groups that are full, short by one and over by one.
"""

from __future__ import annotations

import multiprocessing

import blake3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.stark.hash import blake3_kernels as hashing
from bastion.stark.hash.blake3_kernels import LANES, hash_leaves, hash_nodes

U64_MAX = 2**64 - 1


def ref_leaf(columns: np.ndarray, salts: np.ndarray | None, j: int) -> bytes:
    salt = b"" if salts is None else bytes(salts[j])
    row = b"".join(int(v).to_bytes(8, "little") for v in columns[:, j])
    return blake3.blake3(b"\x00" + salt + row).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return blake3.blake3(b"\x01" + left + right).digest()


def random_case(seed: int, k: int, n: int, salt_bytes: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, U64_MAX, size=(k, n), dtype=np.uint64, endpoint=True)
    columns[:, ::7] = U64_MAX  # all-ones bytes catch a shift that drops a carry or a sign
    salts = None if salt_bytes is None else rng.integers(0, 256, size=(n, salt_bytes), dtype=np.uint8)
    return columns, salts


def assert_leaves_match(columns: np.ndarray, salts: np.ndarray | None) -> None:
    got = hash_leaves(columns, salts)
    assert got.shape == (columns.shape[1], 32) and got.dtype == np.uint8
    for j in range(columns.shape[1]):
        assert bytes(got[j]) == ref_leaf(columns, salts, j), f"leaf {j} differs"


# message length = 1 + salt_bytes + 8k
@pytest.mark.parametrize(
    ("k", "salt_bytes", "length"),
    [
        (1, None, 9),
        (1, 16, 25),
        (7, 7, 64),  # exactly one block
        (8, 7, 72),
        (64, 16, 529),  # the prover's shape: 64 columns, 16-byte salts
        (127, 7, 1024),  # exactly one chunk
        (126, 16, 1025),  # one byte into a second chunk
        (255, 7, 2048),  # exactly two chunks
        (256, 7, 2056),  # three chunks: left subtree of two
        (383, 7, 3072),
        (384, 16, 3089),  # four chunks: a full binary tree
        (512, 31, 4128),  # five chunks: a merge at the root only
        (3, 0, 25),  # an empty salt is the unsalted message
    ],
)
def test_leaves_match_blake3_around_block_and_chunk_edges(k: int, salt_bytes: int | None, length: int) -> None:
    assert 1 + (salt_bytes or 0) + 8 * k == length
    columns, salts = random_case(k, k, LANES + 3, salt_bytes)
    assert_leaves_match(columns, salts)


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 140),
    n=st.sampled_from([1, 2, LANES - 1, LANES, LANES + 1, 2 * LANES + 5]),
    salt_bytes=st.one_of(st.none(), st.integers(0, 40)),
    seed=st.integers(0, 2**32 - 1),
)
def test_leaves_match_blake3_on_random_shapes(k: int, n: int, salt_bytes: int | None, seed: int) -> None:
    columns, salts = random_case(seed, k, n, salt_bytes)
    assert_leaves_match(columns, salts)


def test_unsalted_equals_empty_salt() -> None:
    columns, _ = random_case(1, 5, 10, None)
    assert np.array_equal(hash_leaves(columns), hash_leaves(columns, np.zeros((10, 0), dtype=np.uint8)))


def test_leaves_split_over_threads_match_the_reference() -> None:
    # enough leaves that the work is split into ranges on several threads
    n = hashing._PARALLEL_MIN + 3 * LANES + 5
    columns, salts = random_case(7, 3, n, 16)
    got = hash_leaves(columns, salts)
    serial = np.empty((n, 8), dtype=np.uint32)
    hashing._hash_leaves_range(columns, salts, serial, 0, n)
    assert np.array_equal(got, serial.view(np.uint8))
    for j in [*range(0, n, 97), n - 1]:
        assert bytes(got[j]) == ref_leaf(columns, salts, j)


def _hash_in_child(columns: np.ndarray) -> bytes:
    return bytes(hash_leaves(columns)[-1])


@pytest.mark.timeout(60)
def test_hashing_works_in_a_forked_child_after_the_parent_used_its_threads() -> None:
    # a prover pool forks after the parent hashed: the child must not wait on the parent's dead threads
    columns, _ = random_case(8, 2, hashing._PARALLEL_MIN + 1, None)
    expected = bytes(hash_leaves(columns)[-1])
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_hash_in_child, (columns,)).get(timeout=30) == expected


def test_leaves_accept_any_layout_of_the_same_matrix() -> None:
    columns, salts = random_case(3, 9, 100, 16)
    expected = hash_leaves(columns, salts)
    fortran = np.asfortranarray(columns)
    strided = np.zeros((9, 200), dtype=np.uint64)
    strided[:, ::2] = columns
    readonly = columns.copy()
    readonly.flags.writeable = False
    for variant in (fortran, strided[:, ::2], readonly):
        assert np.array_equal(hash_leaves(variant, salts), expected)


def test_every_input_byte_matters() -> None:
    columns, salts = random_case(5, 4, 8, 16)
    assert salts is not None
    base = hash_leaves(columns, salts)
    assert len({bytes(d) for d in base}) == 8
    for c in range(4):
        for bit in (0, 7, 31, 32, 63):
            flipped = columns.copy()
            flipped[c, 3] ^= np.uint64(1 << bit)
            got = hash_leaves(flipped, salts)
            assert bytes(got[3]) != bytes(base[3])
            assert np.array_equal(np.delete(got, 3, axis=0), np.delete(base, 3, axis=0))
    for s in range(16):
        salted = salts.copy()
        salted[5, s] ^= 1
        assert bytes(hash_leaves(columns, salted)[5]) != bytes(base[5])


@pytest.mark.parametrize("m", [1, 2, LANES - 1, LANES, LANES + 1, 300])
def test_nodes_match_blake3(m: int) -> None:
    rng = np.random.default_rng(m)
    children = rng.integers(0, 256, size=(2 * m, 32), dtype=np.uint8)
    children[::3] = 0xFF
    got = hash_nodes(children)
    assert got.shape == (m, 32)
    for i in range(m):
        assert bytes(got[i]) == ref_node(bytes(children[2 * i]), bytes(children[2 * i + 1]))


def test_nodes_split_over_threads_match_the_reference() -> None:
    m = hashing._PARALLEL_MIN + LANES + 1
    children = np.random.default_rng(9).integers(0, 256, size=(2 * m, 32), dtype=np.uint8)
    got = hash_nodes(children)
    for i in [*range(0, m, 61), m - 1]:
        assert bytes(got[i]) == ref_node(bytes(children[2 * i]), bytes(children[2 * i + 1]))


def test_leaf_and_node_domains_are_separated() -> None:
    # 64 bytes hashed as a node and the same 64 bytes as an unsalted 8-column leaf must differ
    children = np.random.default_rng(2).integers(0, 256, size=(2, 32), dtype=np.uint8)
    as_leaf = np.frombuffer(children.tobytes(), dtype="<u8").astype(np.uint64).reshape(8, 1)
    assert bytes(hash_nodes(children)[0]) != bytes(hash_leaves(as_leaf)[0])


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="columns"):
        hash_leaves(np.zeros((0, 4), dtype=np.uint64))
    with pytest.raises(ValueError, match="columns"):
        hash_leaves(np.zeros(4, dtype=np.uint64))
    with pytest.raises(ValueError, match="salts"):
        hash_leaves(np.zeros((2, 4), dtype=np.uint64), np.zeros((3, 16), dtype=np.uint8))
    with pytest.raises(ValueError, match="children"):
        hash_nodes(np.zeros((3, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="children"):
        hash_nodes(np.zeros((4, 31), dtype=np.uint8))
    assert hash_leaves(np.zeros((3, 0), dtype=np.uint64)).shape == (0, 32)
    assert hash_nodes(np.zeros((0, 32), dtype=np.uint8)).shape == (0, 32)
