"""The batch circuit with hidden totals (por/liabilities/circuit/hidden.py): the commitment it publishes is computed
from the very cells its asset-table lookup sums, and the aggregation proof accepts exactly that commitment.
Attacks: totals committed one unit off the rows' sums; part of an asset's sum moved to a padding row of the
asset table, outside the hashed cells (the selector that stops it is the one thing in the way); another
salt's or another batch's commitment published."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.por.liabilities.circuit.aggregate import AggregateAir, aggregate_trace, global_totals
from bastion.por.liabilities.circuit.columns import GADGET, Col, asset_row
from bastion.por.liabilities.circuit.hidden import HCol, HiddenTotalsAir, hidden_trace, set_totals
from bastion.por.liabilities.circuit.totals_hash import commitment, messages_of
from bastion.por.liabilities.circuit.trace import BatchRows, range_multiplicities
from bastion.stark.uni.params import INSECURE_TEST_PARAMS
from bastion.stark.uni.prover import prove
from bastion.stark.uni.verifier import VerificationError, verify

PARAMS = INSECURE_TEST_PARAMS
N = 1 << 16
TABLE = [asset_row(8, "97000", "1", 50), asset_row(6, "1", "0.9", 56), asset_row(18, "0.1", "1", 63)]
SALT = [101, 202, 303, 404]
STATEMENT = [1234, 5678, 0, 0]


def _rows() -> BatchRows:
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 1 << 63, (N, 4), dtype=np.uint64)
    asset = np.zeros(N, dtype=np.uint64)
    equity = np.zeros(N, dtype=np.uint64)
    debt = np.zeros(N, dtype=np.uint64)
    users = [
        [(0, 150_000_000, 0), (1, 0, 1_000_000_000)],
        [(1, 5_000_000_000, 0), (0, 10_000_000, 0)],
        [(1, 70_000, 0)],
        [(2, 10**18, 0)],
    ]
    start = np.ones(N, dtype=bool)
    at = 0
    for rows in users:
        for i, (a, e, d) in enumerate(rows):
            ids[at + i] = ids[at]
            asset[at + i], equity[at + i], debt[at + i] = a, e, d
            start[at + i] = i == 0
        at += len(rows)
    return BatchRows(ids, asset, equity, debt, rng.integers(0, 1 << 63, N, dtype=np.uint64), start)


@pytest.fixture(scope="module")
def honest() -> tuple[np.ndarray, list[list[int]], list[list[int]], list[int], HiddenTotalsAir, bytes]:
    main, eq, dt, commit = hidden_trace(_rows(), TABLE, SALT)
    air = HiddenTotalsAir(TABLE, np.ascontiguousarray(main[GADGET.digest_cols]), commit, STATEMENT)
    return main, eq, dt, commit, air, prove(air, main, PARAMS, seed=3)


def _air(main: np.ndarray, commit: list[int]) -> HiddenTotalsAir:
    return HiddenTotalsAir(TABLE, np.ascontiguousarray(main[GADGET.digest_cols]), commit, STATEMENT)


def _rejected(air: HiddenTotalsAir, main: np.ndarray) -> None:
    proof = prove(air, main, PARAMS, check=False, seed=11)
    with pytest.raises(VerificationError):
        verify(air, proof, PARAMS)


def test_control_commitment_is_the_salted_hash_of_the_true_totals_and_the_aggregation_accepts_it(
    honest: tuple,
) -> None:
    _main, eq, dt, commit, air, proof = honest
    verify(air, proof, PARAMS)
    assert commit == commitment(SALT, messages_of(eq, dt))
    agg_main, agg_commits = aggregate_trace([SALT], np.array([eq], dtype=object), np.array([dt], dtype=object))
    assert agg_commits == [commit]
    totals = global_totals(np.array([eq], dtype=object), np.array([dt], dtype=object))
    assert totals[0][1] == 5_000_070_000 and totals[1][1] == 1_000_000_000
    agg = AggregateAir(agg_commits, *totals, [*STATEMENT, 0])
    verify(agg, prove(agg, agg_main, PARAMS, seed=1), PARAMS)


def test_totals_committed_one_unit_off_the_rows_sums(honest: tuple) -> None:
    main, eq, dt, _, _, _ = honest
    forged = main.copy()
    eq2 = [list(r) for r in eq]
    eq2[1][0] += 1
    c2 = set_totals(forged, TABLE, eq2, dt, SALT)
    _rejected(_air(forged, c2), forged)


def test_part_of_a_total_moved_outside_the_hashed_cells(honest: tuple) -> None:
    """Asset 0's tuple also sits on the asset table's padding rows (1 .. 31); the LogUp sum balances if one
    unit of row 0's total moves to row 1, and row 0 (hashed) then commits to one unit less."""
    main, eq, dt, _, _, _ = honest
    forged = main.copy()
    eq2 = [list(r) for r in eq]
    eq2[0][0] -= 1
    c2 = set_totals(forged, TABLE, eq2, dt, SALT)
    forged[HCol.TOT, 1] = 1
    forged[Col.RANGE_MULT] = range_multiplicities(forged)
    _rejected(_air(forged, c2), forged)


def test_another_commitment_is_refused(honest: tuple) -> None:
    main, eq, dt, commit, _, proof = honest
    other_salt = commitment([9, 9, 9, 9], messages_of(eq, dt))
    another_batch = commitment(SALT, messages_of(dt, eq))
    for wrong in (other_salt, another_batch, [commit[0], commit[1], commit[2], commit[3] + 1]):
        with pytest.raises(VerificationError):
            verify(_air(main, wrong), proof, PARAMS)
