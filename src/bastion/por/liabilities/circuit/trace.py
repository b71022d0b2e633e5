"""One batch of the solvency proof: its rows, its leaves, its trace and its public data.

A batch is a run of whole users in leaf order (each user's rows contiguous; one-row zero "users" pad it to
the batch's row count, placed among the users by the round, ``round.batch_order``: nothing here depends on
where they sit). ``BatchRows`` holds it column-wise; ``leaves`` hashes its rows in bulk (numba
Poseidon2, checked against ``bastion.por.format.leaves``); ``main_trace`` builds the circuit's witness;
``build_aux`` its LogUp columns; ``prove_batch`` / ``verify_batch`` tie them to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.por.format.leaves import ASSET_SHIFT, COUNT_SHIFT
from bastion.por.liabilities.circuit import logup
from bastion.por.liabilities.circuit.air import SolvencyAir
from bastion.por.liabilities.circuit.columns import (
    ACC_BITS,
    GADGET,
    LIMBS,
    MAIN_WIDTH,
    MIN_ROWS,
    RANGE_BITS,
    RANGE_EXPRS,
    AssetRow,
    Col,
    limbs,
)
from bastion.stark.field import goldilocks as F
from bastion.stark.hash import poseidon2 as P2
from bastion.stark.uni.params import DEFAULT_PARAMS, StarkParams
from bastion.stark.uni.prover import Progress, prove
from bastion.stark.uni.security import SecurityReport, report_for
from bastion.stark.uni.verifier import verify

U64 = NDArray[np.uint64]


class BatchError(ValueError):
    """The batch cannot be proven as it is (for example an insolvent user); ``row`` is in batch order."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message if row is None else f"row {row}: {message}")
        self.row = row


@dataclass
class BatchRows:
    """Rows in leaf order. ``user_start[i]`` is True where a new user's block begins."""

    ids: U64  # (n, 4)
    asset: U64  # (n,)
    equity: U64  # (n,) base units
    debt: U64  # (n,)
    salt: U64  # (n,)
    user_start: NDArray[np.bool_]  # (n,)

    @property
    def n(self) -> int:
        return int(self.asset.shape[0])

    def structure(self) -> tuple[U64, U64, U64]:
        """(idx, cnt, last) of every row, from the block starts."""
        return _structure(np.ascontiguousarray(self.user_start))

    def leaf_inputs(self) -> U64:
        idx, cnt, _ = self.structure()
        packed = self.asset + (idx << np.uint64(ASSET_SHIFT)) + (cnt << np.uint64(COUNT_SHIFT))
        return np.ascontiguousarray(
            np.column_stack([self.ids, packed, self.equity, self.debt, self.salt]).astype(np.uint64)
        )


@nb.njit(cache=True)
def _structure_kernel(start: NDArray[np.bool_], idx: U64, cnt: U64, last: U64) -> None:
    n = start.shape[0]
    i = 0
    while i < n:
        j = i + 1
        while j < n and not start[j]:
            j += 1
        for r in range(i, j):
            idx[r] = r - i
            cnt[r] = j - i
            last[r] = 0
        last[j - 1] = 1
        i = j


def _structure(start: NDArray[np.bool_]) -> tuple[U64, U64, U64]:
    n = start.shape[0]
    if n and not start[0]:
        raise BatchError("a batch must begin with a user's first row", 0)
    idx = np.empty(n, dtype=np.uint64)
    cnt = np.empty(n, dtype=np.uint64)
    last = np.empty(n, dtype=np.uint64)
    _structure_kernel(start, idx, cnt, last)
    return idx, cnt, last


def leaves(rows: BatchRows) -> U64:
    """(n, 4) leaf words of every row (the first 4 words of Poseidon2-w8 of its inputs)."""
    return np.ascontiguousarray(P2.permute(rows.leaf_inputs())[:, :4])


@dataclass(frozen=True)
class TableArrays:
    weq: U64  # (A, 4)
    wdebt: U64  # (A, 4)
    scale: U64  # (A,)

    @staticmethod
    def of(table: list[AssetRow]) -> TableArrays:
        return TableArrays(
            np.array([r.equity_weights for r in table], dtype=np.uint64),
            np.array([r.debt_weights for r in table], dtype=np.uint64),
            np.array([r.scale for r in table], dtype=np.uint64),
        )


@nb.njit(cache=True)
def _accumulate(v: U64, last: U64, out: U64) -> int:
    # running per-user sums; returns the first row whose sum reaches 2^61 (or -1)
    bound = np.uint64(1) << np.uint64(61)
    acc = np.uint64(0)
    for i in range(v.shape[0]):
        acc = acc + v[i]
        if acc >= bound:
            return i
        out[i] = acc
        if last[i] == 1:
            acc = np.uint64(0)
    return -1


def limb_totals(rows: BatchRows, n_assets: int) -> tuple[list[list[int]], list[list[int]]]:
    """Per asset and limb, the batch's sums of equity and debt limbs: exact ints, (n_assets, 4) each.

    float64 bincount is exact here: 16-bit limbs over fewer than 2^23 rows sum below 2^39 < 2^53.
    """
    a = rows.asset.astype(np.int64)
    out = []
    for amounts in (rows.equity, rows.debt):
        per_limb = [np.bincount(a, weights=x.astype(np.float64), minlength=n_assets) for x in limbs(amounts)]
        out.append([[int(per_limb[k][i]) for k in range(LIMBS)] for i in range(n_assets)])
    return out[0], out[1]


def main_trace(rows: BatchRows, table: list[AssetRow], *, check: bool = True) -> U64:
    """The circuit's main trace (MAIN_WIDTH, n) for ``rows``. Raises ``BatchError`` for rows the circuit
    cannot prove (an amount over its asset's cap, a user whose debt outweighs collateral) unless ``check``
    is False (soundness tests build bad witnesses on purpose)."""
    n = rows.n
    tab = TableArrays.of(table)
    if n and int(rows.asset.max()) >= len(table):
        raise BatchError("asset index outside the asset table", int(np.argmax(rows.asset >= len(table))))
    a = rows.asset.astype(np.int64)
    idx, cnt, last = rows.structure()
    main = np.zeros((MAIN_WIDTH, n), dtype=np.uint64)
    main[Col.ID : Col.ID + 4] = rows.ids.T
    main[Col.IDX], main[Col.CNT], main[Col.LAST], main[Col.ASSET] = idx, cnt, last, rows.asset
    e, d = limbs(rows.equity), limbs(rows.debt)
    main[Col.EQ : Col.EQ + 4] = e
    main[Col.DEBT : Col.DEBT + 4] = d
    main[Col.WEQ : Col.WEQ + 4] = tab.weq[a].T
    main[Col.WDEBT : Col.WDEBT + 4] = tab.wdebt[a].T
    scale = tab.scale[a]
    main[Col.SCALE] = scale
    main[Col.EQ_TOP_SCALED] = F.mul_vec(scale, e[3])
    main[Col.DEBT_TOP_SCALED] = F.mul_vec(scale, d[3])
    if check:
        caps = np.array([1 << r.amount_bits for r in table], dtype=np.uint64)[a]
        for name, amounts in (("equity", rows.equity), ("debt", rows.debt)):
            bad = amounts >= caps
            if bad.any():
                i = int(np.argmax(bad))
                cap_bits = table[a[i]].amount_bits
                raise BatchError(f"{name} {int(amounts[i])} is not below its asset's cap 2^{cap_bits}", i)

    # values: each product < 2^60 and each row sum < 2^61 by the caps, so uint64 arithmetic is exact
    v_e = np.zeros(n, dtype=np.uint64)
    v_d = np.zeros(n, dtype=np.uint64)
    for k in range(LIMBS):
        v_e += e[k] * tab.weq[a, k]
        v_d += d[k] * tab.wdebt[a, k]
    acc_e = np.zeros(n, dtype=np.uint64)
    acc_d = np.zeros(n, dtype=np.uint64)
    for name, v, out in (("collateral", v_e, acc_e), ("debt", v_d, acc_d)):
        bad_row = _accumulate(v, last, out)
        if bad_row >= 0 and check:
            raise BatchError(f"the user's {name} value reaches 2^{ACC_BITS} micro-USD", bad_row)
    main[Col.ACC_EQ : Col.ACC_EQ + 4] = limbs(acc_e)
    main[Col.ACC_DEBT : Col.ACC_DEBT + 4] = limbs(acc_d)
    is_last = last == 1
    if check:
        short = is_last & (acc_e < acc_d)
        if short.any():
            i = int(np.argmax(short))
            raise BatchError(
                f"insolvent user: collateral {int(acc_e[i])} < debt {int(acc_d[i])} micro-USD at the circuit's "
                "weights (collateral rounded down, debt up)",
                i,
            )
    net = np.where(is_last & (acc_e >= acc_d), acc_e - acc_d, np.uint64(0))
    if not check:
        # a cheating witness: the field difference, which the range checks must then catch
        net = np.where(is_last, F.sub_vec(acc_e, acc_d), np.uint64(0))
    main[Col.NET : Col.NET + 4] = limbs(net)
    main[Col.SALT] = rows.salt

    main[Col.TABLE_MULT, : len(table)] = np.bincount(a, minlength=len(table)).astype(np.uint64)
    main[GADGET.offset : GADGET.end] = GADGET.trace_columns(rows.leaf_inputs())
    main[Col.RANGE_MULT] = range_multiplicities(main, check=check)
    return main


def range_multiplicities(main: U64, *, check: bool = True) -> U64:
    n = main.shape[1]
    size = 1 << RANGE_BITS
    counts = np.zeros(size, dtype=np.int64)
    for j in range(len(RANGE_EXPRS)):
        vals = logup.range_values(main, j)
        bad = vals >= np.uint64(size)
        if bad.any():
            if check:
                col = RANGE_EXPRS[j][0]
                raise BatchError(f"trace column {col} is outside the range table", int(np.argmax(bad)))
            vals = vals[~bad]
        counts += np.bincount(vals.astype(np.int64), minlength=size)
    out = np.zeros(n, dtype=np.uint64)
    out[:size] = counts.astype(np.uint64)
    return out


# --------------------------------------------------------------------------------------------------
# proving and verifying one batch


def make_air(
    table: list[AssetRow],
    leaf_words: U64,
    equity_totals: list[list[int]],
    debt_totals: list[list[int]],
    statement: list[int],
) -> SolvencyAir:
    """The batch statement as the verifier builds it: ``leaf_words`` (n, 4) from the published leaf list."""
    return SolvencyAir(
        table,
        np.ascontiguousarray(leaf_words.T),
        np.array(equity_totals, dtype=object),
        np.array(debt_totals, dtype=object),
        statement,
    )


def batch_security(table: list[AssetRow], rows: int, params: StarkParams) -> SecurityReport:
    """The soundness count (stark/uni/security.py) of a batch proof of ``rows`` rows over ``table``: the shape
    depends on the row count, the asset count and the parameters only, not on the data."""
    zeros = np.zeros((len(table), LIMBS), dtype=object)
    air = SolvencyAir(table, np.zeros((4, MIN_ROWS), dtype=np.uint64), zeros, zeros, [])
    return report_for(air, params, n_used=rows)


def prove_batch(
    rows: BatchRows,
    table: list[AssetRow],
    statement: list[int],
    params: StarkParams = DEFAULT_PARAMS,
    *,
    progress: Progress | None = None,
) -> tuple[bytes, U64, list[list[int]], list[list[int]]]:
    """Prove a batch; returns (proof, leaf words (n, 4), equity limb totals, debt limb totals)."""
    main = main_trace(rows, table)
    leaf_words = np.ascontiguousarray(main[GADGET.digest_cols].T)
    eq_tot, debt_tot = limb_totals(rows, len(table))
    air = make_air(table, leaf_words, eq_tot, debt_tot, statement)
    return prove(air, main, params, progress=progress), leaf_words, eq_tot, debt_tot


def verify_batch(
    proof: bytes,
    table: list[AssetRow],
    leaf_words: U64,
    equity_totals: list[list[int]],
    debt_totals: list[list[int]],
    statement: list[int],
    params: StarkParams = DEFAULT_PARAMS,
) -> None:
    """Raises ``bastion.stark.uni.verifier.VerificationError`` unless the proof holds for this public data."""
    verify(make_air(table, leaf_words, equity_totals, debt_totals, statement), proof, params)
