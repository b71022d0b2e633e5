"""The Goldilocks field and its quadratic extension on Python integers, one value at a time.

The verifier, the transcript and the prover use it where they handle a few scalars (points, challenges,
openings), where numba arrays would cost more than they save. Python integers reduced mod p: slow and
obviously correct, so the tests also compare the numba kernels of ``goldilocks`` against it.
"""

from __future__ import annotations

P = 2**64 - 2**32 + 1
W = 7

Ext = tuple[int, int]


def inv(a: int) -> int:
    if a % P == 0:
        raise ZeroDivisionError("inverse of zero in Goldilocks")
    return pow(a, P - 2, P)


def ext_add(a: Ext, b: Ext) -> Ext:
    return ((a[0] + b[0]) % P, (a[1] + b[1]) % P)


def ext_sub(a: Ext, b: Ext) -> Ext:
    return ((a[0] - b[0]) % P, (a[1] - b[1]) % P)


def ext_mul(a: Ext, b: Ext) -> Ext:
    return ((a[0] * b[0] + W * a[1] * b[1]) % P, (a[0] * b[1] + a[1] * b[0]) % P)


def ext_scale(a: Ext, s: int) -> Ext:
    return ((a[0] * s) % P, (a[1] * s) % P)


def ext_inv(a: Ext) -> Ext:
    norm = (a[0] * a[0] - W * a[1] * a[1]) % P
    n = inv(norm)
    return ((a[0] * n) % P, (-a[1] * n) % P)


def ext_pow(a: Ext, e: int) -> Ext:
    r: Ext = (1, 0)
    base = a
    while e:
        if e & 1:
            r = ext_mul(r, base)
        base = ext_mul(base, base)
        e >>= 1
    return r


def ext_div(a: Ext, b: Ext) -> Ext:
    return ext_mul(a, ext_inv(b))
