"""The aggregation proof (por/liabilities/circuit/aggregate.py) and the totals commitment it shares with the batch
circuit (por/liabilities/circuit/totals_hash.py), under the attacks a cheating exchange would try: one batch's
committed totals changed by one unit, another round's commitments or statement, a batch counted twice or left out, a
published total that only matches modulo p (carries wrapped), a reused salt. Each attack is a cheating prover's real
proof (``prove(..., check=False)``) checked by the verifier with the public data the verifier would build; an honest
control runs in the same style."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bastion.por.liabilities.circuit.aggregate import (
    CARRY_BITS,
    MAX_TOTAL,
    AggregateAir,
    Col,
    aggregate_trace,
    global_totals,
    total_limbs,
)
from bastion.por.liabilities.circuit.totals_hash import PERIOD, TotalsChain, chain_inputs, commitment
from bastion.stark.field import goldilocks as F
from bastion.stark.hash import poseidon2_scalar as ref
from bastion.stark.uni.params import DEFAULT_PARAMS, INSECURE_TEST_PARAMS, PROVEN_PARAMS
from bastion.stark.uni.prover import prove
from bastion.stark.uni.security import MIN_SECURITY_BITS, report_for
from bastion.stark.uni.verifier import VerificationError, verify

PARAMS = INSECURE_TEST_PARAMS
B, A = 3, 4
STATEMENT = [11, 22, 33, 44, 55]  # a round digest's words
OTHER_STATEMENT = [11, 22, 33, 44, 56]


def _round(seed: int) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # limb totals as large as a batch allows (< 2^39), so the global sums need every carry
    eq = rng.integers(0, 1 << 39, (B, A, 4)).astype(object)
    dt = rng.integers(0, 1 << 39, (B, A, 4)).astype(object)
    salts = [[int(x) for x in rng.integers(0, 1 << 63, 4)] for _ in range(B)]
    return salts, eq, dt


@pytest.fixture(scope="module")
def honest() -> tuple[list[list[int]], np.ndarray, np.ndarray, list[list[int]], bytes]:
    salts, eq, dt = _round(1)
    main, commits = aggregate_trace(salts, eq, dt)
    air = AggregateAir(commits, *global_totals(eq, dt), STATEMENT)
    return salts, eq, dt, commits, prove(air, main, PARAMS, seed=3)


def _rejected(air: AggregateAir, main: np.ndarray) -> None:
    proof = prove(air, main, PARAMS, check=False, seed=5)
    with pytest.raises(VerificationError):
        verify(air, proof, PARAMS)


def test_chain_gadget_equals_the_reference_permutation() -> None:
    rng = np.random.default_rng(2)
    inputs = rng.integers(0, F.P_INT, (3, 12), dtype=np.uint64)
    trace = TotalsChain.trace(inputs, 3 * PERIOD)
    for j in range(3):
        out = ref.permute([int(v) for v in inputs[j]])
        assert [int(v) for v in trace[:12, PERIOD * j + PERIOD - 1]] == out
    salt = [1, 2, 3, 4]
    msgs = rng.integers(0, 1 << 39, (5, 8), dtype=np.uint64)
    _, fast = chain_inputs(salt, msgs)
    assert fast == commitment(salt, msgs.tolist())


def test_control_honest_aggregation_verifies(honest: tuple) -> None:
    salts, eq, dt, commits, proof = honest
    for b in range(B):
        assert commits[b] == commitment(salts[b], [[*eq[b, a], *dt[b, a]] for a in range(A)])
    verify(AggregateAir(commits, *global_totals(eq, dt), STATEMENT), proof, PARAMS)
    # a cheating prover's machinery accepts honest data too (the attacks below fail for their content)
    main, _ = aggregate_trace(salts, eq, dt)
    air = AggregateAir(commits, *global_totals(eq, dt), STATEMENT)
    verify(air, prove(air, main, PARAMS, check=False, seed=5), PARAMS)


def test_published_total_one_unit_off_is_refused(honest: tuple) -> None:
    salts, eq, dt, commits, proof = honest
    e, d = global_totals(eq, dt)
    e[2] += 1
    with pytest.raises(VerificationError):
        verify(AggregateAir(commits, e, d, STATEMENT), proof, PARAMS)
    main, _ = aggregate_trace(salts, eq, dt, claimed=(e, d))
    _rejected(AggregateAir(commits, e, d, STATEMENT), main)


def test_one_batchs_committed_totals_changed_by_one_unit(honest: tuple) -> None:
    salts, eq, dt, commits, _ = honest
    for kind in ("equity", "debt"):
        eq2, dt2 = eq.copy(), dt.copy()
        (eq2 if kind == "equity" else dt2)[1, 2, 0] += 1
        main, forged_commits = aggregate_trace(salts, eq2, dt2)
        # the true commitments (what the batch proofs fix) with the forged totals' sums: the hash breaks
        _rejected(AggregateAir(commits, *global_totals(eq2, dt2), STATEMENT), main)
        # the forged batch's own commitment would need a batch proof of it; the sums of the true totals break
        assert forged_commits[1] != commits[1]
        _rejected(AggregateAir(commits, *global_totals(eq, dt), STATEMENT), main)


def test_commitments_or_statement_of_another_round_are_refused(honest: tuple) -> None:
    salts, eq, dt, commits, proof = honest
    other_salts, other_eq, other_dt = _round(9)
    _, other_commits = aggregate_trace(other_salts, other_eq, other_dt)
    totals = global_totals(eq, dt)
    with pytest.raises(VerificationError):
        verify(AggregateAir(other_commits, *totals, STATEMENT), proof, PARAMS)
    with pytest.raises(VerificationError):
        verify(AggregateAir(commits, *totals, OTHER_STATEMENT), proof, PARAMS)
    swapped = [other_commits[0], *commits[1:]]
    with pytest.raises(VerificationError):
        verify(AggregateAir(swapped, *totals, STATEMENT), proof, PARAMS)
    # and a cheating prover that builds its trace for the swapped list cannot hit this round's totals
    main, _ = aggregate_trace(salts, eq, dt)
    _rejected(AggregateAir(swapped, *totals, STATEMENT), main)


def test_a_batch_counted_twice_or_left_out_is_refused(honest: tuple) -> None:
    salts, eq, dt, commits, _ = honest
    twice = [0, 1, 1, 2]
    main, c2 = aggregate_trace([salts[i] for i in twice], eq[twice], dt[twice])
    inflated = global_totals(eq[twice], dt[twice])
    air = AggregateAir(c2, *inflated, STATEMENT)
    proof = prove(air, main, PARAMS, seed=5)
    verify(air, proof, PARAMS)  # a valid proof of another statement (four batches) ...
    with pytest.raises(VerificationError):  # ... that the round's statement (its three batches) refuses
        verify(AggregateAir(commits, *inflated, STATEMENT), proof, PARAMS)
    # batch 1 twice in place of batch 2: the third position's public commitment is batch 2's
    main, _ = aggregate_trace([salts[i] for i in (0, 1, 1)], eq[[0, 1, 1]], dt[[0, 1, 1]])
    _rejected(AggregateAir(commits, *global_totals(eq[[0, 1, 1]], dt[[0, 1, 1]]), STATEMENT), main)
    # batch 2 left out
    main, c_two = aggregate_trace(salts[:2], eq[:2], dt[:2])
    proof = prove(AggregateAir(c_two, *global_totals(eq[:2], dt[:2]), STATEMENT), main, PARAMS, seed=5)
    with pytest.raises(VerificationError):
        verify(AggregateAir(commits, *global_totals(eq[:2], dt[:2]), STATEMENT), proof, PARAMS)


def test_totals_that_match_only_modulo_p_are_refused(honest: tuple) -> None:
    """Wrap-around: the carry equations hold in the field for any claimed total if a carry may be any field
    element; 40-bit carries make them integer equations. The attacker solves the carries mod p."""
    salts, eq, dt, commits, _ = honest
    e, d = global_totals(eq, dt)
    for delta in (-1, 1 << 16, F.P_INT):
        claimed = list(e)
        claimed[0] = e[0] + delta
        if not 0 <= claimed[0] < MAX_TOTAL:
            continue
        main, _ = aggregate_trace(salts, eq, dt, claimed=(claimed, d))
        carries_fit = all(int(v) < 2 for v in main[Col.BITS :, 0])
        assert carries_fit  # bits are bits; what fails is that they do not recompose to the field carry
        _rejected(AggregateAir(commits, claimed, d, STATEMENT), main)
    with pytest.raises(ValueError):
        total_limbs(MAX_TOTAL)
    assert MAX_TOTAL == 1 << (64 + CARRY_BITS)


def test_salts_hide_equal_totals() -> None:
    """The commitment is hiding only with a fresh secret salt: equal totals under two salts commit differently,
    and under one salt alike (why a round derives a new salt per batch and round)."""
    msgs = [[5, 0, 0, 0, 0, 0, 0, 0]] * 3
    assert commitment([1, 2, 3, 4], msgs) != commitment([1, 2, 3, 5], msgs)
    assert commitment([1, 2, 3, 4], msgs) == commitment([1, 2, 3, 4], msgs)


@pytest.mark.parametrize(("batches", "assets"), [(1, 1), (16, 22), (16, 200)])
def test_aggregation_soundness_is_counted_by_the_same_function_and_reaches_the_gate(batches: int, assets: int) -> None:
    air = AggregateAir([[0] * 4] * batches, [0] * assets, [0] * assets, STATEMENT)
    assert report_for(air, DEFAULT_PARAMS).conjectured_bits >= MIN_SECURITY_BITS
    assert report_for(air, PROVEN_PARAMS).proven_bits >= MIN_SECURITY_BITS
    lookups = report_for(air, DEFAULT_PARAMS).inputs.lookups
    assert [lk.name for lk in lookups] == ["batch_totals"] and lookups[0].table_rows == assets


def test_verifier_gate_refuses_an_aggregation_proof_below_100_bits(honest: tuple) -> None:
    _salts, eq, dt, commits, proof = honest
    air = AggregateAir(commits, *global_totals(eq, dt), STATEMENT)
    with pytest.raises(VerificationError, match="bits"):
        verify(air, proof, dataclasses.replace(PARAMS, allow_insecure=False))
