"""The soundness count (stark/uni/security.py): every term against a hand computation, the inputs against the
real shape of a proof, the defaults and the proven profile at every supported batch size, and the verifier's
gate refusing proofs below 100 bits, default parameters included."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bastion.cli.stark_examples import CubicMixAir, RangeCheckAir
from bastion.por.liabilities.circuit.columns import asset_row
from bastion.por.liabilities.circuit.trace import batch_security
from bastion.stark.air.air import Lookup
from bastion.stark.field import scalar as R
from bastion.stark.uni.params import DEFAULT_PARAMS, INSECURE_TEST_PARAMS, PROVEN_PARAMS, StarkParams
from bastion.stark.uni.prover import prove
from bastion.stark.uni.security import SecurityInputs, report_for, security
from bastion.stark.uni.verifier import VerificationError, decode, verify

P = 2**64 - 2**32 + 1
F = 2 * math.log2(P)  # 127.99999999932...
ROWS = (1 << 18) - 194
SHAPE = SecurityInputs(
    log_trace_length=18, rows_used=ROWS, log_blowup=2, num_queries=48, grinding_bits=16, fri_folds=14,
    constraint_degree=3, constraints=213, deep_batched_terms=466, deep_independent_coefficients=True,
    lookups=(Lookup("range", 25, 1 << 16), Lookup("asset_table", 1, 22, compression_degree=9, numerator_degree=8)),
)


def close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def test_each_conjectured_term_by_hand() -> None:
    c = security(SHAPE).conjectured
    assert close(c["fri_queries"], 48 * 2 + 16)  # q log2(1/rho) + grinding
    n_lde = 1 << 20
    assert close(c["fri_folding"], F - math.log2(sum(n_lde >> i for i in range(14))))
    assert close(c["deep_batching"], F - 20)  # independent coefficients: |D| / |F|, whatever the count
    assert close(c["ood_deep_ali"], F - math.log2(3 * (2**18 + 1) + 2**18 - 1))
    assert close(c["constraint_combination"], F - math.log2(212))
    assert close(c["logup_range"], F - math.log2(25 * ROWS + 65536))
    assert close(c["logup_asset_table"], F - math.log2(9 * (ROWS + 22) + 8))
    assert c["hash_collision"] == 128
    terms = [v for k, v in c.items() if k != "union"]
    assert close(c["union"], -math.log2(sum(2.0**-b for b in terms)))
    # the union is below every term: it is what we state, not the minimum
    assert c["union"] < min(terms)
    assert 104 < c["union"] < 104.5


def test_powers_of_one_challenge_would_cost_the_term_count() -> None:
    powers = security(dataclasses.replace(SHAPE, deep_independent_coefficients=False)).conjectured
    assert close(powers["deep_batching"], F - math.log2(465 * (1 << 20)))  # (k - 1) |D| / |F|: 99.1 bits
    assert powers["union"] < 100


def test_each_proven_term_by_hand() -> None:
    rep = security(SHAPE)
    ud = rep.proven_unique
    assert close(ud["fri_queries"], 48 * -math.log2((1 + 0.25) / 2) + 16)  # unique decoding: (1 + rho) / 2
    assert close(ud["deep_batching"], F - 20) and close(ud["ood_deep_ali"], rep.conjectured["ood_deep_ali"])
    j, m = rep.proven_johnson, rep.johnson_m
    rho = 0.25
    cst = (m + 0.5) ** 7 / (3 * rho**1.5)  # Proximity Gaps, Johnson regime
    assert close(j["fri_queries"], 48 * -math.log2(math.sqrt(rho) * (1 + 1 / (2 * m))) + 16)
    assert close(j["deep_batching"], F - math.log2(cst * 2.0**40))
    assert close(j["ood_deep_ali"], F - math.log2((m + 0.5) / math.sqrt(rho) * (3 * (2**18 + 1) + 2**18 - 1)))
    # m is the best choice: its neighbours give a smaller union
    for other in (m - 1, m + 1):
        if other >= 3:
            alt = security(SHAPE)
            assert alt.proven_johnson["union"] >= _johnson_union(other) - 1e-9
    assert rep.proven_bits == max(ud["union"], j["union"])
    assert ud["union"] < 60 and j["union"] < 70  # the default parameters prove far less than they conjecture


def _johnson_union(m: int) -> float:
    from bastion.stark.uni.security import _johnson, union_bits

    return union_bits(_johnson(SHAPE, m))


def test_inputs_are_the_real_shape_of_a_proof() -> None:
    air, main = RangeCheckAir.instance([i % 256 for i in range(300)], 8)
    proof = prove(air, main, INSECURE_TEST_PARAMS, seed=1)
    rep = decode(air, proof, INSECURE_TEST_PARAMS)
    s = report_for(air, INSECURE_TEST_PARAMS).inputs
    assert s.log_trace_length == rep.proof.log_n and s.rows_used == air.n_used
    assert s.deep_batched_terms == len(rep.deep_coeffs)  # every polynomial the DEEP step batches
    assert s.fri_folds == len(rep.betas)
    assert s.num_queries == len(rep.queries) and s.grinding_bits == INSECURE_TEST_PARAMS.grinding_bits
    assert s.lookups == (Lookup("range", 1, 256),)
    # independent coefficients, not powers of one challenge
    c = rep.deep_coeffs
    assert c[0] != (1, 0) and c[2] != R.ext_mul(c[1], c[1])


@pytest.mark.parametrize("assets", [1, 22, 4096])
def test_defaults_reach_100_bits_at_every_batch_size_and_proven_profile_too(assets: int) -> None:
    table = [asset_row(8, "1", "1", 48)] * assets
    for log in range(17, 23):
        rows = (1 << log) - DEFAULT_PARAMS.zk_rows
        assert batch_security(table, rows, DEFAULT_PARAMS).conjectured_bits >= 100, log
        rows = (1 << log) - PROVEN_PARAMS.zk_rows
        assert batch_security(table, rows, PROVEN_PARAMS).proven_bits >= 100, log


def test_verifier_refuses_proofs_below_100_bits() -> None:
    air, main = CubicMixAir.instance(2, 60)
    weak = StarkParams(num_queries=20)  # 56 bits from FRI queries
    proof = prove(air, main, weak, seed=2)
    with pytest.raises(VerificationError, match="below 100"):
        verify(air, proof, weak)
    verify(air, proof, dataclasses.replace(weak, allow_insecure=True))  # an explicit opt-in, tests only


class _ManyLookups(RangeCheckAir):
    """The same circuit, declaring a lookup so large that no parameters reach 100 bits for it."""

    def lookups(self) -> list[Lookup]:
        return [Lookup("range", 1 << 40, 1 << 8)]


def test_verifier_gate_applies_to_default_parameters_too() -> None:
    values = [i % 256 for i in range(300)]
    air, main = RangeCheckAir.instance(values, 8)
    proof = prove(air, main, DEFAULT_PARAMS, seed=3)
    verify(air, proof, DEFAULT_PARAMS)
    weak_air = _ManyLookups(air.n_used, 8, air.total)
    assert report_for(weak_air, DEFAULT_PARAMS).conjectured_bits < 100
    with pytest.raises(VerificationError, match="below 100"):
        verify(weak_air, proof, DEFAULT_PARAMS)  # no bypass for the defaults


def test_an_air_drawing_challenges_must_declare_its_lookups() -> None:
    class Undeclared(RangeCheckAir):
        def lookups(self) -> list[Lookup]:
            return []

    air = Undeclared(300, 8, 0)
    with pytest.raises(ValueError, match="declares no lookups"):
        report_for(air, DEFAULT_PARAMS)
    np.testing.assert_equal(air.num_challenges, 1)


def test_out_of_domain_term_counts_the_randomized_chunks() -> None:
    """With c chunks of m coefficients the checked identity sum_j z^(jm) H_j'(z) has degree (c - 1)m + n."""
    m = (1 << 18) - 98
    c = security(dataclasses.replace(SHAPE, quotient_chunks=4, chunk_size=m)).conjectured
    n = 1 << 18
    assert close(c["ood_deep_ali"], F - math.log2(max(3 * (n + 1), 3 * m + n) + n - 1))
    assert c["ood_deep_ali"] < security(SHAPE).conjectured["ood_deep_ali"]
