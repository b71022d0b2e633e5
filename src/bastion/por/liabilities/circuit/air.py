"""The solvency circuit: one STARK per batch of users, one trace row per (user, asset) holding.

It proves, for the batch's rows (design and bound analysis: ``docs/spec/solvency.md``):

* every equity and debt is an integer in [0, 2^amount_bits(asset)) (16-bit limbs, LogUp range checks);
* each user's rows are contiguous, carry one id, and are numbered 0..count-1;
* on each user's last row, the haircut USD value of their equity is at least the USD value of their debt
  (weights from the public asset table, which the verifier derives from the published prices);
* per asset and limb, the batch's sums of equity and debt equal public totals (a rational sum);
* each row's leaf, Poseidon2-w8(id, asset/idx/count, equity, debt, salt), equals the public leaf list.

Nothing here knows about files or rounds: the layout is ``columns``, ``trace`` builds traces and public
data, ``logup`` the LogUp columns, ``bastion.por.liabilities.prover`` runs rounds.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

from bastion.por.format.leaves import ASSET_SHIFT, COUNT_SHIFT, MAX_ROWS_PER_USER
from bastion.por.liabilities.circuit import logup
from bastion.por.liabilities.circuit.columns import (
    GADGET,
    LIMB_BITS,
    LIMBS,
    MAIN_WIDTH,
    MIN_ROWS,
    N_PAIRS,
    NAME,
    RANGE_BITS,
    RANGE_EXPRS,
    TUPLE_COLS,
    TUPLE_PUB,
    AssetRow,
    Aux,
    Ch,
    Col,
    Pub,
)
from bastion.stark.air.air import Air, Constraints, Frame, Lookup
from bastion.stark.field import goldilocks as F
from bastion.stark.field.vals import Val

U64 = NDArray[np.uint64]


_SYSTEM_DIGESTS: dict[type, str] = {}


def _system_digest(air: Air) -> str:
    """BLAKE2b of the symbolic constraint DAG (nodes, constants, group roots). It depends on the AIR's class
    only (constraints read no instance data), so it is computed once per class."""
    key = type(air)
    if key not in _SYSTEM_DIGESTS:
        from bastion.stark.air.symbolic import trace_constraints

        builder, groups = trace_constraints(air)
        roots = [[c.id for c in group] for group in groups]
        text = repr((builder.nodes, builder.consts, roots)).encode()
        _SYSTEM_DIGESTS[key] = hashlib.blake2b(text, digest_size=16, person=b"bastion-system").hexdigest()
    return _SYSTEM_DIGESTS[key]


class SolvencyAir(Air):
    name = NAME
    main_width = MAIN_WIDTH
    aux_width = Aux.WIDTH
    num_challenges = Ch.COUNT
    max_degree = 3
    #: asset-table row a sits on trace row a * table_stride (the hidden-totals circuit spaces them by 32)
    table_stride = 1

    def __init__(
        self,
        table: list[AssetRow],
        leaves: U64,
        equity_totals: U64,
        debt_totals: U64,
        statement: list[int],
    ) -> None:
        """``leaves`` (4, n_used); ``*_totals`` (n_assets, 4) limb totals; ``statement`` extra public words
        (round and batch binding) absorbed into the transcript."""
        leaves = np.ascontiguousarray(leaves, dtype=np.uint64)
        n_used = leaves.shape[1]
        super().__init__(n_used)
        if leaves.shape[0] != 4:
            raise ValueError("leaves must have shape (4, n_used)")
        if not MIN_ROWS <= n_used < MAX_ROWS_PER_USER:
            raise ValueError(f"a batch needs {MIN_ROWS} to {MAX_ROWS_PER_USER - 1} rows, got {n_used}")
        if not 1 <= len(table) <= min(n_used, 1 << ASSET_SHIFT):
            raise ValueError("the asset table needs 1 .. 2^16 assets")
        eq = np.asarray(equity_totals, dtype=object)
        dt = np.asarray(debt_totals, dtype=object)
        if eq.shape != (len(table), LIMBS) or dt.shape != (len(table), LIMBS):
            raise ValueError("totals must have shape (n_assets, 4)")
        if any(not 0 <= int(v) < 1 << 48 for v in [*eq.ravel(), *dt.ravel()]):
            raise ValueError("limb totals must be integers below 2^48")
        self.table = list(table)
        self.leaves = leaves
        self.equity_totals = eq.astype(np.uint64)
        self.debt_totals = dt.astype(np.uint64)
        self.statement = [int(v) % F.P_INT for v in statement]

    def public_inputs(self) -> list[int]:
        return [len(self.table), *self.statement]

    def periodic_columns(self) -> list[U64]:
        return [np.arange(1 << RANGE_BITS, dtype=np.uint64)]

    def lookups(self) -> list[Lookup]:
        # one running sum holds both: the range values (one fraction each) against the 2^16 table, and each
        # row's asset tuple (compressed with powers of alpha: degree width - 1) against the asset table, whose
        # numerator carries the totals with powers of mu (degree 8)
        return [
            Lookup("range", len(RANGE_EXPRS), 1 << RANGE_BITS),
            Lookup(
                "asset_table", 1, len(self.table), compression_degree=len(TUPLE_COLS) - 1, numerator_degree=2 * LIMBS
            ),
        ]

    def public_columns(self) -> list[U64]:
        n, a = self.n_used, len(self.table)
        cols = [self.leaves[k] for k in range(4)]

        stride = self.table_stride

        def table_col(values: list[int], pad_with_first: bool = True) -> U64:
            out = np.full(n, values[0] if pad_with_first else 0, dtype=np.uint64)
            out[: a * stride : stride] = np.array(values, dtype=np.uint64)
            return out

        cols.append(table_col(list(range(a))))
        for k in range(LIMBS):
            cols.append(table_col([r.equity_weights[k] for r in self.table]))
        for k in range(LIMBS):
            cols.append(table_col([r.debt_weights[k] for r in self.table]))
        cols.append(table_col([r.scale for r in self.table]))
        for k in range(LIMBS):
            cols.append(table_col([int(v) for v in self.equity_totals[:, k]], pad_with_first=False))
        for k in range(LIMBS):
            cols.append(table_col([int(v) for v in self.debt_totals[:, k]], pad_with_first=False))
        assert len(cols) == Pub.COUNT
        return cols

    # -- constraints ------------------------------------------------------------------------
    def constraints(self, f: Frame) -> Constraints:
        cur, nxt, pub = f.cur, f.nxt, f.public
        beta_r, alpha, beta_t, mu = (f.challenges[i] for i in range(Ch.COUNT))

        def recompose(row: list[Val], start: int) -> Val:
            acc = row[start]
            for k in range(1, LIMBS):
                acc = acc + row[start + k] * (1 << (LIMB_BITS * k))
            return acc

        def value(row: list[Val], amount: int, weights: int) -> Val:
            acc = row[amount] * row[weights]
            for k in range(1, LIMBS):
                acc = acc + row[amount + k] * row[weights + k]
            return acc

        last, idx, cnt = cur[Col.LAST], cur[Col.IDX], cur[Col.CNT]
        not_last = 1 - last
        acc_e, acc_d = recompose(cur, Col.ACC_EQ), recompose(cur, Col.ACC_DEBT)
        acc_e_n, acc_d_n = recompose(nxt, Col.ACC_EQ), recompose(nxt, Col.ACC_DEBT)

        transition = [
            not_last * (nxt[Col.IDX] - idx - 1),
            last * nxt[Col.IDX],
            not_last * (nxt[Col.CNT] - cnt),
            *[not_last * (nxt[Col.ID + k] - cur[Col.ID + k]) for k in range(4)],
            acc_e_n - not_last * acc_e - value(nxt, Col.EQ, Col.WEQ),
            acc_d_n - not_last * acc_d - value(nxt, Col.DEBT, Col.WDEBT),
        ]
        every = [
            last * (1 - last),
            last * (idx - cnt + 1),
            cur[Col.EQ_TOP_SCALED] - cur[Col.SCALE] * cur[Col.EQ + 3],
            cur[Col.DEBT_TOP_SCALED] - cur[Col.SCALE] * cur[Col.DEBT + 3],
            last * (acc_e - acc_d - recompose(cur, Col.NET)),
        ]
        # the leaf, computed in-circuit from the very cells that are summed, equals the public leaf
        packed = cur[Col.ASSET] + idx * (1 << ASSET_SHIFT) + cnt * (1 << COUNT_SHIFT)
        leaf_in = [
            *[cur[Col.ID + k] for k in range(4)],
            packed,
            recompose(cur, Col.EQ),
            recompose(cur, Col.DEBT),
            cur[Col.SALT],
        ]
        every += GADGET.constraints(cur, leaf_in)
        every += [cur[c] - pub[Pub.LEAF + k] for k, c in enumerate(GADGET.digest_cols)]

        # LogUp: range pairs, the range table, the asset-table tuple with the totals in the numerator
        aux, aux_n = f.aux_cur, f.aux_nxt

        def range_value(row: list[Val], j: int) -> Val:
            col, mult = RANGE_EXPRS[j]
            return row[col] if mult == 1 else row[col] * mult

        for p in range(N_PAIRS):
            h = aux[Aux.PAIRS + p]
            u = beta_r - range_value(cur, 2 * p)
            if 2 * p + 1 < len(RANGE_EXPRS):
                v = beta_r - range_value(cur, 2 * p + 1)
                every.append(h * u * v - (u + v))
            else:
                every.append(h * u - 1)
        every.append(aux[Aux.RANGE_TABLE_INV] * (beta_r - f.periodic[0]) - 1)

        def compress(values: list[Val]) -> Val:
            acc = values[-1]
            for v in reversed(values[:-1]):
                acc = acc * alpha + v
            return acc

        every.append(aux[Aux.ROW_INV] * (beta_t - compress([cur[c] for c in TUPLE_COLS])) - 1)
        every.append(aux[Aux.TABLE_INV] * (beta_t - compress([pub[c] for c in TUPLE_PUB])) - 1)

        def numerator(count: Val | int, eq: list[Val], debt: list[Val]) -> Val:
            # count + mu e0 + ... + mu^4 e3 + mu^5 d0 + ... + mu^8 d3
            amounts = [*eq, *debt]
            acc = mu * amounts[0]
            power = mu
            for x in amounts[1:]:
                power = power * mu
                acc = acc + power * x
            return acc + count

        def row_term(row: list[Val], a: list[Val], pb: list[Val]) -> Val:
            t = a[Aux.PAIRS]
            for p in range(1, N_PAIRS):
                t = t + a[Aux.PAIRS + p]
            t = t - row[Col.RANGE_MULT] * a[Aux.RANGE_TABLE_INV]
            row_num = numerator(1, [row[Col.EQ + k] for k in range(4)], [row[Col.DEBT + k] for k in range(4)])
            amounts = self.table_amounts(row, pb)
            tab_num = numerator(row[Col.TABLE_MULT], amounts[:LIMBS], amounts[LIMBS:])
            return t + a[Aux.ROW_INV] * row_num - a[Aux.TABLE_INV] * tab_num

        s, s_n = aux[Aux.SUM], aux_n[Aux.SUM]
        transition.append(s_n - s - row_term(nxt, aux_n, f.public_nxt))
        first = [
            idx,
            acc_e - value(cur, Col.EQ, Col.WEQ),
            acc_d - value(cur, Col.DEBT, Col.WDEBT),
            s - row_term(cur, aux, pub),
        ]
        last_row = [last - 1, s]
        out = Constraints(transition=transition, every_row=every, first_row=first, last_row=last_row)
        return out.extend(self.extra_constraints(f))

    # -- hooks for the hidden-totals circuit (por/liabilities/circuit/hidden.py); these defaults are version 1 ---------
    def table_amounts(self, row: list[Val], pub_row: list[Val]) -> list[Val]:
        """The 8 limb totals (equity then debt) an asset-table row carries in its LogUp numerator."""
        return [pub_row[Pub.T_EQ_TOTAL + k] for k in range(LIMBS)] + [
            pub_row[Pub.T_DEBT_TOTAL + k] for k in range(LIMBS)
        ]

    def table_amount_columns(self, main: U64, pub: list[U64]) -> list[U64]:
        """The same as columns, for the prover's auxiliary trace."""
        return [pub[Pub.T_EQ_TOTAL + k] for k in range(LIMBS)] + [pub[Pub.T_DEBT_TOTAL + k] for k in range(LIMBS)]

    def extra_constraints(self, f: Frame) -> Constraints:
        return Constraints()

    def shape_descriptor(self) -> str:
        """The engine's descriptor (name, widths, degree, periodic columns) plus a hash of the constraint
        system itself, so the circuit digest changes with any constraint, not only with a renamed AIR."""
        return f"{super().shape_descriptor()};system={_system_digest(self)}"

    # -- prover side --------------------------------------------------------------------------
    def build_aux(self, main: U64, challenges: list[tuple[int, int]]) -> U64:
        return logup.solvency_aux(self, main, challenges)
