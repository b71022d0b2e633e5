"""Number-theoretic transforms over Goldilocks, for many columns at once.

Arrays are column-major: shape ``(k, n)``, one contiguous row of the array per polynomial, in natural
order (evaluation i is at ``shift * omega_n^i``; coefficient i multiplies ``x^i``). Extension-field
columns are transformed as two base columns (the transform is linear over the base field).

Kernels: radix-2 decimation in time (bit-reversed in, natural out) and in frequency (natural in,
bit-reversed out). The first stages run inside 64 KiB blocks; the upper stages run on 64 neighbouring
indices at once in a gathered buffer, so each element crosses memory once for all of them. The low-degree
extension pairs an inverse DIF with coset DITs and never permutes. Columns run in parallel.
``tests/stark/oracles/ntt.py`` is the quadratic-time reference the tests compare against.
"""

from __future__ import annotations

from functools import lru_cache

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark.field import goldilocks as F
from bastion.stark.field.goldilocks import add, mul, sub
from bastion.stark.poly import buffers

U64 = NDArray[np.uint64]
_BLOCK_LOG = 13  # 2^13 uint64 = 64 KiB: the first stages stay in L2


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


@nb.njit(cache=True, nogil=True)
def _bit_reversal_table(log_n: int) -> NDArray[np.int64]:
    n = 1 << log_n
    rev = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        rev[i] = (rev[i >> 1] >> 1) | ((i & 1) << (log_n - 1))
    return rev


@lru_cache(maxsize=64)
def bit_reversal(log_n: int) -> NDArray[np.int64]:
    if log_n == 0:
        return np.zeros(1, dtype=np.int64)
    out: NDArray[np.int64] = _bit_reversal_table(log_n)
    return out


@nb.njit(cache=True, nogil=True, inline="always")
def _dit_butterflies(a: U64, tw: U64, g: int, m: int) -> None:
    # Separate views of the two halves and the stage's twiddles: LLVM then sees three arrays it can
    # vectorize over, where indexing one array at g + o and g + o + m keeps the loop scalar (3x slower).
    lo = a[g : g + m]
    hi = a[g + m : g + 2 * m]
    w = tw[m - 1 : 2 * m - 1]
    for o in range(m):
        u = lo[o]
        v = mul(hi[o], w[o])
        lo[o] = add(u, v)
        hi[o] = sub(u, v)


@nb.njit(cache=True, nogil=True, inline="always")
def _dif_butterflies(a: U64, tw: U64, g: int, m: int) -> None:
    lo = a[g : g + m]
    hi = a[g + m : g + 2 * m]
    w = tw[m - 1 : 2 * m - 1]
    for o in range(m):
        u = lo[o]
        v = hi[o]
        lo[o] = add(u, v)
        hi[o] = mul(sub(u, v), w[o])


@nb.njit(cache=True, nogil=True, inline="always")
def _dit_first_two(a: U64, start: int, stop: int, w4: np.uint64) -> None:
    # Stages 0 and 1 fused into radix-4 butterflies (twiddles 1, 1 and w4 = omega_4): their groups are
    # too short (1 and 2 butterflies) for the generic loop to run fast.
    for g in range(start, stop, 4):
        b0 = add(a[g], a[g + 1])
        b1 = sub(a[g], a[g + 1])
        b2 = add(a[g + 2], a[g + 3])
        b3 = mul(sub(a[g + 2], a[g + 3]), w4)
        a[g] = add(b0, b2)
        a[g + 2] = sub(b0, b2)
        a[g + 1] = add(b1, b3)
        a[g + 3] = sub(b1, b3)


@nb.njit(cache=True, nogil=True, inline="always")
def _dif_last_two(a: U64, start: int, stop: int, w4: np.uint64) -> None:
    for g in range(start, stop, 4):
        b0 = add(a[g], a[g + 2])
        b2 = sub(a[g], a[g + 2])
        b1 = add(a[g + 1], a[g + 3])
        b3 = mul(sub(a[g + 1], a[g + 3]), w4)
        a[g] = add(b0, b1)
        a[g + 1] = sub(b0, b1)
        a[g + 2] = add(b2, b3)
        a[g + 3] = sub(b2, b3)


_LANES = 64  # eight 64-byte cache lines: the upper stages work on 64 neighbouring indices at once


@nb.njit(cache=True, nogil=True)
def _upper_stages(a: U64, tw: U64, log_n: int, low_log: int, dif: bool) -> None:
    # Stages low_log..log_n-1 pair elements 2^low_log or more apart. For each run of 8 neighbouring
    # indices l0..l0+7 (one cache line), the elements l + j*2^low_log form 8 independent sub-transforms
    # of size 2^(log_n - low_log): gather them into a small buffer, run all those stages there with the
    # 8 lanes in the inner loop (vectorized), scatter back. One pass over memory instead of one per stage.
    n = a.shape[0]
    stride = 1 << low_log
    rows = n >> low_log
    buf = np.empty((rows, _LANES), dtype=np.uint64)
    for l0 in range(0, stride, _LANES):
        for j in range(rows):
            src = a[l0 + j * stride : l0 + j * stride + _LANES]
            dst = buf[j]
            for t in range(_LANES):
                dst[t] = src[t]
        for step in range(log_n - low_log):
            s = (log_n - 1 - step) if dif else (low_log + step)
            m = 1 << s
            half = m >> low_log
            for g in range(0, rows, 2 * half):
                for jj in range(half):
                    base = m - 1 + l0 + jj * stride
                    w = tw[base : base + _LANES]
                    r0 = buf[g + jj]
                    r1 = buf[g + jj + half]
                    if dif:
                        for t in range(_LANES):
                            u = r0[t]
                            v = r1[t]
                            r0[t] = add(u, v)
                            r1[t] = mul(sub(u, v), w[t])
                    else:
                        for t in range(_LANES):
                            u = r0[t]
                            v = mul(r1[t], w[t])
                            r0[t] = add(u, v)
                            r1[t] = sub(u, v)
        for j in range(rows):
            src = buf[j]
            dst = a[l0 + j * stride : l0 + j * stride + _LANES]
            for t in range(_LANES):
                dst[t] = src[t]


_T_LANES = 64  # groups of 8 handled at once by the transposed first/last three stages (4 KiB of scratch)
_T_LOG = 9  # log2(8 * _T_LANES): the transposed stages need columns (and blocks) at least this long


@nb.njit(cache=True, nogil=True, inline="always")
def _gather8(buf: U64, src: U64, base: int) -> None:
    # buf[j, t] = element 8t + j of the run at base: the transposition that puts one group of 8 per lane,
    # so the radix-8 butterflies below run across lanes (vectorized)
    for t in range(_T_LANES):
        for j in range(8):
            buf[j, t] = src[base + 8 * t + j]


@nb.njit(cache=True, nogil=True, inline="always")
def _scatter8(buf: U64, dst: U64, base: int) -> None:
    for t in range(_T_LANES):
        for j in range(8):
            dst[base + 8 * t + j] = buf[j, t]


@nb.njit(cache=True, nogil=True)
def _dit_first_three(a: U64, buf: U64, w4: np.uint64, w8: np.uint64, w83: np.uint64) -> None:
    """DIT stages 0-2 in place (twiddles 1 | 1, w4 | 1, w8, w4, w8^3), as radix-8 butterflies on 64 groups
    at once. Groups of 8 neighbours are too short for the stage loops to vectorize (stage 2 ran at 4.5 ns
    a butterfly, 8x the wide stages); transposed, they run at the wide stages' speed."""
    x0, x1, x2, x3, x4, x5, x6, x7 = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7]
    for base in range(0, a.shape[0], 8 * _T_LANES):
        _gather8(buf, a, base)
        for t in range(_T_LANES):
            a0 = add(x0[t], x1[t])
            a1 = sub(x0[t], x1[t])
            a2 = add(x2[t], x3[t])
            a3 = mul(sub(x2[t], x3[t]), w4)
            a4 = add(x4[t], x5[t])
            a5 = sub(x4[t], x5[t])
            a6 = add(x6[t], x7[t])
            a7 = mul(sub(x6[t], x7[t]), w4)
            b0 = add(a0, a2)
            b2 = sub(a0, a2)
            b1 = add(a1, a3)
            b3 = sub(a1, a3)
            b4 = add(a4, a6)
            b6 = sub(a4, a6)
            b5 = add(a5, a7)
            b7 = sub(a5, a7)
            t5 = mul(b5, w8)
            t6 = mul(b6, w4)
            t7 = mul(b7, w83)
            x0[t] = add(b0, b4)
            x4[t] = sub(b0, b4)
            x1[t] = add(b1, t5)
            x5[t] = sub(b1, t5)
            x2[t] = add(b2, t6)
            x6[t] = sub(b2, t6)
            x3[t] = add(b3, t7)
            x7[t] = sub(b3, t7)
        _scatter8(buf, a, base)


@nb.njit(cache=True, nogil=True)
def _dif_last_three(a: U64, buf: U64, w4: np.uint64, w8: np.uint64, w83: np.uint64) -> None:
    """DIF stages 2-0 in place (the mirror of :func:`_dit_first_three`, with inverse-table twiddles)."""
    x0, x1, x2, x3, x4, x5, x6, x7 = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7]
    for base in range(0, a.shape[0], 8 * _T_LANES):
        _gather8(buf, a, base)
        for t in range(_T_LANES):
            y0 = add(x0[t], x4[t])
            y4 = sub(x0[t], x4[t])
            y1 = add(x1[t], x5[t])
            y5 = mul(sub(x1[t], x5[t]), w8)
            y2 = add(x2[t], x6[t])
            y6 = mul(sub(x2[t], x6[t]), w4)
            y3 = add(x3[t], x7[t])
            y7 = mul(sub(x3[t], x7[t]), w83)
            b0 = add(y0, y2)
            b2 = sub(y0, y2)
            b1 = add(y1, y3)
            b3 = mul(sub(y1, y3), w4)
            b4 = add(y4, y6)
            b6 = sub(y4, y6)
            b5 = add(y5, y7)
            b7 = mul(sub(y5, y7), w4)
            x0[t] = add(b0, b1)
            x1[t] = sub(b0, b1)
            x2[t] = add(b2, b3)
            x3[t] = sub(b2, b3)
            x4[t] = add(b4, b5)
            x5[t] = sub(b4, b5)
            x6[t] = add(b6, b7)
            x7[t] = sub(b6, b7)
        _scatter8(buf, a, base)


@nb.njit(cache=True, nogil=True)
def _scale_into(dst: U64, src: U64, pw: U64) -> None:
    for i in range(dst.shape[0]):
        dst[i] = mul(src[i], pw[i])


@nb.njit(cache=True, nogil=True)
def _dit_from(dst: U64, src: U64, pw: U64, scale: bool, tw: U64, log_n: int, upper: bool = True) -> None:
    """dst := DIT of (src times pw elementwise) if scale, else DIT of dst in place (src and pw unused):
    bit-reversed input, natural-order output. ``upper=False`` stops after the in-block stages (the caller
    runs the stages above _BLOCK_LOG itself, see :func:`_upper_stages_interleaved`)."""
    n = dst.shape[0]
    if log_n < _T_LOG:  # shorter than one transposed run (8 x 64): the plain stages
        for i in range(n):
            if scale:
                dst[i] = mul(src[i], pw[i])
        if log_n >= 2:
            _dit_first_two(dst, 0, n, tw[2])
        for s in range(2 if log_n >= 2 else 0, log_n):
            m = 1 << s
            for g in range(0, n, 2 * m):
                _dit_butterflies(dst, tw, g, m)
        return
    block_log = min(_BLOCK_LOG, log_n)
    block = 1 << block_log
    buf = np.empty((8, _T_LANES), dtype=np.uint64)
    w4, w8, w83 = tw[2], tw[4], tw[6]
    for start in range(0, n, block):
        if scale:  # a vectorized pass of its own: fused into the transposing gather it ran 4x slower
            _scale_into(dst[start : start + block], src[start : start + block], pw[start : start + block])
        _dit_first_three(dst[start : start + block], buf, w4, w8, w83)
        for s in range(3, block_log):
            m = 1 << s
            for g in range(start, start + block, 2 * m):
                _dit_butterflies(dst, tw, g, m)
    if upper and block_log < log_n:
        _upper_stages(dst, tw, log_n, block_log, False)


@nb.njit(cache=True, nogil=True)
def _upper_stages_interleaved(bufs: U64, tw: U64, log_n: int, low_log: int, out: U64) -> None:
    """The DIT stages low_log..log_n-1 of the b rows of ``bufs`` (b, n) at once, written interleaved:
    out[i * b + r] = (transform of row r)[i]. The coset LDE's sub-cosets leave the upper stages in one
    buffer per sub-coset; scattering them interleaved here saves a separate pass over the 4n output."""
    b, n = bufs.shape
    stride = 1 << low_log
    rows = n >> low_log
    ub = np.empty((b, rows, _LANES), dtype=np.uint64)
    for l0 in range(0, stride, _LANES):
        for r in range(b):
            u = ub[r]
            src_row = bufs[r]
            for j in range(rows):
                src = src_row[l0 + j * stride : l0 + j * stride + _LANES]
                dst = u[j]
                for t in range(_LANES):
                    dst[t] = src[t]
            for step in range(log_n - low_log):
                m = 1 << (low_log + step)
                half = m >> low_log
                for g in range(0, rows, 2 * half):
                    for jj in range(half):
                        base = m - 1 + l0 + jj * stride
                        w = tw[base : base + _LANES]
                        r0 = u[g + jj]
                        r1 = u[g + jj + half]
                        for t in range(_LANES):
                            x = r0[t]
                            v = mul(r1[t], w[t])
                            r0[t] = add(x, v)
                            r1[t] = sub(x, v)
        for j in range(rows):
            run = out[(l0 + j * stride) * b : (l0 + j * stride + _LANES) * b]
            for t in range(_LANES):
                for r in range(b):
                    run[t * b + r] = ub[r, j, t]


@nb.njit(cache=True, nogil=True)
def _dit(a: U64, tw: U64, log_n: int) -> None:
    """In place: bit-reversed input, natural-order output."""
    _dit_from(a, a, a, False, tw, log_n)


@nb.njit(cache=True, nogil=True)
def _dif(a: U64, tw: U64, log_n: int) -> None:
    """In place: natural-order input, bit-reversed output."""
    n = a.shape[0]
    if log_n < _T_LOG:
        for s in range(log_n - 1, 1, -1):
            m = 1 << s
            for g in range(0, n, 2 * m):
                _dif_butterflies(a, tw, g, m)
        if log_n >= 2:
            _dif_last_two(a, 0, n, tw[2])
        elif log_n == 1:
            _dif_butterflies(a, tw, 0, 1)
        return
    block_log = min(_BLOCK_LOG, log_n)
    block = 1 << block_log
    if block_log < log_n:
        _upper_stages(a, tw, log_n, block_log, True)
    buf = np.empty((8, _T_LANES), dtype=np.uint64)
    w4, w8, w83 = tw[2], tw[4], tw[6]
    for start in range(0, n, block):
        for s in range(block_log - 1, 2, -1):
            m = 1 << s
            for g in range(start, start + block, 2 * m):
                _dif_butterflies(a, tw, g, m)
        _dif_last_three(a[start : start + block], buf, w4, w8, w83)


_TILE_LOG = 6  # the bit-reversal copy moves 64 x 64 tiles (32 KiB: L1)


@nb.njit(cache=True, nogil=True)
def _bitrev_copy(src: U64, dst: U64, rev: NDArray[np.int64], log_n: int, h: int) -> None:
    """dst[rev(i)] = src[i]. Index i = hi|mid|lo (6, log_n - 12, 6 bits) goes to rev(lo)|rev(mid)|rev(hi): a
    64 x 64 tile (fixed mid) read as 64 runs of 64 and written as 64 runs of 64 through a buffer, instead of
    one cache miss an element (the in-place swap permutation cost more than the transform at 2^20)."""
    # h (= _TILE_LOG) comes down from Python as an argument, not as the global constant: with the tile size
    # known at compile time LLVM turned the transposing loop into AVX-512 scatters and the copy ran 5x slower
    n = src.shape[0]
    if log_n < 2 * h:
        for i in range(n):
            dst[rev[i]] = src[i]
        return
    t = 1 << h
    m_bits = log_n - 2 * h
    hi_shift = log_n - h
    tile = np.empty((t, t), dtype=np.uint64)
    rev_h = np.empty(t, dtype=np.int64)  # rev(i) for i < 2^h is rev_h(i) << (log_n - h)
    for i in range(t):
        rev_h[i] = rev[i] >> hi_shift
    for mid in range(1 << m_bits):
        # read 64 runs of 64 into the tile transposed (tile[lo] = the run dst[rev(lo)|rev(mid) + 0..63])...
        for hi in range(t):
            s0 = (hi << hi_shift) | (mid << h)
            rh = rev_h[hi]
            for lo in range(t):
                tile[lo, rh] = src[s0 + lo]
        # ...and write each tile row as one contiguous run
        mid_r = rev[mid << h]
        for lo in range(t):
            d0 = rev[lo] | mid_r
            row = tile[lo]
            run = dst[d0 : d0 + t]
            for j in range(t):
                run[j] = row[j]


@nb.njit(cache=True, nogil=True, parallel=True)
def _ntt_columns(src: U64, dst: U64, tw: U64, rev: NDArray[np.int64], log_n: int, tile_log: int) -> None:
    for c in nb.prange(src.shape[0]):
        _bitrev_copy(src[c], dst[c], rev, log_n, tile_log)
        _dit(dst[c], tw, log_n)


@nb.njit(cache=True, nogil=True, parallel=True)
def _bitrev_columns(src: U64, dst: U64, rev: NDArray[np.int64], log_n: int, tile_log: int) -> None:
    for c in nb.prange(src.shape[0]):
        _bitrev_copy(src[c], dst[c], rev, log_n, tile_log)


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
    src = np.ascontiguousarray(_as_2d(cols), dtype=np.uint64)
    log_n = _log2(src.shape[1])
    out = np.empty_like(src)
    _ntt_columns(src, out, twiddles(log_n, False), bit_reversal(log_n), log_n, _TILE_LOG)
    return out.reshape(np.shape(cols))


def bitrev_columns(cols: U64) -> U64:
    """Each column of (k, n) with its entries in bit-reversed order (a new array)."""
    src = np.ascontiguousarray(_as_2d(cols), dtype=np.uint64)
    log_n = _log2(src.shape[1])
    out = np.empty_like(src)
    _bitrev_columns(src, out, bit_reversal(log_n), log_n, _TILE_LOG)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _intt_bitrev_columns(a: U64, tw_inv: U64, log_n: int, n_inv: np.uint64, scale: bool) -> None:
    for c in nb.prange(a.shape[0]):
        col = a[c]
        _dif(col, tw_inv, log_n)
        if scale:  # a pass of its own over a column that no longer fits in L2
            for i in range(col.shape[0]):
                col[i] = mul(col[i], n_inv)


def intt_bitrev(cols: U64, scaled: bool = True) -> U64:
    """Coefficients in BIT-REVERSED order (a new (k, n) array): the inverse transform without its
    permutation, for :func:`coset_evaluate_bitrev`, which wants exactly that order. ``scaled=False``
    leaves out the factor 1/n (n times the coefficients): :func:`lde` folds it into its coset powers."""
    a = np.array(_as_2d(cols), dtype=np.uint64, order="C", copy=True)
    n = a.shape[1]
    log_n = _log2(n)
    _intt_bitrev_columns(a, twiddles(log_n, True), log_n, np.uint64(pow(n, F.P_INT - 2, F.P_INT)), scaled)
    return a


def intt(cols: U64) -> U64:
    """Coefficients of the polynomials with these evaluations on the subgroup (a new array)."""
    return bitrev_columns(intt_bitrev(cols)).reshape(np.shape(cols))


@nb.njit(cache=True, nogil=True, parallel=True)
def _coset_evaluate_bitrev(coeffs_br: U64, coset_powers_br: U64, tw: U64, log_n: int, out: U64, workers: int) -> None:
    # The evaluation coset of size B*n splits into B cosets of <omega_n>: point B*i + r is
    # (shift * omega_N^r) * omega_n^i. Each is one size-n transform of the coefficients scaled by the
    # powers of its offset, so no transform runs over zero padding and each works on n elements only.
    # Coefficients arrive bit-reversed (as the inverse DIF leaves them), so the DIT needs no permutation.
    # One task per column: the B sub-transforms go to a buffer that is then interleaved in one
    # sequential pass (tasks writing interleaved elements of one row would fight over cache lines).
    # Each worker keeps one scratch buffer for all its columns (a fresh 4n buffer a column cost page faults
    # on 32 MB at 2^20), and the coset scaling is fused into the first transform pass.
    k, n = coeffs_br.shape
    b = coset_powers_br.shape[0]
    for wk in nb.prange(workers):
        buf = np.empty((b, n), dtype=np.uint64)
        for c in range(wk, k, workers):
            src = coeffs_br[c]
            if log_n > _BLOCK_LOG:
                for r in range(b):
                    _dit_from(buf[r], src, coset_powers_br[r], True, tw, log_n, False)
                _upper_stages_interleaved(buf, tw, log_n, _BLOCK_LOG, out[c])
            else:
                for r in range(b):
                    _dit_from(buf[r], src, coset_powers_br[r], True, tw, log_n)
                dst = out[c]
                for i in range(n):
                    for r in range(b):
                        dst[i * b + r] = buf[r, i]


@lru_cache(maxsize=32)
def _coset_powers_bitrev(log_n: int, log_size: int, shift: int, factor: int) -> U64:
    # factor * o^i for each sub-coset offset o, bit-reversed: the scaling the DIT's first pass applies
    n = 1 << log_n
    w = F.root_of_unity(log_size)
    rev = bit_reversal(log_n)
    offsets = [shift * pow(w, r, F.P_INT) % F.P_INT for r in range(1 << (log_size - log_n))]
    rows = [F.powers(o, n)[rev] for o in offsets]
    if factor != 1:
        rows = [F.mul_vec(r, np.uint64(factor)) for r in rows]
    return np.ascontiguousarray(np.stack(rows))


def coset_evaluate_bitrev(coeffs_br: U64, size: int, shift: int, factor: int = 1) -> U64:
    """Evaluate bit-reversed coefficient columns (k, n) on shift * <omega_size> (size >= n): (k, size).
    The polynomials are multiplied by the scalar ``factor`` on the way (free: it rides on the coset powers)."""
    c = np.ascontiguousarray(_as_2d(coeffs_br), dtype=np.uint64)
    k, n = c.shape
    if size < n:
        raise ValueError("coset smaller than the polynomial")
    log_size = _log2(size)
    log_n = _log2(n)
    # recycled: in the prover an LDE lives for the whole proof, so keeping it for the next proof adds
    # nothing to the peak (the transforms' short-lived temporaries are plain arrays for that reason)
    out = buffers.empty((k, size))
    powers = _coset_powers_bitrev(log_n, log_size, shift % F.P_INT, factor % F.P_INT)
    workers = max(1, min(k, nb.get_num_threads()))
    _coset_evaluate_bitrev(c, powers, twiddles(log_n, False), log_n, out, workers)
    return out


def coset_evaluate(coeffs: U64, size: int, shift: int) -> U64:
    """Evaluate coefficient columns (k, n) on the coset shift * <omega_size>, size >= n: (k, size)."""
    return coset_evaluate_bitrev(bitrev_columns(coeffs), size, shift)


def coset_interpolate(evals: U64, shift: int) -> U64:
    """Coefficients from evaluations (k, n) on the coset shift * <omega_n>."""
    a = intt(_as_2d(evals))
    inv_shift = pow(shift % F.P_INT, F.P_INT - 2, F.P_INT)
    _scale_columns(a, F.powers(inv_shift, a.shape[1]))
    return a


def lde(evals: U64, blowup: int, shift: int) -> U64:
    """Low-degree extension: evaluations on the subgroup of size n -> on the coset shift*<omega_{n*blowup}>.
    No bit-reversal pass: inverse DIF leaves bit-reversed coefficients, which the coset DITs consume.
    The inverse's factor 1/n rides on the coset powers the DITs multiply by anyway, which saves the inverse
    its own pass over memory."""
    coeffs_br = intt_bitrev(_as_2d(evals), scaled=False)
    n = coeffs_br.shape[1]
    return coset_evaluate_bitrev(coeffs_br, n * blowup, shift, pow(n, F.P_INT - 2, F.P_INT))


def ext_columns_to_base(cols: U64) -> U64:
    """(k, n, 2) extension columns -> (2k, n) base columns [c0 of col 0, c1 of col 0, c0 of col 1, ...]."""
    k, n, _ = cols.shape
    return np.ascontiguousarray(cols.transpose(0, 2, 1)).reshape(2 * k, n)


def base_columns_to_ext(cols: U64) -> U64:
    """Inverse of :func:`ext_columns_to_base`."""
    k2, n = cols.shape
    return np.ascontiguousarray(cols.reshape(k2 // 2, 2, n).transpose(0, 2, 1))
