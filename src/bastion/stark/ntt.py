"""Number-theoretic transforms over Goldilocks, for many columns at once.

Arrays are column-major: shape ``(k, n)``, one contiguous row of the array per polynomial, in natural
order (evaluation i is at ``shift * omega_n^i``; coefficient i multiplies ``x^i``). Extension-field
columns are transformed as two base columns (the transform is linear over the base field).

The kernel is an iterative radix-2 decimation-in-time transform: a bit-reversal permutation, then the
first stages inside cache-sized blocks, then the remaining stages as full sweeps. Columns run in
parallel. ``bastion.stark.ntt_ref`` is the quadratic-time reference the tests compare against.
"""

from __future__ import annotations

from functools import lru_cache

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark import field as F
from bastion.stark.field import add, mul, sub

U64 = NDArray[np.uint64]
_BLOCK_LOG = 11  # 2^11 uint64 = 16 KiB: the first stages stay in L1/L2


@lru_cache(maxsize=64)
def twiddles(log_n: int, inverse: bool) -> U64:
    """Per-stage twiddles, concatenated: stage s (half-size m = 2^s) holds omega_{2m}^o for o < m at
    offset m - 1, so every stage reads its twiddles contiguously (this keeps the butterflies vectorized)."""
    n = 1 << log_n
    out = np.zeros(max(n - 1, 1), dtype=np.uint64)
    for s in range(log_n):
        m = 1 << s
        w = F.root_of_unity(s + 1)
        if inverse:
            w = pow(w, F.P_INT - 2, F.P_INT)
        out[m - 1 : 2 * m - 1] = F.powers(w, m)
    return out


@lru_cache(maxsize=64)
def bit_reversal(log_n: int) -> NDArray[np.int64]:
    n = 1 << log_n
    idx = np.arange(n, dtype=np.int64)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(log_n):
        rev |= ((idx >> b) & 1) << (log_n - 1 - b)
    return rev


@nb.njit(cache=True, nogil=True, inline="always")
def _butterflies(a: U64, tw: U64, g: int, m: int) -> None:
    for o in range(m):
        w = tw[m - 1 + o]
        u = a[g + o]
        v = mul(a[g + o + m], w)
        a[g + o] = add(u, v)
        a[g + o + m] = sub(u, v)


@nb.njit(cache=True, nogil=True)
def _ntt_column(a: U64, tw: U64, rev: NDArray[np.int64], log_n: int) -> None:
    n = a.shape[0]
    for i in range(n):
        j = rev[i]
        if i < j:
            t = a[i]
            a[i] = a[j]
            a[j] = t
    block_log = min(_BLOCK_LOG, log_n)
    block = 1 << block_log
    # stages whose butterflies stay inside one block
    for start in range(0, n, block):
        for s in range(block_log):
            m = 1 << s
            for g in range(start, start + block, 2 * m):
                _butterflies(a, tw, g, m)
    # the remaining stages sweep the whole column
    for s in range(block_log, log_n):
        m = 1 << s
        for g in range(0, n, 2 * m):
            _butterflies(a, tw, g, m)


@nb.njit(cache=True, nogil=True, parallel=True)
def _ntt_columns(a: U64, tw: U64, rev: NDArray[np.int64], log_n: int) -> None:
    for c in nb.prange(a.shape[0]):
        _ntt_column(a[c], tw, rev, log_n)


@nb.njit(cache=True, nogil=True, parallel=True)
def _scale_columns(a: U64, factors: U64) -> None:
    # a[c, i] *= factors[i]
    k, n = a.shape
    for c in nb.prange(k):
        for i in range(n):
            a[c, i] = mul(a[c, i], factors[i])


def _log2(n: int) -> int:
    if n <= 0 or n & (n - 1):
        raise ValueError(f"length {n} is not a power of two")
    return n.bit_length() - 1


def _as_2d(cols: U64) -> U64:
    a = np.asarray(cols, dtype=np.uint64)
    if a.ndim == 1:
        return a[None, :]
    return a


def ntt(cols: U64) -> U64:
    """Evaluations at omega_n^i of the polynomials with these coefficient columns (a new array)."""
    a = np.array(_as_2d(cols), dtype=np.uint64, order="C", copy=True)
    log_n = _log2(a.shape[1])
    _ntt_columns(a, twiddles(log_n, False), bit_reversal(log_n), log_n)
    return a.reshape(np.shape(cols))


def intt(cols: U64) -> U64:
    """Coefficients of the polynomials with these evaluations on the subgroup (a new array)."""
    a = np.array(_as_2d(cols), dtype=np.uint64, order="C", copy=True)
    n = a.shape[1]
    log_n = _log2(n)
    _ntt_columns(a, twiddles(log_n, True), bit_reversal(log_n), log_n)
    n_inv = pow(n, F.P_INT - 2, F.P_INT)
    scaled: U64 = F.mul_vec(a, np.uint64(n_inv))
    return scaled.reshape(np.shape(cols))


@nb.njit(cache=True, nogil=True, parallel=True)
def _coset_evaluate(coeffs: U64, coset_powers: U64, tw: U64, rev: NDArray[np.int64], log_n: int, out: U64) -> None:
    # The evaluation coset of size B*n splits into B cosets of <omega_n>: point B*i + r is
    # (shift * omega_N^r) * omega_n^i. Each is one size-n NTT of the coefficients scaled by the powers
    # of its offset, so no transform runs over zero padding and each works on n elements only.
    k, n = coeffs.shape
    b = coset_powers.shape[0]
    for task in nb.prange(k * b):
        c = task // b
        r = task % b
        buf = np.empty(n, dtype=np.uint64)
        for i in range(n):
            buf[i] = mul(coeffs[c, i], coset_powers[r, i])
        _ntt_column(buf, tw, rev, log_n)
        for i in range(n):
            out[c, i * b + r] = buf[i]


def coset_evaluate(coeffs: U64, size: int, shift: int) -> U64:
    """Evaluate coefficient columns (k, n) on the coset shift * <omega_size>, size >= n: (k, size)."""
    c = np.ascontiguousarray(_as_2d(coeffs), dtype=np.uint64)
    k, n = c.shape
    if size < n:
        raise ValueError("coset smaller than the polynomial")
    log_size = _log2(size)
    log_n = _log2(n)
    blowup = size // n
    w = F.root_of_unity(log_size)
    offsets = [shift * pow(w, r, F.P_INT) % F.P_INT for r in range(blowup)]
    coset_powers = np.stack([F.powers(o, n) for o in offsets])
    out = np.empty((k, size), dtype=np.uint64)
    _coset_evaluate(c, coset_powers, twiddles(log_n, False), bit_reversal(log_n), log_n, out)
    return out


def coset_interpolate(evals: U64, shift: int) -> U64:
    """Coefficients from evaluations (k, n) on the coset shift * <omega_n>."""
    a = intt(_as_2d(evals))
    inv_shift = pow(shift % F.P_INT, F.P_INT - 2, F.P_INT)
    _scale_columns(a, F.powers(inv_shift, a.shape[1]))
    return a


def lde(evals: U64, blowup: int, shift: int) -> U64:
    """Low-degree extension: evaluations on the subgroup of size n -> on the coset shift*<omega_{n*blowup}>."""
    coeffs = intt(_as_2d(evals))
    return coset_evaluate(coeffs, coeffs.shape[1] * blowup, shift)


def ext_columns_to_base(cols: U64) -> U64:
    """(k, n, 2) extension columns -> (2k, n) base columns [c0 of col 0, c1 of col 0, c0 of col 1, ...]."""
    k, n, _ = cols.shape
    return np.ascontiguousarray(cols.transpose(0, 2, 1)).reshape(2 * k, n)


def base_columns_to_ext(cols: U64) -> U64:
    """Inverse of :func:`ext_columns_to_base`."""
    k2, n = cols.shape
    return np.ascontiguousarray(cols.reshape(k2 // 2, 2, n).transpose(0, 2, 1))
