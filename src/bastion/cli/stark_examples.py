"""Example AIRs: small statements that exercise every part of the engine (tests, demo, benchmark).

* :class:`FibonacciAir`: a two-column recurrence with boundary constraints (degree 1).
* :class:`CubicMixAir`: ``width`` columns, each row's next value ``x_c^3 + x_{c+1} + k_c`` with periodic
  round constants ``k_c``: the degree-3 workload of the benchmark.
* :class:`RangeCheckAir`: values proven to lie in [0, 2^bits) with the LogUp component.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark.air.air import Air, Constraints, Frame, Lookup
from bastion.stark.air.logup import RangeCheck
from bastion.stark.field import goldilocks as F
from bastion.stark.field.goldilocks import add, mul

U64 = NDArray[np.uint64]


class FibonacciAir(Air):
    name = "bastion.examples.fibonacci/1"
    main_width = 2
    max_degree = 1

    def __init__(self, n_used: int, result: int) -> None:
        super().__init__(n_used)
        self.result = result % F.P_INT

    def public_inputs(self) -> list[int]:
        return [self.result]

    def constraints(self, f: Frame) -> Constraints:
        a, b = f.cur
        a2, b2 = f.nxt
        return Constraints(
            transition=[a2 - b, b2 - (a + b)],
            first_row=[a - 1, b - 1],
            last_row=[b - self.result],
        )

    @staticmethod
    def trace(n_used: int) -> tuple[U64, int]:
        a, b = 1, 1
        cols = np.empty((2, n_used), dtype=np.uint64)
        for i in range(n_used):
            cols[0, i], cols[1, i] = a, b
            a, b = b, (a + b) % F.P_INT
        return cols, int(cols[1, -1])


@nb.njit(cache=True, nogil=True)
def _cubic_mix_trace(first: U64, consts: U64, n_used: int) -> U64:
    w = first.shape[0]
    period = consts.shape[1]
    out = np.empty((w, n_used), dtype=np.uint64)
    out[:, 0] = first
    for i in range(n_used - 1):
        for c in range(w):
            x = out[c, i]
            out[c, i + 1] = add(add(mul(mul(x, x), x), out[(c + 1) % w, i]), consts[c, i % period])
    return out


class CubicMixAir(Air):
    name = "bastion.examples.cubic-mix/1"
    max_degree = 3

    def __init__(self, width: int, n_used: int, first: list[int], last: list[int], period: int = 8) -> None:
        super().__init__(n_used)
        self.main_width = width
        self.first = [v % F.P_INT for v in first]
        self.last = [v % F.P_INT for v in last]
        rng = np.random.default_rng(20261122)  # fixed: the constants are part of the circuit
        self.consts = rng.integers(0, F.P_INT, size=(width, period), dtype=np.uint64)

    def public_inputs(self) -> list[int]:
        return self.first + self.last

    def periodic_columns(self) -> list[U64]:
        return [self.consts[c] for c in range(self.main_width)]

    def constraints(self, f: Frame) -> Constraints:
        w = self.main_width
        cur, nxt, k = f.cur, f.nxt, f.periodic
        return Constraints(
            transition=[nxt[c] - (cur[c] * cur[c] * cur[c] + cur[(c + 1) % w] + k[c]) for c in range(w)],
            first_row=[cur[c] - self.first[c] for c in range(w)],
            last_row=[cur[c] - self.last[c] for c in range(w)],
        )

    @classmethod
    def instance(cls, width: int, n_used: int, seed: int = 1) -> tuple[CubicMixAir, U64]:
        rng = np.random.default_rng(seed)
        first = rng.integers(0, F.P_INT, size=width, dtype=np.uint64)
        probe = cls(width, n_used, [int(v) for v in first], [0] * width)
        trace = _cubic_mix_trace(first, probe.consts, n_used)
        air = cls(width, n_used, [int(v) for v in first], [int(v) for v in trace[:, -1]])
        return air, trace


class RangeCheckAir(Air):
    """Column 0 holds values each proven to be in [0, 2^bits); the public input is their sum, so the
    statement is "these committed values, each in range, add up to S" (sum in column 1)."""

    name = "bastion.examples.range-check/1"
    max_degree = 2

    def __init__(self, n_used: int, bits: int, total: int) -> None:
        super().__init__(n_used)
        self.total = total % F.P_INT
        self.range = RangeCheck(bits=bits, value_columns=[0], multiplicity_column=2, table_periodic=0,
                                aux_offset=0, challenge=0)
        self.main_width = 3
        self.aux_width = self.range.aux_width
        self.num_challenges = 1

    def public_inputs(self) -> list[int]:
        return [self.total]

    def lookups(self) -> list[Lookup]:
        return [self.range.lookup()]

    def periodic_columns(self) -> list[U64]:
        return [self.range.table()]

    def constraints(self, f: Frame) -> Constraints:
        v, s, _m = f.cur
        s2 = f.nxt[1]
        c = Constraints(
            transition=[s2 - (s + f.nxt[0])],
            first_row=[s - v],
            last_row=[s - self.total],
        )
        return c.extend(self.range.constraints(f))

    def build_aux(self, main: U64, challenges: list[tuple[int, int]]) -> U64:
        return self.range.build_aux(main, self.periodic_columns()[0], challenges)

    @classmethod
    def instance(cls, values: list[int], bits: int) -> tuple[RangeCheckAir, U64]:
        n = len(values)
        v = np.array(values, dtype=np.uint64)
        s = np.cumsum(np.array(values, dtype=object)) % F.P_INT
        air = cls(n, bits, int(s[-1]))
        main = np.zeros((3, n), dtype=np.uint64)
        main[0] = v
        main[1] = np.array([int(x) for x in s], dtype=np.uint64)
        main[2] = air.range.multiplicities(main, n)
        return air, main


class PublicColumnAir(Air):
    """The trace's column 0 equals a public column, and column 1 is its running sum ending at a public
    total: the shape of the proof of reserves' binding to a published leaf list."""

    name = "bastion.examples.public-column/1"
    main_width = 2
    max_degree = 1

    def __init__(self, published: list[int], total: int) -> None:
        super().__init__(len(published))
        self.published = np.array([v % F.P_INT for v in published], dtype=np.uint64)
        self.total = total % F.P_INT

    def public_inputs(self) -> list[int]:
        return [self.total]

    def public_columns(self) -> list[U64]:
        return [self.published]

    def constraints(self, f: Frame) -> Constraints:
        v, s = f.cur
        return Constraints(
            every_row=[v - f.public[0]],
            transition=[f.nxt[1] - (s + f.nxt[0])],
            first_row=[s - v],
            last_row=[s - self.total],
        )

    @classmethod
    def instance(cls, published: list[int]) -> tuple[PublicColumnAir, U64]:
        sums = np.cumsum(np.array(published, dtype=object)) % F.P_INT
        main = np.array([published, [int(x) for x in sums]], dtype=np.uint64)
        return cls(published, int(sums[-1])), main
