"""LogUp lookups: range checks against a fixed table, as a component any AIR can embed.

To show every value v in some main columns lies in the table T = {0, ..., 2^bits - 1}, with a random
extension challenge beta the prover shows

    sum over used rows i of  m_i / (beta - t_i)  =  sum over rows i, looked-up columns j of 1 / (beta - v_ij)

where t is the table (a periodic column, so it repeats over the trace) and m_i the multiplicity column
(how often t_i occurs among the values; counted once, at the table's first occurrence). Both sides are
rational functions of beta; they agree at a random beta only if the multisets agree, so a value outside
the table cannot be balanced (Haboeck, "Multivariate lookups based on logarithmic derivatives").

Auxiliary columns (extension field): one inverse 1/(beta - v_j) per looked-up column, one inverse
1/(beta - t) for the table, and the running sum s. Constraints (all of degree 2):

    every row:  inv_j * (beta - v_j) = 1,   inv_t * (beta - t) = 1
    first row:  s = m * inv_t - sum_j inv_j
    transition: s' = s + m' * inv_t' - sum_j inv_j'
    last row:   s = 0

The table must fit in the used rows (n_used >= 2^bits) so every table entry can carry its multiplicity.
Multiplicities are at most the number of lookups, far below p, so the field sum cannot wrap.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark.air.air import Constraints, Frame, Lookup
from bastion.stark.field import goldilocks as F
from bastion.stark.field.goldilocks import add, ext_mul, sub

U64 = NDArray[np.uint64]


@nb.njit(cache=True, nogil=True)
def _running_sum(mult: U64, inv_t: U64, inv_vals: U64, out: U64) -> None:
    # out[i] = sum_{r <= i} (m_r * inv_t[r] - sum_j inv_vals[j, r])
    n = mult.shape[0]
    s0 = np.uint64(0)
    s1 = np.uint64(0)
    for i in range(n):
        t0, t1 = ext_mul(inv_t[i, 0], inv_t[i, 1], mult[i], np.uint64(0))
        s0 = add(s0, t0)
        s1 = add(s1, t1)
        for j in range(inv_vals.shape[0]):
            s0 = sub(s0, inv_vals[j, i, 0])
            s1 = sub(s1, inv_vals[j, i, 1])
        out[i, 0] = s0
        out[i, 1] = s1


class RangeCheck:
    def __init__(
        self,
        *,
        bits: int,
        value_columns: list[int],
        multiplicity_column: int,
        table_periodic: int,
        aux_offset: int,
        challenge: int,
    ) -> None:
        if not 1 <= bits <= 20:
            raise ValueError("range-check table size must be 2^1 .. 2^20")
        self.bits = bits
        self.value_columns = list(value_columns)
        self.multiplicity_column = multiplicity_column
        self.table_periodic = table_periodic
        self.aux_offset = aux_offset
        self.challenge = challenge

    @property
    def aux_width(self) -> int:
        return len(self.value_columns) + 2

    def lookup(self) -> Lookup:
        """This range check for the soundness count: one fraction per looked-up column per row."""
        return Lookup("range", len(self.value_columns), 1 << self.bits)

    def table(self) -> U64:
        return np.arange(1 << self.bits, dtype=np.uint64)

    def multiplicities(self, main: U64, n_used: int, *, allow_out_of_range: bool = False) -> U64:
        """The multiplicity column. Values outside the table raise, unless a test forges a proof."""
        size = 1 << self.bits
        if n_used < size:
            raise ValueError(f"range check of {self.bits} bits needs at least {size} rows, have {n_used}")
        vals = np.concatenate([main[c, :n_used] for c in self.value_columns])
        bad = vals >= np.uint64(size)
        if bad.any() and not allow_out_of_range:
            col = self.value_columns[int(np.argmax(bad)) // n_used]
            row = int(np.argmax(bad)) % n_used
            raise ValueError(f"value {int(vals[bad][0])} in column {col}, row {row} is outside [0, 2^{self.bits})")
        counts = np.bincount(vals[~bad].astype(np.int64), minlength=size).astype(np.uint64)
        out = np.zeros(n_used, dtype=np.uint64)
        out[:size] = counts
        return out

    def build_aux(self, main: U64, table: U64, challenges: list[tuple[int, int]]) -> U64:
        beta = challenges[self.challenge]
        n_used = main.shape[1]
        t = np.tile(table, -(-n_used // len(table)))[:n_used]

        def inverses(values: U64) -> U64:
            den = np.empty((values.shape[0], 2), dtype=np.uint64)
            den[:, 0] = F.sub_vec(np.uint64(beta[0]), values)
            den[:, 1] = np.uint64(beta[1])
            return F.ext_batch_inv(den)

        inv_vals = np.stack([inverses(main[c]) for c in self.value_columns])  # (k, n, 2)
        inv_t = inverses(t)
        running = np.empty((n_used, 2), dtype=np.uint64)
        _running_sum(main[self.multiplicity_column], inv_t, inv_vals, running)
        return np.concatenate([inv_vals, inv_t[None], running[None]], axis=0)

    def constraints(self, f: Frame) -> Constraints:
        beta = f.challenges[self.challenge]
        o = self.aux_offset
        k = len(self.value_columns)
        inv_v = f.aux_cur[o : o + k]
        inv_t = f.aux_cur[o + k]
        s = f.aux_cur[o + k + 1]
        t = f.periodic[self.table_periodic]
        m = f.cur[self.multiplicity_column]
        every = [inv_v[j] * (beta - f.cur[c]) - 1 for j, c in enumerate(self.value_columns)]
        every.append(inv_t * (beta - t) - 1)

        def term(m_: object, inv_t_: object, inv_v_: list[object]) -> object:
            acc = m_ * inv_t_  # type: ignore[operator]
            for x in inv_v_:
                acc = acc - x
            return acc

        nxt_inv_v = f.aux_nxt[o : o + k]
        nxt_inv_t = f.aux_nxt[o + k]
        nxt_s = f.aux_nxt[o + k + 1]
        return Constraints(
            every_row=every,
            first_row=[s - term(m, inv_t, list(inv_v))],  # type: ignore[operator]
            transition=[nxt_s - s - term(f.nxt[self.multiplicity_column], nxt_inv_t, list(nxt_inv_v))],  # type: ignore[operator]
            last_row=[s],
        )
