"""The Goldilocks kernels against the plain-Python reference."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import field as oracle

from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R

EDGES = [0, 1, 2, R.P - 1, R.P - 2, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 2**32, R.P // 2]
felts = st.one_of(st.sampled_from(EDGES), st.integers(0, R.P - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(felts, felts), min_size=1, max_size=40))
def test_base_ops_match_reference(pairs: list[tuple[int, int]]) -> None:
    a = np.array([p[0] for p in pairs], dtype=np.uint64)
    b = np.array([p[1] for p in pairs], dtype=np.uint64)
    for got, op in ((F.add_vec(a, b), oracle.add), (F.sub_vec(a, b), oracle.sub), (F.mul_vec(a, b), oracle.mul)):
        assert [int(v) for v in got] == [op(x, y) for x, y in pairs]
    assert [int(v) for v in F.neg_vec(a)] == [(-x) % R.P for x, _ in pairs]


def test_all_edge_products() -> None:
    a = np.array(EDGES, dtype=np.uint64)
    prod = F.mul_vec(a[:, None], a[None, :])
    for i, x in enumerate(EDGES):
        for j, y in enumerate(EDGES):
            assert int(prod[i, j]) == x * y % R.P


def test_batch_inverse_including_zero() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, R.P, 5000, dtype=np.uint64)
    a[::97] = 0
    inv = F.batch_inv(a)
    for x, y in zip(a.tolist(), inv.tolist(), strict=True):
        assert (x * y) % R.P == (1 if x else 0)
        assert y == (0 if x == 0 else R.inv(x))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(felts, felts, felts, felts), min_size=1, max_size=20))
def test_extension_ops_match_reference(quads: list[tuple[int, int, int, int]]) -> None:
    a = np.array([[q[0], q[1]] for q in quads], dtype=np.uint64)
    b = np.array([[q[2], q[3]] for q in quads], dtype=np.uint64)
    got = F.ext_mul_vec(a, b)
    for i, q in enumerate(quads):
        assert (int(got[i, 0]), int(got[i, 1])) == R.ext_mul((q[0], q[1]), (q[2], q[3]))
    nonzero = [i for i, q in enumerate(quads) if q[0] or q[1]]
    if nonzero:
        inv = F.ext_batch_inv(a[nonzero])
        for r, i in enumerate(nonzero):
            e = (int(a[i, 0]), int(a[i, 1]))
            assert (int(inv[r, 0]), int(inv[r, 1])) == R.ext_inv(e)


def test_x_squared_minus_7_is_irreducible() -> None:
    # 7 is a quadratic non-residue: Euler's criterion
    assert pow(7, (R.P - 1) // 2, R.P) == R.P - 1


def test_roots_of_unity() -> None:
    for log_n in (1, 5, 20, 32):
        w = F.root_of_unity(log_n)
        assert pow(w, 1 << log_n, R.P) == 1
        assert pow(w, 1 << (log_n - 1), R.P) == R.P - 1
