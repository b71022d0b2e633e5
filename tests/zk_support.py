"""What the zero-knowledge attack tests share: where a row of the LDE sits, and Lagrange interpolation in the
quadratic extension (the verifier's view of an opened column, rebuilt by an attacker)."""

from __future__ import annotations

from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R
from bastion.stark.uni.protocol import COSET_SHIFT

Ext = tuple[int, int]


def lde_point(row: int, lde_size: int) -> int:
    """The LDE domain's point of `row` (the coset shift times the row-th power of the domain's generator)."""
    return COSET_SHIFT * pow(F.root_of_unity(lde_size.bit_length() - 1), row, R.P) % R.P


def interpolate_at(xs: list[int], ys: list[Ext], z: Ext) -> Ext:
    """The polynomial of degree < len(xs) through (xs, ys), evaluated at z (Lagrange, extension field)."""
    acc: Ext = (0, 0)
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        num: Ext = (1, 0)
        den = 1
        for k, xk in enumerate(xs):
            if k != i:
                num = R.ext_mul(num, R.ext_sub(z, (xk, 0)))
                den = den * (xi - xk) % R.P
        acc = R.ext_add(acc, R.ext_mul(yi, R.ext_scale(num, pow(den, R.P - 2, R.P))))
    return acc
