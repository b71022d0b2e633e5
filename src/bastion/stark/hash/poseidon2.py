"""Poseidon2 over Goldilocks as numba kernels: the permutation, the sponge hash and the 2-to-1 compression.

Blocked style: lanes (independent states) are processed in blocks of ``BLOCK``; a block is transposed into a
(width, BLOCK) buffer so every step of every round is an inner loop over lanes that LLVM vectorizes, and the
blocks are spread over the cores with ``prange``. Rounds are loops with their constants in arrays (no
generated straight-line code). ``bastion.stark.hash.poseidon2_scalar`` (one state on Python integers) and
``tests/stark/oracles/poseidon2.py`` are what these are tested against; parameters and padding are documented
there and in ``docs/spec/poseidon2.md``.
"""

from __future__ import annotations

import time
from functools import cache

import numba as nb
import numpy as np

from bastion.stark.field.goldilocks import U64, add
from bastion.stark.hash import poseidon2_scalar as ref

WIDTH = ref.WIDTH
RATE = ref.RATE
CAPACITY = ref.CAPACITY
DIGEST = ref.DIGEST
ROUNDS_F_HALF = ref.ROUNDS_F_HALF
ROUNDS_P = ref.ROUNDS_P
BLOCK = 128  # lanes per block: a width-12 buffer of 128 lanes is 12 KiB, well inside L1

# Scalar helpers are inlined at the numba level so the lane loops around them vectorize; the loop helpers
# are plain functions (LLVM inlines them), which keeps compilation to seconds instead of minutes.
_scalar = nb.njit(cache=True, inline="always", nogil=True)
_inline = nb.njit(cache=True, nogil=True)
_parallel = nb.njit(cache=True, nogil=True, parallel=True)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_EPSILON = np.uint64(0xFFFFFFFF)  # 2^64 mod p
_P = np.uint64(ref.P)


@cache
def constants(width: int = WIDTH) -> tuple[U64, U64, U64]:
    """(external round constants (R_F, width), internal round constants (R_P,), diag - 1 (width,))."""
    prm = ref.params(width)
    ext = np.array(prm.external_initial + prm.external_final, dtype=np.uint64)
    internal = np.array(prm.internal, dtype=np.uint64)
    diag = np.array(prm.diag_m1, dtype=np.uint64)
    for arr in (ext, internal, diag):
        arr.setflags(write=False)
    return ext, internal, diag


# --------------------------------------------------------------------------------------------------
# the permutation on a (width, lanes) buffer


@_scalar
def _mul_partial(a: np.uint64, b: np.uint64) -> np.uint64:
    """a * b mod p as a value in [0, 2^64), not always canonical; inputs may be any 64-bit values.

    Arranged so that the 128-bit product needs no carry comparisons (they are the expensive part once
    the lane loop is vectorized); skipping the final subtraction is safe wherever the result only feeds
    another multiplication or an ``add`` with a canonical operand (which canonicalizes)."""
    a0 = a & _MASK32
    a1 = a >> _SHIFT32
    b0 = b & _MASK32
    b1 = b >> _SHIFT32
    lo = a0 * b0
    mid = a0 * b1 + (lo >> _SHIFT32)  # < 2^64: (2^32-1)^2 + 2^32 - 1
    mid2 = a1 * b0 + (mid & _MASK32)  # < 2^64 likewise
    lo64 = (mid2 << _SHIFT32) | (lo & _MASK32)
    hi = a1 * b1 + (mid >> _SHIFT32) + (mid2 >> _SHIFT32)
    # hi * 2^64 + lo64 with 2^64 = 2^32 - 1 and 2^96 = -1 (mod p)
    hi_hi = hi >> _SHIFT32
    hi_lo = hi & _MASK32
    t0 = lo64 - hi_hi
    if lo64 < hi_hi:
        t0 -= _EPSILON
    t1 = (hi_lo << _SHIFT32) - hi_lo
    t2 = t0 + t1
    if t2 < t1:
        t2 += _EPSILON
    return t2


@_scalar
def _mul(a: np.uint64, b: np.uint64) -> np.uint64:
    """a * b mod p, canonical (same result as ``field.mul``)."""
    r = _mul_partial(a, b)
    if r >= _P:
        r -= _P
    return r


@_scalar
def _sbox(x: np.uint64) -> np.uint64:
    x2 = _mul_partial(x, x)
    x3 = _mul_partial(x2, x)
    x4 = _mul_partial(x2, x2)
    return _mul(x3, x4)


@_inline
def _external_linear(buf: U64, m: int, tmp: U64) -> None:
    t = buf.shape[0]
    # M4 = [[5,7,1,3],[4,6,1,1],[1,3,5,7],[1,1,4,6]] on every 4-chunk, as additions only
    for c in range(0, t, 4):
        for lane in range(m):
            a = buf[c, lane]
            b = buf[c + 1, lane]
            cc = buf[c + 2, lane]
            d = buf[c + 3, lane]
            t0 = add(a, b)
            t1 = add(cc, d)
            t2 = add(add(b, b), t1)  # 2b + c + d
            t3 = add(add(d, d), t0)  # a + b + 2d
            t1x2 = add(t1, t1)
            t4 = add(add(t1x2, t1x2), t3)  # a + b + 4c + 6d
            t0x2 = add(t0, t0)
            t5 = add(add(t0x2, t0x2), t2)  # 4a + 6b + c + d
            buf[c, lane] = add(t3, t5)  # 5a + 7b + c + 3d
            buf[c + 1, lane] = t5
            buf[c + 2, lane] = add(t2, t4)  # a + 3b + 5c + 7d
            buf[c + 3, lane] = t4
    # circ(2, 1, ..., 1) over the chunks: add to each word the sum of its column across chunks
    if t > 4:
        for col in range(4):
            for lane in range(m):
                tmp[lane] = buf[col, lane]
            for c in range(4, t, 4):
                for lane in range(m):
                    tmp[lane] = add(tmp[lane], buf[c + col, lane])
            for c in range(0, t, 4):
                for lane in range(m):
                    buf[c + col, lane] = add(buf[c + col, lane], tmp[lane])


@_inline
def _internal_linear(buf: U64, m: int, diag_m1: U64, tmp: U64) -> None:
    t = buf.shape[0]
    for lane in range(m):
        tmp[lane] = buf[0, lane]
    for i in range(1, t):
        for lane in range(m):
            tmp[lane] = add(tmp[lane], buf[i, lane])
    for i in range(t):
        d = diag_m1[i]
        for lane in range(m):
            buf[i, lane] = add(_mul_partial(buf[i, lane], d), tmp[lane])  # add canonicalizes


@_inline
def _full_round(buf: U64, m: int, rc: U64, tmp: U64) -> None:
    t = buf.shape[0]
    for i in range(t):
        c = rc[i]
        for lane in range(m):
            buf[i, lane] = _sbox(add(buf[i, lane], c))
    _external_linear(buf, m, tmp)


@_inline
def _permute_buffer(buf: U64, m: int, rc_ext: U64, rc_int: U64, diag_m1: U64, tmp: U64) -> None:
    """Permute the first ``m`` lanes of a (width, lanes) buffer in place."""
    half = rc_ext.shape[0] // 2
    _external_linear(buf, m, tmp)
    for r in range(half):
        _full_round(buf, m, rc_ext[r], tmp)
    for r in range(rc_int.shape[0]):
        c = rc_int[r]
        for lane in range(m):
            buf[0, lane] = _sbox(add(buf[0, lane], c))
        _internal_linear(buf, m, diag_m1, tmp)
    for r in range(half, 2 * half):
        _full_round(buf, m, rc_ext[r], tmp)


# --------------------------------------------------------------------------------------------------
# kernels over (n, width) state matrices


@_parallel
def _permute_rows(states: U64, out: U64, rc_ext: U64, rc_int: U64, diag_m1: U64, block: int) -> None:
    n, t = states.shape
    n_blocks = (n + block - 1) // block
    for blk in nb.prange(n_blocks):
        lo = blk * block
        m = min(block, n - lo)
        buf = np.empty((t, block), dtype=np.uint64)
        tmp = np.empty(block, dtype=np.uint64)
        for lane in range(m):
            for i in range(t):
                buf[i, lane] = states[lo + lane, i]
        _permute_buffer(buf, m, rc_ext, rc_int, diag_m1, tmp)
        for lane in range(m):
            for i in range(t):
                out[lo + lane, i] = buf[i, lane]


@_parallel
def _sponge_rows(
    values: U64, out: U64, rc_ext: U64, rc_int: U64, diag_m1: U64, block: int, rate: int, tag: np.uint64
) -> None:
    n, length = values.shape
    t = rc_ext.shape[1]
    digest = out.shape[1]
    n_absorb = max(1, (length + rate - 1) // rate)
    n_blocks = (n + block - 1) // block
    for blk in nb.prange(n_blocks):
        lo = blk * block
        m = min(block, n - lo)
        buf = np.zeros((t, block), dtype=np.uint64)
        tmp = np.empty(block, dtype=np.uint64)
        for lane in range(m):
            buf[rate, lane] = np.uint64(length)
            buf[rate + 1, lane] = tag
        for a in range(n_absorb):
            for i in range(rate):
                j = a * rate + i
                if j < length:
                    for lane in range(m):
                        buf[i, lane] = add(buf[i, lane], values[lo + lane, j])
            _permute_buffer(buf, m, rc_ext, rc_int, diag_m1, tmp)
        for lane in range(m):
            for k in range(digest):
                out[lo + lane, k] = buf[k, lane]


# --------------------------------------------------------------------------------------------------
# public API


def _as_field_matrix(a: object, name: str, cols: int | None = None) -> U64:
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if cols is not None and arr.shape[1] != cols:
        raise ValueError(f"{name} must have {cols} columns, got {arr.shape[1]}")
    if arr.dtype == object:  # Python ints, possibly >= 2^63
        flat = [int(v) for v in arr.ravel()]
        if any(not 0 <= v < ref.P for v in flat):
            raise ValueError(f"{name} must hold field elements (integers in [0, p))")
        arr = np.array(flat, dtype=np.uint64).reshape(arr.shape)
    elif arr.dtype != np.uint64:
        if not np.issubdtype(arr.dtype, np.integer) or (arr.size and int(arr.min()) < 0):
            raise ValueError(f"{name} must hold field elements (non-negative integers < p)")
        arr = arr.astype(np.uint64)
    if arr.size and int(arr.max()) >= ref.P:
        raise ValueError(f"{name} holds a value >= p (not a canonical field element)")
    return np.ascontiguousarray(arr)


def permute(states: U64) -> U64:
    """Poseidon2 of every row of an (n, width) uint64 matrix, width 8 or 12; returns a new matrix."""
    arr = _as_field_matrix(states, "states")
    rc_ext, rc_int, diag = constants(arr.shape[1])
    out = np.empty_like(arr)
    if arr.shape[0]:
        _permute_rows(arr, out, rc_ext, rc_int, diag, BLOCK)
    return out


def hash_elements(values: U64) -> U64:
    """Sponge digest (n, 4) of each row of an (n, m) matrix of field elements (``docs/spec/poseidon2.md``)."""
    arr = _as_field_matrix(values, "values")
    rc_ext, rc_int, diag = constants(WIDTH)
    out = np.empty((arr.shape[0], DIGEST), dtype=np.uint64)
    if arr.shape[0]:
        _sponge_rows(arr, out, rc_ext, rc_int, diag, BLOCK, RATE, np.uint64(ref.SPONGE_DOMAIN_TAG))
    return out


def compress(left: U64, right: U64) -> U64:
    """2-to-1 compression of digest pairs: first 4 words of permute(left || right || 0^4), shape (n, 4)."""
    lft = _as_field_matrix(left, "left", DIGEST)
    rgt = _as_field_matrix(right, "right", DIGEST)
    if lft.shape[0] != rgt.shape[0]:
        raise ValueError(f"left has {lft.shape[0]} rows but right has {rgt.shape[0]}")
    states = np.zeros((lft.shape[0], WIDTH), dtype=np.uint64)
    states[:, :DIGEST] = lft
    states[:, DIGEST : 2 * DIGEST] = rgt
    return np.ascontiguousarray(permute(states)[:, :DIGEST])


def bench_permutations(n: int = 1 << 18, width: int = WIDTH, repeats: int = 3) -> float:
    """Width-``width`` permutations per second over ``n`` random states (best of ``repeats``, all cores)."""
    rng = np.random.default_rng(1)
    states = rng.integers(0, ref.P, size=(n, width), dtype=np.uint64)
    permute(states[:BLOCK])  # compile / load from cache outside the timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        permute(states)
        best = min(best, time.perf_counter() - start)
    return n / best
