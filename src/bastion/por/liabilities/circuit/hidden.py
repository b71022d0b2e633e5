"""The solvency circuit with hidden batch totals (``bastion.por.solvency/2``, issue 14): what rounds prove.

Version 1 (``circuit.air``) carries each asset's 8 limb totals in public columns: the asset-table side of its
LogUp sum. Here they are witness cells instead (TOT, 8 columns, on asset-table row a, which sits on trace
row 32a), and the batch publishes only a commitment to them, computed in the circuit from those very cells
by the ``totals_hash`` chain (36 columns): salt (4 secret words) on row 0, asset a's message on row 32a,
the output on row 32A - 1 equal to the public commitment. A public selector forces TOT to zero on every
other row, so no part of an asset's sum can sit outside the hashed cells (the padding rows of the asset table
repeat asset 0's tuple; without the selector a prover could split asset 0's total between row 0 and a pad
row and commit to a wrong one). The aggregation proof (``circuit.aggregate``) recomputes the same chain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from bastion.por.liabilities.circuit.air import SolvencyAir
from bastion.por.liabilities.circuit.columns import LIMBS, MAIN_WIDTH, MIN_ROWS, AssetRow, Col, Pub
from bastion.por.liabilities.circuit.totals_hash import (
    DIGEST,
    MESSAGE,
    PERIOD,
    SALT_WORDS,
    TotalsChain,
    chain_inputs,
    periodic_columns,
)
from bastion.por.liabilities.circuit.trace import BatchRows, limb_totals, main_trace
from bastion.stark.air.air import Constraints, Frame
from bastion.stark.field import goldilocks as F
from bastion.stark.field.vals import Val
from bastion.stark.uni.params import DEFAULT_PARAMS, StarkParams
from bastion.stark.uni.prover import Progress, prove
from bastion.stark.uni.security import SecurityReport, report_for
from bastion.stark.uni.verifier import verify

U64 = NDArray[np.uint64]

NAME = "bastion.por.solvency/2"


class HCol:
    TOT = MAIN_WIDTH  # 8: equity limb totals 0-3, debt limb totals 0-3 of asset a on row 32a
    CHAIN = MAIN_WIDTH + MESSAGE  # 36
    WIDTH = CHAIN + TotalsChain.ncols


class HPub:
    IS_TABLE = Pub.T_EQ_TOTAL  # 1 on rows 32a, a < A (replaces the public totals)
    LINK = IS_TABLE + 1
    END = IS_TABLE + 2
    COMMIT = IS_TABLE + 3  # 4
    COUNT = COMMIT + DIGEST


CHAIN = TotalsChain(offset=HCol.CHAIN, periodic_offset=1)  # after the range table's periodic column


class HiddenTotalsAir(SolvencyAir):
    name = NAME
    main_width = HCol.WIDTH
    table_stride = PERIOD

    def __init__(self, table: list[AssetRow], leaves: U64, commitment: Sequence[int], statement: list[int]) -> None:
        zeros = np.zeros((len(table), LIMBS), dtype=object)
        super().__init__(table, leaves, zeros, zeros, statement)
        if PERIOD * len(table) > self.n_used:
            raise ValueError(f"{len(table)} assets need {PERIOD * len(table)} rows, the batch has {self.n_used}")
        if len(commitment) != DIGEST or any(not 0 <= int(w) < F.P_INT for w in commitment):
            raise ValueError("the commitment is 4 canonical field elements")
        self.commitment = [int(w) for w in commitment]

    def periodic_columns(self) -> list[U64]:
        return [*super().periodic_columns(), *periodic_columns()]

    def public_columns(self) -> list[U64]:
        n, a = self.n_used, len(self.table)
        cols = super().public_columns()[: Pub.T_EQ_TOTAL]
        extra = [np.zeros(n, dtype=np.uint64) for _ in range(HPub.COUNT - HPub.IS_TABLE)]
        extra[HPub.IS_TABLE - HPub.IS_TABLE][: PERIOD * a : PERIOD] = 1
        lasts = np.arange(PERIOD - 1, PERIOD * a, PERIOD)
        extra[HPub.LINK - HPub.IS_TABLE][lasts[:-1]] = 1
        extra[HPub.END - HPub.IS_TABLE][lasts[-1]] = 1
        for k in range(DIGEST):
            extra[HPub.COMMIT - HPub.IS_TABLE + k][lasts[-1]] = self.commitment[k]
        return [*cols, *extra]

    def table_amounts(self, row: list[Val], pub_row: list[Val]) -> list[Val]:
        return [row[HCol.TOT + i] for i in range(MESSAGE)]

    def table_amount_columns(self, main: U64, pub: list[U64]) -> list[U64]:
        return [main[HCol.TOT + i] for i in range(MESSAGE)]

    def extra_constraints(self, f: Frame) -> Constraints:
        cur, pub = f.cur, f.public
        every, transition = CHAIN.constraints(
            cur, f.nxt, f.periodic, pub[HPub.LINK], [cur[HCol.TOT + i] for i in range(MESSAGE)]
        )
        every += [(1 - pub[HPub.IS_TABLE]) * cur[HCol.TOT + i] for i in range(MESSAGE)]
        every += [pub[HPub.END] * cur[c] - pub[HPub.COMMIT + k] for k, c in enumerate(CHAIN.digest_cols)]
        return Constraints(transition=transition, every_row=every)


def hidden_trace(
    rows: BatchRows, table: list[AssetRow], salt: Sequence[int], *, check: bool = True
) -> tuple[U64, list[list[int]], list[list[int]], list[int]]:
    """(main trace, equity limb totals, debt limb totals, commitment) of a batch under ``salt`` (4 words)."""
    if len(salt) != SALT_WORDS:
        raise ValueError(f"the salt is {SALT_WORDS} field elements")
    base = main_trace(rows, table, check=check)
    n, a = base.shape[1], len(table)
    main = np.zeros((HCol.WIDTH, n), dtype=np.uint64)
    main[:MAIN_WIDTH] = base
    main[Col.TABLE_MULT] = 0
    main[Col.TABLE_MULT, : PERIOD * a : PERIOD] = base[Col.TABLE_MULT, :a]
    eq, dt = limb_totals(rows, a)
    return main, eq, dt, set_totals(main, table, eq, dt, salt)


def set_totals(
    main: U64, table: list[AssetRow], eq: Sequence[Sequence[int]], dt: Sequence[Sequence[int]], salt: Sequence[int]
) -> list[int]:
    """Write limb totals into TOT (rows 32a) and the chain over them; returns the commitment. (Soundness tests
    use it to commit to totals other than the trace's sums.)"""
    a, n = len(table), main.shape[1]
    msgs = np.array([[int(v) % F.P_INT for v in (*e, *d)] for e, d in zip(eq, dt, strict=True)], dtype=np.uint64)
    main[HCol.TOT : HCol.TOT + MESSAGE] = 0
    main[HCol.TOT : HCol.TOT + MESSAGE, : PERIOD * a : PERIOD] = msgs.T
    inputs, commitment = chain_inputs(salt, msgs)
    main[HCol.CHAIN : HCol.CHAIN + TotalsChain.ncols] = TotalsChain.trace(inputs, n)
    return commitment


def prove_hidden_batch(
    rows: BatchRows,
    table: list[AssetRow],
    statement: list[int],
    salt: Sequence[int],
    params: StarkParams = DEFAULT_PARAMS,
    *,
    progress: Progress | None = None,
) -> tuple[bytes, U64, list[list[int]], list[list[int]], list[int]]:
    """(proof, leaf words (n, 4), equity limb totals, debt limb totals, commitment); the totals stay private."""
    from bastion.por.liabilities.circuit.columns import GADGET

    main, eq, dt, commitment = hidden_trace(rows, table, salt)
    leaf_words = np.ascontiguousarray(main[GADGET.digest_cols].T)
    air = HiddenTotalsAir(table, np.ascontiguousarray(leaf_words.T), commitment, statement)
    return prove(air, main, params, progress=progress), leaf_words, eq, dt, commitment


def verify_hidden_batch(
    proof: bytes,
    table: list[AssetRow],
    leaf_words: U64,
    commitment: Sequence[int],
    statement: list[int],
    params: StarkParams = DEFAULT_PARAMS,
) -> None:
    verify(HiddenTotalsAir(table, np.ascontiguousarray(leaf_words.T), commitment, statement), proof, params)


def hidden_batch_security(table: list[AssetRow], rows: int, params: StarkParams) -> SecurityReport:
    """The soundness count (stark/security.py) of a hidden-totals batch proof of ``rows`` rows over ``table``:
    the shape depends on the row count, the asset count and the parameters only, not on the data."""
    n = max(MIN_ROWS, PERIOD * len(table))
    air = HiddenTotalsAir(table, np.zeros((4, n), dtype=np.uint64), [0] * DIGEST, [])
    return report_for(air, params, n_used=rows)
