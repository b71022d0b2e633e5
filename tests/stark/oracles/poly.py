"""Plain-Python oracle of the barycentric evaluation in ``bastion.stark.poly.polynomials``."""

from __future__ import annotations

from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R

Ext = R.Ext


def barycentric_eval(values: list[int], z: Ext) -> Ext:
    L = len(values)
    w = F.root_of_unity(L.bit_length() - 1)
    acc: Ext = (0, 0)
    for i, v in enumerate(values):
        wi = pow(w, i, R.P)
        acc = R.ext_add(acc, R.ext_scale(R.ext_inv(R.ext_sub(z, (wi, 0))), v * wi))
    factor = R.ext_scale(R.ext_sub(R.ext_pow(z, L), (1, 0)), R.inv(L))
    return R.ext_mul(factor, acc)


def deep_quotients(lde: list[list[int]], xs: list[int], z: Ext, gz: Ext, value_z: Ext, value_gz: Ext) -> list[Ext]:
    """(A_z - value_z)/(x - z) + (A_gz - value_gz)/(x - gz) + M at every x, lde rows A_z, A_gz, M in base pairs."""
    out = []
    for j, x in enumerate(xs):
        a_z, a_gz, m = ((lde[2 * i][j], lde[2 * i + 1][j]) for i in range(3))
        t_z = R.ext_div(R.ext_sub(a_z, value_z), R.ext_sub((x, 0), z))
        t_gz = R.ext_div(R.ext_sub(a_gz, value_gz), R.ext_sub((x, 0), gz))
        out.append(R.ext_add(R.ext_add(t_z, t_gz), m))
    return out
