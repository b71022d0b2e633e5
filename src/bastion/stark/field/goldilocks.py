"""The Goldilocks field p = 2^64 - 2^32 + 1 and its quadratic extension F_p[X]/(X^2 - 7).

Base-field elements are numpy ``uint64`` values in canonical form ``[0, p)``. Extension elements are
pairs ``(c0, c1)`` meaning ``c0 + c1*X``; arrays of them have a trailing axis of length 2.

Scalar kernels (``add``, ``mul``, ``ext_mul``...) are numba functions inlined into the hot loops of the
other modules; the ``*_vec`` functions are their array forms. ``bastion.stark.field.scalar`` is the
same arithmetic on Python integers (the verifier's few scalars); tests compare every kernel against it and
against the base-field oracle in ``tests/stark/oracles/field.py``.

Why Goldilocks: 64-bit elements leave headroom for sums of 16-bit limbs, the two-adicity of 32 gives
NTTs of any size we need, and X^2 - 7 is irreducible (7 is a non-residue), giving a 128-bit extension
for Fiat-Shamir challenges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba as nb
import numpy as np
from numpy.typing import NDArray

P_INT = 2**64 - 2**32 + 1
P = np.uint64(P_INT)
EPSILON = np.uint64(2**32 - 1)  # 2^64 mod p
MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
ZERO = np.uint64(0)
ONE = np.uint64(1)
W_INT = 7  # the extension is F_p[X] / (X^2 - W)
W = np.uint64(W_INT)
GENERATOR_INT = 7  # generates the multiplicative group of F_p
TWO_ADICITY = 32
# A primitive 2^32-th root of unity: GENERATOR^((p-1) / 2^32).
ROOT_OF_UNITY_2_32_INT = pow(GENERATOR_INT, (P_INT - 1) >> TWO_ADICITY, P_INT)

U64 = NDArray[np.uint64]

_vectorize = cast(Callable[..., Callable[..., Any]], nb.vectorize)
_jit = nb.njit(cache=True, inline="always", nogil=True)
_kernel = nb.njit(cache=True, nogil=True)
_parallel = nb.njit(cache=True, nogil=True, parallel=True)


# --------------------------------------------------------------------------------------------------
# scalar kernels (numba, inlined)


@_jit
def add(a: np.uint64, b: np.uint64) -> np.uint64:
    s = a + b
    # on 64-bit overflow the true sum is s + 2^64 = s + EPSILON (mod p)
    if s < a:
        s += EPSILON
    if s >= P:
        s -= P
    return s


@_jit
def sub(a: np.uint64, b: np.uint64) -> np.uint64:
    d = a - b
    if a < b:
        d += P
    return d


@_jit
def neg(a: np.uint64) -> np.uint64:
    if a == ZERO:
        return a
    return P - a


@_jit
def reduce128(hi: np.uint64, lo: np.uint64) -> np.uint64:
    """hi * 2^64 + lo mod p, using 2^64 = 2^32 - 1 and 2^96 = -1 (mod p)."""
    hi_hi = hi >> SHIFT32
    hi_lo = hi & MASK32
    t0 = lo - hi_hi
    if lo < hi_hi:
        t0 -= EPSILON  # borrow of 2^64 is a borrow of EPSILON mod p
    t1 = hi_lo * EPSILON
    t2 = t0 + t1
    if t2 < t1:
        t2 += EPSILON
    if t2 >= P:
        t2 -= P
    return t2


@_jit
def mul(a: np.uint64, b: np.uint64) -> np.uint64:
    a0 = a & MASK32
    a1 = a >> SHIFT32
    b0 = b & MASK32
    b1 = b >> SHIFT32
    lo = a0 * b0
    m1 = a0 * b1
    m2 = a1 * b0
    hi = a1 * b1
    t = lo + (m1 << SHIFT32)
    c1 = ONE if t < lo else ZERO
    lo2 = t + (m2 << SHIFT32)
    c2 = ONE if lo2 < t else ZERO
    hi2 = hi + (m1 >> SHIFT32) + (m2 >> SHIFT32) + c1 + c2
    return reduce128(hi2, lo2)


@_jit
def pow_(a: np.uint64, e: np.uint64) -> np.uint64:
    r = ONE
    base = a
    while e > ZERO:
        if e & ONE:
            r = mul(r, base)
        base = mul(base, base)
        e >>= ONE
    return r


@_jit
def inv(a: np.uint64) -> np.uint64:
    """Multiplicative inverse (0 maps to 0; callers check for zero where it matters)."""
    return pow_(a, P - np.uint64(2))


@_jit
def ext_add(a0: np.uint64, a1: np.uint64, b0: np.uint64, b1: np.uint64) -> tuple[np.uint64, np.uint64]:
    return add(a0, b0), add(a1, b1)


@_jit
def ext_sub(a0: np.uint64, a1: np.uint64, b0: np.uint64, b1: np.uint64) -> tuple[np.uint64, np.uint64]:
    return sub(a0, b0), sub(a1, b1)


@_jit
def ext_mul(a0: np.uint64, a1: np.uint64, b0: np.uint64, b1: np.uint64) -> tuple[np.uint64, np.uint64]:
    c0 = add(mul(a0, b0), mul(W, mul(a1, b1)))
    c1 = add(mul(a0, b1), mul(a1, b0))
    return c0, c1


@_jit
def ext_inv(a0: np.uint64, a1: np.uint64) -> tuple[np.uint64, np.uint64]:
    # (a0 + a1 X)^-1 = (a0 - a1 X) / (a0^2 - W a1^2)
    norm = sub(mul(a0, a0), mul(W, mul(a1, a1)))
    n_inv = inv(norm)
    return mul(a0, n_inv), mul(neg(a1), n_inv)


# --------------------------------------------------------------------------------------------------
# array kernels


@_vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def add_vec(a: np.uint64, b: np.uint64) -> np.uint64:  # type: ignore[misc]
    return add(a, b)


@_vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def sub_vec(a: np.uint64, b: np.uint64) -> np.uint64:  # type: ignore[misc]
    return sub(a, b)


@_vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def mul_vec(a: np.uint64, b: np.uint64) -> np.uint64:  # type: ignore[misc]
    return mul(a, b)


@_vectorize(["uint64(uint64)"], cache=True, nopython=True)
def neg_vec(a: np.uint64) -> np.uint64:  # type: ignore[misc]
    return neg(a)


@_kernel
def _batch_inv_1d(a: U64, out: U64) -> None:
    # Montgomery's trick: one inversion and 3(n-1) multiplications. Zeros are skipped and map to 0.
    n = a.shape[0]
    prefix = np.empty(n, dtype=np.uint64)
    acc = ONE
    for i in range(n):
        prefix[i] = acc
        if a[i] != ZERO:
            acc = mul(acc, a[i])
    acc = inv(acc)
    for i in range(n - 1, -1, -1):
        if a[i] != ZERO:
            out[i] = mul(acc, prefix[i])
            acc = mul(acc, a[i])
        else:
            out[i] = ZERO


@_parallel
def _batch_inv_chunked(a: U64, out: U64, chunk: int) -> None:
    n = a.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    for c in nb.prange(n_chunks):
        lo = c * chunk
        hi = min(n, lo + chunk)
        _batch_inv_1d(a[lo:hi], out[lo:hi])


def batch_inv(a: U64) -> U64:
    """Element-wise inverses of a base-field array (zeros map to zero), in parallel chunks."""
    flat = np.ascontiguousarray(a, dtype=np.uint64).reshape(-1)
    out = np.empty_like(flat)
    if flat.size:
        _batch_inv_chunked(flat, out, max(1024, flat.size // 16 + 1))
    return out.reshape(np.shape(a))


@_kernel
def _ext_batch_inv_1d(a: U64, out: U64) -> None:
    n = a.shape[0]
    prefix = np.empty((n, 2), dtype=np.uint64)
    acc0, acc1 = ONE, ZERO
    for i in range(n):
        prefix[i, 0] = acc0
        prefix[i, 1] = acc1
        if a[i, 0] != ZERO or a[i, 1] != ZERO:
            acc0, acc1 = ext_mul(acc0, acc1, a[i, 0], a[i, 1])
    acc0, acc1 = ext_inv(acc0, acc1)
    for i in range(n - 1, -1, -1):
        if a[i, 0] != ZERO or a[i, 1] != ZERO:
            r0, r1 = ext_mul(acc0, acc1, prefix[i, 0], prefix[i, 1])
            out[i, 0] = r0
            out[i, 1] = r1
            acc0, acc1 = ext_mul(acc0, acc1, a[i, 0], a[i, 1])
        else:
            out[i, 0] = ZERO
            out[i, 1] = ZERO


@_parallel
def _ext_batch_inv_chunked(a: U64, out: U64, chunk: int) -> None:
    n = a.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    for c in nb.prange(n_chunks):
        lo = c * chunk
        hi = min(n, lo + chunk)
        _ext_batch_inv_1d(a[lo:hi], out[lo:hi])


def ext_batch_inv(a: U64) -> U64:
    """Element-wise inverses of an extension-field array of shape (..., 2)."""
    flat = np.ascontiguousarray(a, dtype=np.uint64).reshape(-1, 2)
    out = np.empty_like(flat)
    if flat.shape[0]:
        _ext_batch_inv_chunked(flat, out, max(1024, flat.shape[0] // 16 + 1))
    return out.reshape(np.shape(a))


@_parallel
def _ext_mul_arrays(a: U64, b: U64, out: U64) -> None:
    for i in nb.prange(a.shape[0]):
        out[i, 0], out[i, 1] = ext_mul(a[i, 0], a[i, 1], b[i, 0], b[i, 1])


@_kernel
def _ext_mul_arrays_serial(a: U64, b: U64, out: U64) -> None:
    for i in range(a.shape[0]):
        out[i, 0], out[i, 1] = ext_mul(a[i, 0], a[i, 1], b[i, 0], b[i, 1])


_PARALLEL_MIN = 1 << 14  # below this, starting the thread pool costs more than the work


def ext_mul_vec(a: U64, b: U64) -> U64:
    """Element-wise product of two extension arrays of the same shape (..., 2)."""
    a2, b2 = np.broadcast_arrays(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    shape = a2.shape
    fa = np.ascontiguousarray(a2).reshape(-1, 2)
    fb = np.ascontiguousarray(b2).reshape(-1, 2)
    out = np.empty_like(fa)
    (_ext_mul_arrays if fa.shape[0] >= _PARALLEL_MIN else _ext_mul_arrays_serial)(fa, fb, out)
    return out.reshape(shape)


def ext_add_vec(a: U64, b: U64) -> U64:
    return add_vec(a, b)  # type: ignore[no-any-return]


def ext_sub_vec(a: U64, b: U64) -> U64:
    return sub_vec(a, b)  # type: ignore[no-any-return]


def ext_mul_base_vec(a: U64, b: U64) -> U64:
    """(..., 2) extension array times a base array broadcastable to (...)."""
    return mul_vec(a, np.asarray(b, dtype=np.uint64)[..., None])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# python-int helpers (not hot: constants, challenges, verifier scalars)


def root_of_unity(log_n: int) -> int:
    """A primitive 2^log_n-th root of unity."""
    if not 0 <= log_n <= TWO_ADICITY:
        raise ValueError(f"no 2^{log_n}-th root of unity in Goldilocks")
    return pow(ROOT_OF_UNITY_2_32_INT, 1 << (TWO_ADICITY - log_n), P_INT)


def powers(base: int, n: int) -> U64:
    """[1, base, base^2, ..., base^(n-1)] as a uint64 array (numba kernel, log-depth free)."""
    return _powers(np.uint64(base % P_INT), n)


@_kernel
def _powers(base: np.uint64, n: int) -> U64:
    out = np.empty(n, dtype=np.uint64)
    acc = ONE
    for i in range(n):
        out[i] = acc
        acc = mul(acc, base)
    return out
