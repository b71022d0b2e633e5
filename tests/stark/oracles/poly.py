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
