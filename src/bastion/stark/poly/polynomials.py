"""Polynomial kernels the prover and verifier share: barycentric evaluation, vanishing products,
linear combinations of columns with extension coefficients, and DEEP quotients.

Numba kernels for whole domains; the verifier's few scalars go through ``field/scalar``. The tests compare
the kernels with ``tests/stark/oracles/poly.py``.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R
from bastion.stark.field.goldilocks import W, add, ext_mul, inv, mul, sub

U64 = NDArray[np.uint64]
Ext = tuple[int, int]


def domain_points(size: int, shift: int) -> U64:
    """shift * omega_size^i for i < size."""
    out: U64 = F.mul_vec(F.powers(F.root_of_unity(size.bit_length() - 1), size), np.uint64(shift % F.P_INT))
    return out


# -- barycentric evaluation of a column given on the subgroup, at an extension point ----------------


@nb.njit(cache=True, nogil=True)
def _bary_terms(values: U64, omegas: U64, inv_denoms: U64) -> tuple[np.uint64, np.uint64]:
    # sum_i v_i * w^i / (z - w^i) with inv_denoms[i] = 1/(z - w^i) in the extension
    acc0 = np.uint64(0)
    acc1 = np.uint64(0)
    for i in range(values.shape[0]):
        t = mul(values[i], omegas[i])
        acc0 = add(acc0, mul(t, inv_denoms[i, 0]))
        acc1 = add(acc1, mul(t, inv_denoms[i, 1]))
    return acc0, acc1


def barycentric_eval(values: U64, z: Ext) -> Ext:
    """f(z) for the polynomial of degree < L with f(omega_L^i) = values[i]; z outside the subgroup.

    f(z) = (z^L - 1)/L * sum_i values[i] * omega^i / (z - omega^i).  O(L) with one batch inversion.
    """
    L = values.shape[0]
    omegas = F.powers(F.root_of_unity(L.bit_length() - 1), L)
    denoms = np.empty((L, 2), dtype=np.uint64)
    denoms[:, 0] = F.sub_vec(np.uint64(z[0]), omegas)
    denoms[:, 1] = np.uint64(z[1])
    inv_denoms = F.ext_batch_inv(denoms)
    s = _bary_terms(np.ascontiguousarray(values, dtype=np.uint64), omegas, inv_denoms)
    zl = R.ext_pow(z, L)
    factor = R.ext_scale(R.ext_sub(zl, (1, 0)), R.inv(L))
    return R.ext_mul(factor, (int(s[0]), int(s[1])))


# -- vanishing products over a domain -------------------------------------------------------------


@nb.njit(cache=True, nogil=True, parallel=True)
def _excluded_product(xs: U64, roots: U64, out: U64) -> None:
    # out[j] = prod_r (xs[j] - roots[r])
    for j in nb.prange(xs.shape[0]):
        acc = np.uint64(1)
        x = xs[j]
        for r in range(roots.shape[0]):
            acc = mul(acc, sub(x, roots[r]))
        out[j] = acc


def excluded_product(xs: U64, roots: U64) -> U64:
    """prod_r (x - r) at every x: the direct form (reference for :func:`vanishing_on_coset`)."""
    out = np.empty_like(xs)
    _excluded_product(np.ascontiguousarray(xs), np.ascontiguousarray(roots, dtype=np.uint64), out)
    return out


_DIRECT_ROOTS = 64


def vanishing_coeffs(roots: list[int]) -> list[int]:
    """Coefficients (lowest first) of prod_r (x - r).

    A product tree with NTT multiplications above 64 roots (O(k log^2 k)): a batch whose used rows are
    far below the trace length excludes tens of thousands of rows, where the direct O(k^2) loop takes hours.
    """
    if len(roots) <= _DIRECT_ROOTS:
        return vanishing_coeffs_direct(roots)
    return [int(c) for c in _vanishing_tree(roots)]


def _vanishing_tree(roots: list[int]) -> U64:
    if len(roots) <= _DIRECT_ROOTS:
        return np.array(vanishing_coeffs_direct(roots), dtype=np.uint64)
    mid = len(roots) // 2
    return poly_mul(_vanishing_tree(roots[:mid]), _vanishing_tree(roots[mid:]))


def poly_mul(a: U64, b: U64) -> U64:
    """Product of two coefficient vectors (lowest first) by NTT convolution."""
    from bastion.stark.poly.ntt import intt, ntt

    m = len(a) + len(b) - 1
    size = 1 << (m - 1).bit_length()
    fa = np.zeros(size, dtype=np.uint64)
    fb = np.zeros(size, dtype=np.uint64)
    fa[: len(a)] = a
    fb[: len(b)] = b
    out: U64 = intt(F.mul_vec(ntt(fa), ntt(fb)))[:m]
    return out


def vanishing_coeffs_direct(roots: list[int]) -> list[int]:
    """prod_r (x - r) by repeated multiplication: the reference for :func:`vanishing_coeffs`."""
    coeffs = [1]
    for r in roots:
        shifted = [0, *coeffs]  # x * c(x)
        for i, c in enumerate(coeffs):
            shifted[i] = (shifted[i] - r * c) % R.P
        coeffs = shifted
    return coeffs


def vanishing_on_coset(roots: list[int], size: int, shift: int) -> U64:
    """prod_r (x - r) over the coset shift * <omega_size>, through its coefficients and NTTs: O(size log k)
    instead of O(size * k) for k roots."""
    from bastion.stark.poly.ntt import coset_evaluate

    coeffs = vanishing_coeffs(roots)
    width = 1 << max(0, (len(coeffs) - 1).bit_length())
    # pad to a quarter of the domain: four long transforms beat thousands of tiny ones
    width = max(width, size // 4, 1)
    padded = np.zeros((1, width), dtype=np.uint64)
    padded[0, : len(coeffs)] = coeffs
    out: U64 = coset_evaluate(padded, size, shift)[0]
    return out


# -- linear combinations with extension coefficients ------------------------------------------------


@nb.njit(cache=True, nogil=True, parallel=True)
def _combine_base_columns(cols: U64, coeffs: U64, out: U64) -> None:
    # out[j] += sum_k coeffs[k] * cols[k, j]   (cols base, coeffs ext, out ext). ``coeffs`` may hold
    # several sets, shape (sets, k, 2), accumulated into out (sets, n, 2) in the same pass over the
    # columns (the DEEP sums at z and at g*z read the trace once). Per block of points the halves of
    # the extension accumulate in separate contiguous buffers so the column loop vectorizes.
    sets, k, _ = coeffs.shape
    n = cols.shape[1]
    block = 2048
    for b in nb.prange((n + block - 1) // block):
        lo = b * block
        hi = min(n, lo + block)
        m = hi - lo
        acc0 = np.zeros((sets, m), dtype=np.uint64)
        acc1 = np.zeros((sets, m), dtype=np.uint64)
        for c in range(k):
            src = cols[c, lo:hi]
            for t in range(sets):
                c0 = coeffs[t, c, 0]
                c1 = coeffs[t, c, 1]
                a0 = acc0[t]
                a1 = acc1[t]
                for j in range(m):
                    v = src[j]
                    a0[j] = add(a0[j], mul(v, c0))
                    a1[j] = add(a1[j], mul(v, c1))
        for t in range(sets):
            for j in range(m):
                out[t, lo + j, 0] = add(out[t, lo + j, 0], acc0[t, j])
                out[t, lo + j, 1] = add(out[t, lo + j, 1], acc1[t, j])


def combine_base_columns(cols: U64, coeffs: U64, out: U64) -> None:
    """out (n, 2) += sum_k coeffs[k] (ext) * cols[k] (base columns of length n). With coeffs of shape
    (sets, k, 2) and out (sets, n, 2), every set is accumulated in one pass over the columns."""
    if not cols.shape[0]:
        return
    c = np.ascontiguousarray(coeffs)
    if c.ndim == 2:
        _combine_base_columns(np.ascontiguousarray(cols), c[None], out[None])
    else:
        _combine_base_columns(np.ascontiguousarray(cols), c, out)


_DEEP_BLOCK = 2048  # rows a batch inversion covers: one field inversion per block, buffers in L1/L2


@nb.njit(cache=True, nogil=True, parallel=True)
def _deep_quotients(lde: U64, xs: U64, pts: U64, values: U64, out: U64) -> None:
    # out[j] = (A_z(x_j) - v_z) / (x_j - z) + (A_gz(x_j) - v_gz) / (x_j - gz) + M(x_j), with lde rows
    # A_z.c0, A_z.c1, A_gz.c0, A_gz.c1, M.c0, M.c1 and pts = [z, gz]. 1/(x - z) = (x - z0 + z1 X) / N_z(x),
    # N_z(x) = (x - z0)^2 - 7 z1^2 a base-field norm, never zero off the point; both norms of a row are
    # inverted through their product, and a block's products through one inversion (Montgomery's trick).
    n = xs.shape[0]
    z0, z1, g0, g1 = pts[0, 0], pts[0, 1], pts[1, 0], pts[1, 1]
    wz = mul(W, mul(z1, z1))
    wg = mul(W, mul(g1, g1))
    v0, v1, u0, u1 = values[0, 0], values[0, 1], values[1, 0], values[1, 1]
    for b in nb.prange((n + _DEEP_BLOCK - 1) // _DEEP_BLOCK):
        lo = b * _DEEP_BLOCK
        hi = min(n, lo + _DEEP_BLOCK)
        nz = np.empty(hi - lo, dtype=np.uint64)
        ng = np.empty(hi - lo, dtype=np.uint64)
        prefix = np.empty(hi - lo, dtype=np.uint64)
        acc = np.uint64(1)
        for j in range(lo, hi):
            dz = sub(xs[j], z0)
            dg = sub(xs[j], g0)
            a = sub(mul(dz, dz), wz)
            c = sub(mul(dg, dg), wg)
            nz[j - lo] = a
            ng[j - lo] = c
            prefix[j - lo] = acc
            acc = mul(acc, mul(a, c))
        inv_acc = inv(acc)
        for j in range(hi - 1, lo - 1, -1):
            a = nz[j - lo]
            c = ng[j - lo]
            inv_both = mul(inv_acc, prefix[j - lo])  # 1 / (N_z N_gz)
            inv_acc = mul(inv_acc, mul(a, c))
            inv_a = mul(inv_both, c)
            inv_c = mul(inv_both, a)
            x = xs[j]
            tz0, tz1 = ext_mul(sub(lde[0, j], v0), sub(lde[1, j], v1), mul(sub(x, z0), inv_a), mul(z1, inv_a))
            tg0, tg1 = ext_mul(sub(lde[2, j], u0), sub(lde[3, j], u1), mul(sub(x, g0), inv_c), mul(g1, inv_c))
            out[j, 0] = add(add(tz0, tg0), lde[4, j])
            out[j, 1] = add(add(tz1, tg1), lde[5, j])


def deep_quotients(lde: U64, xs: U64, z: Ext, gz: Ext, value_z: Ext, value_gz: Ext) -> U64:
    """The DEEP polynomial on the points ``xs``: (A_z - value_z)/(x - z) + (A_gz - value_gz)/(x - gz) + M,
    given ``lde`` (6, N) = A_z, A_gz, M as extension columns in base pairs. Returns (N, 2). Neither z nor gz
    may be one of the points (the prover draws z off the LDE coset)."""
    out = np.empty((xs.shape[0], 2), dtype=np.uint64)
    pts = np.array([z, gz], dtype=np.uint64)
    values = np.array([value_z, value_gz], dtype=np.uint64)
    _deep_quotients(np.ascontiguousarray(lde), np.ascontiguousarray(xs), pts, values, out)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _eval_columns_at(coeffs: U64, z0: np.uint64, z1: np.uint64, out: U64) -> None:
    k, n = coeffs.shape
    for c in nb.prange(k):
        a0 = np.uint64(0)
        a1 = np.uint64(0)
        for i in range(n - 1, -1, -1):
            a0, a1 = ext_mul(a0, a1, z0, z1)
            a0 = add(a0, coeffs[c, i])
        out[c, 0] = a0
        out[c, 1] = a1


def eval_columns_at(coeffs: U64, z: Ext) -> U64:
    """Each base coefficient column (k, n) evaluated at the extension point z: (k, 2)."""
    out = np.empty((coeffs.shape[0], 2), dtype=np.uint64)
    _eval_columns_at(np.ascontiguousarray(coeffs), np.uint64(z[0]), np.uint64(z[1]), out)
    return out


def ext_from_base_pair(a: Ext, b: Ext) -> Ext:
    """Value at z of the extension polynomial A + X*B, given A(z) and B(z)."""
    # X * (b0 + b1 X) = 7 b1 + b0 X
    return ((a[0] + F.W_INT * b[1]) % R.P, (a[1] + b[0]) % R.P)


@nb.njit(cache=True, nogil=True)
def _acc_base(acc0: U64, acc1: U64, values: U64, a0: np.uint64, a1: np.uint64) -> None:
    for j in range(acc0.shape[0]):
        v = values[j]
        acc0[j] = add(acc0[j], mul(v, a0))
        acc1[j] = add(acc1[j], mul(v, a1))


@nb.njit(cache=True, nogil=True)
def _acc_ext(acc0: U64, acc1: U64, v0: U64, v1: U64, a0: np.uint64, a1: np.uint64) -> None:
    for j in range(acc0.shape[0]):
        t0, t1 = ext_mul(v0[j], v1[j], a0, a1)
        acc0[j] = add(acc0[j], t0)
        acc1[j] = add(acc1[j], t1)


def accumulate_scaled(acc: U64, values: U64, coeff: Ext) -> None:
    """acc += coeff * values. ``acc`` is an extension array stored as two planes, shape (2, m) (c0 and c1
    rows, each contiguous, so the loops vectorize); values base (m,) or extension (m, 2), or length 1."""
    m = acc.shape[1]
    v = np.asarray(values)
    if v.shape[0] != m:
        v = np.broadcast_to(v, (m, *v.shape[1:]))
    a0, a1 = np.uint64(coeff[0]), np.uint64(coeff[1])
    if v.ndim == 1:
        _acc_base(acc[0], acc[1], np.ascontiguousarray(v), a0, a1)
    else:
        _acc_ext(acc[0], acc[1], np.ascontiguousarray(v[:, 0]), np.ascontiguousarray(v[:, 1]), a0, a1)


def eval_columns_barycentric_many(evals: U64, points: list[Ext]) -> list[U64]:
    """Every column at every point, reading the columns once: a list of (k, 2) arrays.

    f(z) = (z^n - 1)/n * sum_i f_i w^i / (z - w^i): one batch inversion a point, shared by every column,
    then weighted sums (no coefficients needed)."""
    k, n = evals.shape
    omegas = F.powers(F.root_of_unity(n.bit_length() - 1), n)
    weights = np.empty((len(points), n, 2), dtype=np.uint64)
    for t, z in enumerate(points):
        den = np.empty((n, 2), dtype=np.uint64)
        den[:, 0] = F.sub_vec(np.uint64(z[0]), omegas)
        den[:, 1] = np.uint64(z[1])
        weights[t] = F.mul_vec(F.ext_batch_inv(den), omegas[:, None])
    sums = np.zeros((len(points), k, 2), dtype=np.uint64)
    # the same kernel as the DEEP sums, with columns and points swapped: sum_i evals[c, i] * weight_t[i]
    _weighted_sums(np.ascontiguousarray(evals), weights, sums)
    out = []
    for t, z in enumerate(points):
        factor = R.ext_scale(R.ext_sub(R.ext_pow(z, n), (1, 0)), R.inv(n))
        res = np.empty((k, 2), dtype=np.uint64)
        for c in range(k):
            res[c] = R.ext_mul(factor, (int(sums[t, c, 0]), int(sums[t, c, 1])))
        out.append(res)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _weighted_sums(evals: U64, weights: U64, out: U64) -> None:
    k, n = evals.shape
    sets = weights.shape[0]
    for c in nb.prange(k):
        col = evals[c]
        for t in range(sets):
            w = weights[t]
            a0 = np.uint64(0)
            a1 = np.uint64(0)
            for i in range(n):
                a0 = add(a0, mul(col[i], w[i, 0]))
                a1 = add(a1, mul(col[i], w[i, 1]))
            out[t, c, 0] = a0
            out[t, c, 1] = a1


@nb.njit(cache=True, nogil=True)
def _ext_product_of_differences(z0: np.uint64, z1: np.uint64, roots: U64) -> tuple[np.uint64, np.uint64]:
    a0 = np.uint64(1)
    a1 = np.uint64(0)
    for i in range(roots.shape[0]):
        a0, a1 = ext_mul(a0, a1, sub(z0, roots[i]), z1)
    return a0, a1


def ext_product_of_differences(z: Ext, roots: U64) -> Ext:
    """prod_i (z - roots[i]) for an extension point z and base-field roots (the verifier's E(z))."""
    r = _ext_product_of_differences(np.uint64(z[0]), np.uint64(z[1]), np.ascontiguousarray(roots, dtype=np.uint64))
    return (int(r[0]), int(r[1]))
