"""LogUp, the circuits' lookup argument, on the prover's side: the extension-field helpers both the solvency and
the aggregation circuit build their auxiliary columns with, and the solvency circuit's auxiliary columns
(range checks against the 2^16 table, rows against the public asset table).

Kept apart from the AIRs and from trace generation so that neither imports the other: `air` and `aggregate`
call into here, `trace` too, and this module needs only the column layout.
"""

from __future__ import annotations

from typing import Protocol

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.por.liabilities.circuit.columns import (
    N_PAIRS,
    RANGE_BITS,
    RANGE_EXPRS,
    TUPLE_COLS,
    TUPLE_PUB,
    Aux,
    Ch,
    Col,
)
from bastion.stark.field import goldilocks as F

U64 = NDArray[np.uint64]


class LogUpAir(Protocol):
    """What the solvency LogUp needs of its AIR (the plain and the hidden-totals circuits)."""

    def public_columns(self) -> list[U64]: ...

    def table_amount_columns(self, main: U64, pub: list[U64]) -> list[U64]: ...


def range_values(main: U64, j: int) -> U64:
    """The j-th range-checked expression of the trace (a column, or a column times a constant)."""
    col, mult = RANGE_EXPRS[j]
    out: U64 = main[col] if mult == 1 else F.mul_vec(main[col], np.uint64(mult))
    return out


def inv_minus(beta: tuple[int, int], values: U64) -> U64:
    """(n, 2): 1 / (beta - values) for base-field values."""
    den = np.empty((values.shape[0], 2), dtype=np.uint64)
    den[:, 0] = F.sub_vec(np.uint64(beta[0]), values)
    den[:, 1] = np.uint64(beta[1])
    out: U64 = F.ext_batch_inv(den)
    return out


def ext_minus(beta: tuple[int, int], values: U64) -> U64:
    """(n, 2): beta - values for extension values (n, 2)."""
    out = np.empty_like(values)
    out[:, 0] = F.sub_vec(np.uint64(beta[0]), values[:, 0])
    out[:, 1] = F.sub_vec(np.uint64(beta[1]), values[:, 1])
    return out


def compress(alpha: tuple[int, int], cols: list[U64]) -> U64:
    """sum_i alpha^i cols[i], as (n, 2)."""
    n = cols[0].shape[0]
    acc = np.zeros((n, 2), dtype=np.uint64)
    a = np.array([alpha], dtype=np.uint64)
    for c in reversed(cols):
        acc = F.ext_mul_vec(acc, np.broadcast_to(a, acc.shape))
        acc[:, 0] = F.add_vec(acc[:, 0], c)
    return acc


def numerator(mu: tuple[int, int], count: U64, amounts: list[U64]) -> U64:
    n = count.shape[0]
    acc = np.zeros((n, 2), dtype=np.uint64)
    acc[:, 0] = count
    power = (1, 0)
    for x in amounts:
        power = ext_mul_int(power, mu)
        acc[:, 0] = F.add_vec(acc[:, 0], F.mul_vec(x, np.uint64(power[0])))
        acc[:, 1] = F.add_vec(acc[:, 1], F.mul_vec(x, np.uint64(power[1])))
    return acc


def ext_mul_int(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    p = F.P_INT
    return ((a[0] * b[0] + 7 * a[1] * b[1]) % p, (a[0] * b[1] + a[1] * b[0]) % p)


@nb.njit(cache=True)
def prefix_sum_ext(terms: U64, out: U64) -> None:
    s0 = np.uint64(0)
    s1 = np.uint64(0)
    for i in range(terms.shape[0]):
        s0 = F.add(s0, terms[i, 0])
        s1 = F.add(s1, terms[i, 1])
        out[i, 0] = s0
        out[i, 1] = s1


def solvency_aux(air: LogUpAir, main: U64, challenges: list[tuple[int, int]]) -> U64:
    """The solvency circuit's LogUp auxiliary columns (Aux.WIDTH, n, 2)."""
    n = main.shape[1]
    beta_r, alpha, beta_t, mu = (challenges[i] for i in range(Ch.COUNT))
    aux = np.zeros((Aux.WIDTH, n, 2), dtype=np.uint64)
    term = np.zeros((n, 2), dtype=np.uint64)
    for p in range(N_PAIRS):
        u = range_values(main, 2 * p)
        h = inv_minus(beta_r, u)
        if 2 * p + 1 < len(RANGE_EXPRS):
            h = F.ext_add_vec(h, inv_minus(beta_r, range_values(main, 2 * p + 1)))
        aux[Aux.PAIRS + p] = h
        term = F.ext_add_vec(term, h)
    table = np.tile(np.arange(1 << RANGE_BITS, dtype=np.uint64), -(-n // (1 << RANGE_BITS)))[:n]
    inv_t = inv_minus(beta_r, table)
    aux[Aux.RANGE_TABLE_INV] = inv_t
    term = F.ext_sub_vec(term, F.ext_mul_base_vec(inv_t, main[Col.RANGE_MULT]))

    pub = air.public_columns()
    row_inv = F.ext_batch_inv(ext_minus(beta_t, compress(alpha, [main[c] for c in TUPLE_COLS])))
    tab_inv = F.ext_batch_inv(ext_minus(beta_t, compress(alpha, [pub[c] for c in TUPLE_PUB])))
    aux[Aux.ROW_INV], aux[Aux.TABLE_INV] = row_inv, tab_inv
    row_num = numerator(mu, np.ones(n, dtype=np.uint64), [*main[Col.EQ : Col.EQ + 4], *main[Col.DEBT : Col.DEBT + 4]])
    tab_num = numerator(mu, main[Col.TABLE_MULT], air.table_amount_columns(main, pub))
    term = F.ext_add_vec(term, F.ext_mul_vec(row_inv, row_num))
    term = F.ext_sub_vec(term, F.ext_mul_vec(tab_inv, tab_num))
    prefix_sum_ext(np.ascontiguousarray(term), aux[Aux.SUM])
    return aux
