"""The aggregation circuit: the committed batch totals add up exactly to the published per-asset totals.

Public: the round statement (its digest), the number of batches B and assets A, each batch's commitment
(``totals_hash``: a salted Poseidon2 chain over its A x 8 limb totals) and each asset's total equity and debt
in base units. Witness: every batch's salt and limb totals, and the per-limb global sums with their carries.

Rows: batch b, asset a is the 32-row block j = b * A + a (``totals_hash`` layout): its row 0 holds the
batch's 8 limb totals of asset a (TOT), absorbed by the chain; the chain links the A blocks of a batch, starts
from the batch's salt (free on block b * A), and its output on the batch's last block equals the batch's public
commitment. A LogUp sum with public denominators (the asset index of each block's first row; the asset index
of table rows 0 .. A-1) shows, for each asset and limb, sum_b TOT[b, a, limb] = GS[a, limb] in the field.
The carry chain then shows sum_k GS[a, k] 2^(16k) = the published total, over the integers.

Why exact (no wrap-around mod p): each TOT is bound by the commitment (collision resistance) to the value
the batch proof summed, an integer below 2^16 * 2^23 = 2^39 (16-bit range-checked limbs over fewer than 2^23
rows); with B <= MAX_BATCHES = 2^16 a global limb sum is below 2^55 < p, so GS equals the integer sum. Each
carry is 40 boolean cells (< 2^40), so every carry equation has terms below 2^57 and holds over the
integers; the published total, in 16-bit limbs G_0..G_6 (below 2^104), is then the exact sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from bastion.por.liabilities.circuit import logup
from bastion.por.liabilities.circuit.air import _system_digest
from bastion.por.liabilities.circuit.columns import LIMB_BITS, LIMBS
from bastion.por.liabilities.circuit.totals_hash import (
    DIGEST,
    MESSAGE,
    PERIOD,
    SALT_WORDS,
    TotalsChain,
    chain_inputs,
    periodic_columns,
)
from bastion.stark.air.air import Air, Constraints, Frame, Lookup
from bastion.stark.field import goldilocks as F
from bastion.stark.field.vals import Val

U64 = NDArray[np.uint64]

NAME = "bastion.por.aggregate/1"
MAX_BATCHES = 1 << 16
CARRY_BITS = 40
CARRIES = LIMBS  # per kind: after limbs 0, 1, 2, 3
TOTAL_LIMBS = 7  # the published total in 16-bit limbs: below 2^(16 * 4 + CARRY_BITS) = 2^104
MAX_TOTAL = 1 << (LIMB_BITS * LIMBS + CARRY_BITS)
KINDS = 2  # equity, debt


class Col:
    TOT = 0  # 8: equity limbs 0-3, debt limbs 0-3 of (batch, asset) on the block's first row
    CHAIN = 8  # 36: the hash chain
    GS = CHAIN + TotalsChain.ncols  # 8: global limb sums of asset a on row a
    BITS = GS + MESSAGE  # KINDS x CARRIES x CARRY_BITS
    WIDTH = BITS + KINDS * CARRIES * CARRY_BITS


def bit_col(kind: int, carry: int, bit: int) -> int:
    return Col.BITS + (kind * CARRIES + carry) * CARRY_BITS + bit


class Pub:
    IS_DATA = 0  # 1 on each block's first row
    ASSET = 1  # the asset index of a block's first row (0 elsewhere)
    LINK = 2  # 1 on row 31 of a block that feeds the next block of the same batch
    END = 3  # 1 on row 31 of a batch's last block
    COMMIT = 4  # 4: the batch's commitment on its END row
    IS_TAB = 8  # 1 on rows 0 .. A-1
    TASSET = 9  # a on row a < A
    G = 10  # KINDS x TOTAL_LIMBS: the published totals' 16-bit limbs on row a
    COUNT = G + KINDS * TOTAL_LIMBS


class Aux:
    DINV = 0  # 1 / (beta - ASSET)
    TINV = 1  # 1 / (beta - TASSET)
    SUM = 2
    WIDTH = 3


CHAIN = TotalsChain(offset=Col.CHAIN, periodic_offset=0)


def total_limbs(total: int) -> list[int]:
    if not 0 <= total < MAX_TOTAL:
        raise ValueError(f"a total of {total} units is outside [0, 2^{LIMB_BITS * LIMBS + CARRY_BITS})")
    return [(total >> (LIMB_BITS * k)) & 0xFFFF for k in range(TOTAL_LIMBS)]


def aggregate_rows(n_batches: int, n_assets: int) -> int:
    """The aggregation trace's used rows: one totals-hash period (32 rows) per batch and asset."""
    return PERIOD * n_batches * n_assets


class AggregateAir(Air):
    name = NAME
    main_width = Col.WIDTH
    aux_width = Aux.WIDTH
    num_challenges = 2  # beta (denominators), mu (limbs in the numerator)
    max_degree = 3

    def __init__(
        self,
        commitments: Sequence[Sequence[int]],
        equity_totals: Sequence[int],
        debt_totals: Sequence[int],
        statement: Sequence[int],
    ) -> None:
        b, a = len(commitments), len(equity_totals)
        if not 1 <= b <= MAX_BATCHES:
            raise ValueError(f"the aggregation takes 1 to {MAX_BATCHES} batches, got {b}")
        if a < 1 or len(debt_totals) != a:
            raise ValueError("equity and debt totals must list the same assets (at least one)")
        super().__init__(aggregate_rows(b, a))
        if any(len(c) != DIGEST or any(not 0 <= int(w) < F.P_INT for w in c) for c in commitments):
            raise ValueError("a commitment is 4 canonical field elements")
        self.n_batches, self.n_assets = b, a
        self.commitments = [[int(w) for w in c] for c in commitments]
        self.limbs = [[total_limbs(int(t)) for t in equity_totals], [total_limbs(int(t)) for t in debt_totals]]
        self.statement = [int(v) % F.P_INT for v in statement]

    def public_inputs(self) -> list[int]:
        return [self.n_batches, self.n_assets, *self.statement]

    def periodic_columns(self) -> list[U64]:
        return periodic_columns()

    def lookups(self) -> list[Lookup]:
        return [Lookup("batch_totals", 1, self.n_assets, numerator_degree=MESSAGE)]

    def public_columns(self) -> list[U64]:
        n, a = self.n_used, self.n_assets
        cols = [np.zeros(n, dtype=np.uint64) for _ in range(Pub.COUNT)]
        firsts = np.arange(0, n, PERIOD)
        cols[Pub.IS_DATA][firsts] = 1
        cols[Pub.ASSET][firsts] = np.arange(len(firsts), dtype=np.uint64) % np.uint64(a)
        lasts = firsts + PERIOD - 1
        ends = (np.arange(len(firsts)) % a) == a - 1
        cols[Pub.LINK][lasts[~ends]] = 1
        cols[Pub.END][lasts[ends]] = 1
        for k in range(DIGEST):
            cols[Pub.COMMIT + k][lasts[ends]] = np.array([c[k] for c in self.commitments], dtype=np.uint64)
        cols[Pub.IS_TAB][:a] = 1
        cols[Pub.TASSET][:a] = np.arange(a, dtype=np.uint64)
        for kind in range(KINDS):
            for j in range(TOTAL_LIMBS):
                cols[Pub.G + kind * TOTAL_LIMBS + j][:a] = np.array([t[j] for t in self.limbs[kind]], dtype=np.uint64)
        return cols

    def constraints(self, f: Frame) -> Constraints:
        cur, nxt, pub = f.cur, f.nxt, f.public
        beta, mu = f.challenges[0], f.challenges[1]
        every, transition = CHAIN.constraints(
            cur, nxt, f.periodic, pub[Pub.LINK], [cur[Col.TOT + i] for i in range(MESSAGE)]
        )
        every += [(1 - pub[Pub.IS_DATA]) * cur[Col.TOT + i] for i in range(MESSAGE)]
        every += [pub[Pub.END] * cur[c] - pub[Pub.COMMIT + k] for k, c in enumerate(CHAIN.digest_cols)]
        every += [(1 - pub[Pub.IS_TAB]) * cur[Col.GS + i] for i in range(MESSAGE)]
        for kind in range(KINDS):
            carries = []
            for k in range(CARRIES):
                acc: Val | None = None
                for i in range(CARRY_BITS):
                    bit = cur[bit_col(kind, k, i)]
                    every.append(bit * (1 - bit))
                    acc = bit * (1 << i) if acc is None else acc + bit * (1 << i)
                assert acc is not None
                carries.append(acc)
            g = [pub[Pub.G + kind * TOTAL_LIMBS + j] for j in range(TOTAL_LIMBS)]
            s = [cur[Col.GS + kind * LIMBS + k] for k in range(LIMBS)]
            for k in range(LIMBS):
                incoming = s[k] if k == 0 else s[k] + carries[k - 1]
                every.append(incoming - g[k] - carries[k] * (1 << LIMB_BITS))
            every.append(carries[-1] - g[4] - g[5] * (1 << LIMB_BITS) - g[6] * (1 << (2 * LIMB_BITS)))

        aux, aux_n = f.aux_cur, f.aux_nxt
        every.append(aux[Aux.DINV] * (beta - pub[Pub.ASSET]) - 1)
        every.append(aux[Aux.TINV] * (beta - pub[Pub.TASSET]) - 1)

        def numerator(values: list[Val]) -> Val:
            acc = mu * values[0]
            power = mu
            for x in values[1:]:
                power = power * mu
                acc = acc + power * x
            return acc

        def term(row: list[Val], a: list[Val]) -> Val:
            return a[Aux.DINV] * numerator([row[Col.TOT + i] for i in range(MESSAGE)]) - a[Aux.TINV] * numerator(
                [row[Col.GS + i] for i in range(MESSAGE)]
            )

        transition.append(aux_n[Aux.SUM] - aux[Aux.SUM] - term(nxt, aux_n))
        return Constraints(
            transition=transition,
            every_row=every,
            first_row=[aux[Aux.SUM] - term(cur, aux)],
            last_row=[aux[Aux.SUM]],
        )

    def shape_descriptor(self) -> str:
        return f"{super().shape_descriptor()};system={_system_digest(self)}"

    def build_aux(self, main: U64, challenges: list[tuple[int, int]]) -> U64:
        beta, mu = challenges[0], challenges[1]
        n = main.shape[1]
        pub = self.public_columns()
        aux = np.zeros((Aux.WIDTH, n, 2), dtype=np.uint64)
        aux[Aux.DINV] = logup.inv_minus(beta, pub[Pub.ASSET])
        aux[Aux.TINV] = logup.inv_minus(beta, pub[Pub.TASSET])
        zero = np.zeros(n, dtype=np.uint64)
        data = logup.numerator(mu, zero, [main[Col.TOT + i] for i in range(MESSAGE)])
        table = logup.numerator(mu, zero, [main[Col.GS + i] for i in range(MESSAGE)])
        term = F.ext_sub_vec(F.ext_mul_vec(aux[Aux.DINV], data), F.ext_mul_vec(aux[Aux.TINV], table))
        logup.prefix_sum_ext(np.ascontiguousarray(term), aux[Aux.SUM])
        return aux


# --------------------------------------------------------------------------------------------------
# the prover's side


def aggregate_trace(
    salts: Sequence[Sequence[int]],
    equity_limbs: U64,
    debt_limbs: U64,
    *,
    claimed: tuple[Sequence[int], Sequence[int]] | None = None,
) -> tuple[U64, list[list[int]]]:
    """Main trace and the batches' commitments. ``*_limbs``: (B, A, 4) limb totals of each batch and asset.

    ``claimed`` (soundness tests only): per-asset equity and debt totals other than the true sums; the carries
    are then solved in the field (wrapping mod p) and their bits are the low 40 bits, as a cheating prover
    would try."""
    eq = np.asarray(equity_limbs, dtype=object)
    dt = np.asarray(debt_limbs, dtype=object)
    b, a = eq.shape[0], eq.shape[1]
    n = PERIOD * b * a
    main = np.zeros((Col.WIDTH, n), dtype=np.uint64)
    inputs = []
    commitments = []
    for i in range(b):
        msgs = np.array([[*map(int, eq[i, j]), *map(int, dt[i, j])] for j in range(a)], dtype=np.uint64)
        chain_in, commit = chain_inputs(salts[i], msgs)
        inputs.append(chain_in)
        commitments.append(commit)
        main[Col.TOT : Col.TOT + MESSAGE, PERIOD * i * a : PERIOD * (i + 1) * a : PERIOD] = msgs.T
    main[Col.CHAIN : Col.CHAIN + TotalsChain.ncols] = TotalsChain.trace(np.concatenate(inputs), n)
    p, inv = F.P_INT, pow(1 << LIMB_BITS, -1, F.P_INT)
    for kind, limbs in enumerate((eq, dt)):
        for j in range(a):
            sums = [sum(int(limbs[i, j, k]) for i in range(b)) for k in range(LIMBS)]
            total = sum(s << (LIMB_BITS * k) for k, s in enumerate(sums)) if claimed is None else int(claimed[kind][j])
            g = total_limbs(total)
            carry = 0
            for k in range(LIMBS):
                main[Col.GS + kind * LIMBS + k, j] = sums[k] % p
                if claimed is None:
                    carry = (sums[k] + carry - g[k]) >> LIMB_BITS
                    if not 0 <= carry < 1 << CARRY_BITS:
                        raise ValueError("a carry does not fit its bits")
                else:
                    carry = (sums[k] + carry - g[k]) * inv % p
                for bit in range(CARRY_BITS):
                    main[bit_col(kind, k, bit), j] = (carry >> bit) & 1
    return main, commitments


def global_totals(equity_limbs: U64, debt_limbs: U64) -> tuple[list[int], list[int]]:
    """Per asset, the exact sums of the batches' limb totals, recombined: what the round publishes."""
    out = []
    for limbs in (np.asarray(equity_limbs, dtype=object), np.asarray(debt_limbs, dtype=object)):
        out.append(
            [
                sum(int(limbs[i, j, k]) << (LIMB_BITS * k) for i in range(limbs.shape[0]) for k in range(LIMBS))
                for j in range(limbs.shape[1])
            ]
        )
    return out[0], out[1]


__all__ = ["SALT_WORDS", "AggregateAir", "aggregate_trace", "global_totals"]
