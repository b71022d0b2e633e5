"""NTT, interpolation and low-degree extension against the quadratic-time reference."""

import random

import numpy as np
import pytest
from oracles import ntt as R
from oracles import poly as poly_oracle

from bastion.stark.field import goldilocks as F
from bastion.stark.poly import ntt as N
from bastion.stark.poly import polynomials as poly


@pytest.mark.parametrize("log_n", [0, 1, 2, 3, 4, 7, 12])
def test_ntt_matches_reference_and_inverts(log_n: int) -> None:
    rng = np.random.default_rng(log_n)
    n = 1 << log_n
    coeffs = rng.integers(0, R.P, (3, n), dtype=np.uint64)
    evals = N.ntt(coeffs)
    if log_n <= 7:
        for c in range(3):
            assert evals[c].tolist() == R.ntt(coeffs[c].tolist())
    assert (N.intt(evals) == coeffs).all()


@pytest.mark.parametrize("log_n", [1, 3, 6])
def test_coset_lde_matches_reference(log_n: int) -> None:
    rng = np.random.default_rng(10 + log_n)
    n = 1 << log_n
    evals = rng.integers(0, R.P, (2, n), dtype=np.uint64)
    coeffs = [R.intt(evals[c].tolist()) for c in range(2)]
    lde = N.lde(evals, 4, 7)
    for c in range(2):
        assert lde[c].tolist() == R.coset_evaluate(coeffs[c], 4 * n, 7)
    back = N.coset_interpolate(lde, 7)
    assert back[:, :n].tolist() == coeffs and not back[:, n:].any()


def test_nlogn_oracle_matches_the_quadratic_reference() -> None:
    rng = random.Random(5)
    for log_n in range(6):
        coeffs = [rng.randrange(R.P) for _ in range(1 << log_n)]
        assert R.ntt_nlogn(coeffs) == R.ntt(coeffs)


# Sizes around every switch in the batched kernels: below/at the transposed radix-8 run (2^9), below/at/above
# the in-cache block (2^13, then the gathered upper stages), above the 64 x 64 bit-reversal tile (2^12), and
# column counts that do not divide among the workers.
@pytest.mark.parametrize(("log_n", "k"), [(5, 3), (8, 2), (9, 3), (10, 1), (11, 5), (12, 2), (13, 3), (14, 3), (16, 2)])
def test_batched_kernels_match_the_oracle(log_n: int, k: int) -> None:
    rng = np.random.default_rng(100 + log_n)
    n = 1 << log_n
    coeffs = rng.integers(0, R.P, (k, n), dtype=np.uint64)
    coeffs[0, :5] = [0, 1, R.P - 1, R.P - 2, 2**63]  # edge values of the field arithmetic
    want = [R.ntt_nlogn(coeffs[c].tolist()) for c in range(k)]
    evals = N.ntt(coeffs)
    assert evals.tolist() == want
    assert (N.intt(evals) == coeffs).all()
    rev = N.bit_reversal(log_n)
    assert (N.bitrev_columns(coeffs) == coeffs[:, rev]).all()
    assert (N.intt_bitrev(evals) == coeffs[:, rev]).all()
    # without its 1/n (lde's path: the factor rides on the coset powers instead), n times the coefficients
    n_times = [[int(v) * n % R.P for v in coeffs[c, rev].tolist()] for c in range(k)]
    assert N.intt_bitrev(evals, scaled=False).tolist() == n_times
    # the coset LDE: evaluations on shift * <omega_4n> = the size-4n transform of coefficients scaled by shift^i
    shift = 7
    lde = N.lde(evals, 4, shift)
    scaled = [[int(v) * pow(shift, i, R.P) % R.P for i, v in enumerate(coeffs[c].tolist())] + [0] * (3 * n)
              for c in range(min(k, 2))]
    for c, sc in enumerate(scaled):
        assert lde[c].tolist() == R.ntt_nlogn(sc)
    assert (N.coset_evaluate(coeffs, 4 * n, shift) == lde).all()
    # a factor carried by the coset powers multiplies every evaluation
    tripled = N.coset_evaluate_bitrev(coeffs[:, rev], 4 * n, shift, 3)
    assert tripled.tolist() == [[int(v) * 3 % R.P for v in row] for row in lde.tolist()]
    back = N.coset_interpolate(lde, shift)
    assert (back[:, :n] == coeffs).all() and not back[:, n:].any()


def test_extension_column_layout_round_trips() -> None:
    rng = np.random.default_rng(3)
    cols = rng.integers(0, R.P, (3, 16, 2), dtype=np.uint64)
    assert (N.base_columns_to_ext(N.ext_columns_to_base(cols)) == cols).all()


def test_barycentric_matches_reference() -> None:
    rng = np.random.default_rng(4)
    vals = rng.integers(0, R.P, 16, dtype=np.uint64)
    z = (123456789, 987654321)
    assert poly.barycentric_eval(vals, z) == poly_oracle.barycentric_eval(vals.tolist(), z)
    # and it is the interpolant: compare with Horner on the coefficients
    coeffs = R.intt(vals.tolist())
    got = poly.eval_columns_at(np.array([coeffs], dtype=np.uint64), z)[0]
    assert (int(got[0]), int(got[1])) == poly_oracle.barycentric_eval(vals.tolist(), z)


@pytest.mark.parametrize("n", [8, 2048, 5000])  # below, at and across the kernel's inversion block
def test_deep_quotients_match_the_reference(n: int) -> None:
    rng = np.random.default_rng(6)
    lde = rng.integers(0, R.P, (6, n), dtype=np.uint64)
    lde[:, 0] = R.P - 1  # edge values of the field arithmetic
    xs = rng.integers(0, R.P, n, dtype=np.uint64)
    z, gz = (123456789, 987654321), (R.P - 5, 2**63 + 11)
    value_z, value_gz = (2**40 + 3, R.P - 2), (5, 0)
    got = poly.deep_quotients(lde, xs, z, gz, value_z, value_gz)
    want = poly_oracle.deep_quotients(lde.tolist(), xs.tolist(), z, gz, value_z, value_gz)
    assert [(int(a), int(b)) for a, b in got] == want


def test_rejects_non_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        N.ntt(np.zeros((1, 12), dtype=np.uint64))


def test_vanishing_on_coset_matches_direct_product() -> None:
    roots = [pow(7, i, R.P) for i in range(1, 40)]
    xs = poly.domain_points(256, 7)
    direct = poly.excluded_product(xs, np.array(roots, dtype=np.uint64))
    assert (poly.vanishing_on_coset(roots, 256, 7) == direct).all()
    assert (poly.vanishing_on_coset([], 16, 7) == 1).all()


P_ = 2**64 - 2**32 + 1


def test_vanishing_coeffs_product_tree_matches_the_direct_product() -> None:
    rng = random.Random(5)
    for k in (0, 1, 64, 65, 300):
        roots = [rng.randrange(P_) for _ in range(k)]
        assert poly.vanishing_coeffs(roots) == poly.vanishing_coeffs_direct(roots)


def test_vanishing_on_coset_with_many_excluded_rows_is_fast_and_right() -> None:
    # half the trace excluded (a batch with few used rows): used to be an O(k^2) Python loop
    roots = [int(v) for v in F.powers(F.root_of_unity(12), 1 << 12)[1 << 11 :]]
    values = poly.vanishing_on_coset(roots, 1 << 14, 7)
    xs = [int(v) for v in F.powers(F.root_of_unity(14), 1 << 14)[:8]]
    for j, x in enumerate(xs):
        x = x * 7 % P_
        expect = 1
        for r in roots:
            expect = expect * (x - r) % P_
        assert int(values[j]) == expect
