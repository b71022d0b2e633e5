"""End-to-end proofs of the example AIRs, and every way we could think of to make a false one pass."""

from __future__ import annotations

import copy
import dataclasses
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.cli.stark_examples import CubicMixAir, FibonacciAir, PublicColumnAir, RangeCheckAir
from bastion.stark.field import scalar as R
from bastion.stark.uni.params import DEFAULT_PARAMS, INSECURE_TEST_PARAMS, StarkParams
from bastion.stark.uni.proof import Proof
from bastion.stark.uni.protocol import COSET_SHIFT, trace_log_length
from bastion.stark.uni.prover import ProvingError, prove
from bastion.stark.uni.security import report_for
from bastion.stark.uni.verifier import VerificationError, decode, is_valid, verify

PARAMS = INSECURE_TEST_PARAMS  # the machinery is the same; only the query count differs


@pytest.fixture(scope="module")
def fib() -> tuple[FibonacciAir, np.ndarray, bytes]:
    main, result = FibonacciAir.trace(40)
    air = FibonacciAir(40, result)
    return air, main, prove(air, main, PARAMS, seed=1)


@pytest.fixture(scope="module")
def cubic() -> tuple[CubicMixAir, np.ndarray, bytes]:
    air, main = CubicMixAir.instance(4, 60)
    return air, main, prove(air, main, PARAMS, seed=2)


@pytest.fixture(scope="module")
def ranged() -> tuple[RangeCheckAir, np.ndarray, bytes]:
    rng = random.Random(3)
    air, main = RangeCheckAir.instance([rng.randrange(256) for _ in range(300)], bits=8)
    return air, main, prove(air, main, PARAMS, seed=3)


def _rejected(air: object, data: bytes, params: StarkParams = PARAMS) -> str:
    with pytest.raises(VerificationError) as info:
        verify(air, data, params)  # type: ignore[arg-type]
    return str(info.value)


# -- completeness ------------------------------------------------------------------------------------


def test_examples_verify(fib: tuple, cubic: tuple, ranged: tuple) -> None:
    for air, _main, proof in (fib, cubic, ranged):
        verify(air, proof, PARAMS)


def test_secure_parameters_end_to_end() -> None:
    air, main = CubicMixAir.instance(3, 200)
    proof = prove(air, main, DEFAULT_PARAMS)
    verify(air, proof, DEFAULT_PARAMS)
    assert report_for(air, DEFAULT_PARAMS).conjectured_bits >= 100
    # and the same proof does not pass under other parameters
    assert not is_valid(air, proof, PARAMS)


def test_hash_chain_length_traces_of_every_small_size() -> None:
    for n_used in (2, 3, 17, 100):
        main, result = FibonacciAir.trace(n_used)
        air = FibonacciAir(n_used, result)
        verify(air, prove(air, main, PARAMS), PARAMS)


# -- wrong statements --------------------------------------------------------------------------------


def test_wrong_public_input(fib: tuple) -> None:
    air, _, proof = fib
    assert "public inputs" in _rejected(FibonacciAir(40, air.result + 1), proof)


def test_proof_for_another_circuit_is_refused(fib: tuple, cubic: tuple) -> None:
    assert "circuit" in _rejected(cubic[0], fib[2])


def test_honest_prover_refuses_a_false_statement() -> None:
    main, result = FibonacciAir.trace(40)
    with pytest.raises(ProvingError):
        prove(FibonacciAir(40, result + 1), main, PARAMS)


@pytest.mark.parametrize("row", [0, 1, 17, 38, 39])
def test_one_broken_row_is_rejected(row: int) -> None:
    main, result = FibonacciAir.trace(40)
    bad = main.copy()
    bad[1, row] = (int(bad[1, row]) + 1) % R.P
    air = FibonacciAir(40, result)
    with pytest.raises(ProvingError):
        prove(air, bad, PARAMS)
    forged = prove(air, bad, PARAMS, check=False)
    assert "constraints do not hold" in _rejected(air, forged) or "FRI" in _rejected(air, forged)


def test_one_broken_degree3_cell_is_rejected() -> None:
    air, main = CubicMixAir.instance(4, 60)
    bad = main.copy()
    bad[2, 31] ^= np.uint64(1)
    assert not is_valid(air, prove(air, bad, PARAMS, check=False), PARAMS)


@pytest.mark.parametrize("bad_value", [256, 257, R.P - 1])
def test_value_outside_the_range_is_rejected(bad_value: int) -> None:
    rng = random.Random(4)
    values = [rng.randrange(256) for _ in range(300)]
    values[123] = bad_value
    with pytest.raises(ValueError, match="outside"):
        RangeCheckAir.instance(values, bits=8)
    # a cheating prover builds the trace anyway, counting only what the table can hold
    s = sum(values) % R.P
    air = RangeCheckAir(300, 8, s)
    main = np.zeros((3, 300), dtype=np.uint64)
    main[0] = np.array(values, dtype=np.uint64)
    main[1] = np.array([sum(values[: i + 1]) % R.P for i in range(300)], dtype=np.uint64)
    main[2] = air.range.multiplicities(main, 300, allow_out_of_range=True)
    assert not is_valid(air, prove(air, main, PARAMS, check=False), PARAMS)


def test_top_of_range_is_accepted() -> None:
    values = [255] * 256 + [0] * 44
    air, main = RangeCheckAir.instance(values, bits=8)
    verify(air, prove(air, main, PARAMS), PARAMS)


# -- tampering with a valid proof ---------------------------------------------------------------------


def _mutations(p: Proof) -> list[tuple[str, Proof]]:
    out: list[tuple[str, Proof]] = []

    def variant(name: str, fn: object) -> None:
        q = copy.deepcopy(p)
        fn(q)  # type: ignore[operator]
        out.append((name, q))

    def bump(e: tuple[int, int]) -> tuple[int, int]:
        return ((e[0] + 1) % R.P, e[1])

    def flip(b: bytes) -> bytes:
        return bytes([b[0] ^ 1]) + b[1:]

    variant("main root", lambda q: setattr(q, "main_root", flip(q.main_root)))
    if p.aux_root is not None:
        variant("aux root", lambda q: setattr(q, "aux_root", flip(q.aux_root)))
    variant("quotient root", lambda q: setattr(q, "quotient_root", flip(q.quotient_root)))
    for name in ("main_z", "main_gz", "aux_z", "aux_gz", "quotient_z", "final_coeffs"):
        for i in range(len(getattr(p, name))):
            variant(f"{name}[{i}]", lambda q, name=name, i=i: getattr(q, name).__setitem__(
                i, bump(getattr(q, name)[i])))
    for i in range(len(p.fri_roots)):
        variant(f"fri root {i}", lambda q, i=i: q.fri_roots.__setitem__(i, flip(q.fri_roots[i])))
    variant("pow nonce", lambda q: setattr(q, "pow_nonce", q.pow_nonce + 1))
    openings = [("main", "main_opening"), ("aux", "aux_opening"), ("quotient", "quotient_opening")]
    for label, attr in openings:
        if getattr(p, attr) is None:
            continue

        def value(q: Proof, attr: str = attr) -> None:
            op = getattr(q, attr)
            values = op.values.copy()
            values[-1, 0] = (int(values[-1, 0]) + 1) % R.P
            setattr(q, attr, dataclasses.replace(op, values=values))

        def salt(q: Proof, attr: str = attr) -> None:
            op = getattr(q, attr)
            salts = op.salts.copy()
            salts[0, 0] ^= 1
            setattr(q, attr, dataclasses.replace(op, salts=salts))

        variant(f"{label} opened value", value)
        variant(f"{label} opened salt", salt)
    for i in range(len(p.fri_openings)):

        def fri_value(q: Proof, i: int = i) -> None:
            op = q.fri_openings[i]
            values = op.values.copy()
            values[0, 3] = (int(values[0, 3]) + 1) % R.P
            q.fri_openings[i] = dataclasses.replace(op, values=values)

        variant(f"fri layer {i} opened value", fri_value)
    return out


@pytest.mark.parametrize("which", ["fib", "ranged"])
def test_every_proof_field_altered_is_rejected(which: str, request: pytest.FixtureRequest) -> None:
    air, _, data = request.getfixturevalue(which)
    original = decode(air, data, PARAMS).proof
    assert original.to_bytes() == data  # the codec round-trips
    mutations = _mutations(original)
    assert len(mutations) > 15
    for name, mutated in mutations:
        assert not is_valid(air, mutated.to_bytes(), PARAMS), f"altered {name} still verifies"


def test_sibling_hash_altered_is_rejected(fib: tuple) -> None:
    air, _, data = fib
    p = decode(air, data, PARAMS).proof
    for attr in ("main_opening", "quotient_opening"):
        q = copy.deepcopy(p)
        op = getattr(q, attr)
        assert len(op.siblings), "an opening of a few rows out of many needs siblings"
        siblings = op.siblings.copy()
        siblings[0, 0] ^= 0x80
        setattr(q, attr, dataclasses.replace(op, siblings=siblings))
        assert not is_valid(air, q.to_bytes(), PARAMS), attr


def test_single_bit_flips_anywhere_are_rejected(cubic: tuple) -> None:
    air, _, data = cubic
    rng = random.Random(7)
    positions = [*sorted(rng.sample(range(len(data)), 150)), 0, 4, 6, 38, 70, len(data) - 1]
    for pos in positions:
        bit = 1 << rng.randrange(8)
        tampered = data[:pos] + bytes([data[pos] ^ bit]) + data[pos + 1 :]
        assert not is_valid(air, tampered, PARAMS), f"bit flip at byte {pos} still verifies"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10**6))
def test_truncated_proofs_are_rejected(fib: tuple, cut: int) -> None:
    air, _, data = fib
    cut %= len(data)
    _rejected(air, data[:cut])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=4096), keep=st.integers(min_value=0, max_value=200))
def test_random_bytes_never_crash_the_verifier(fib: tuple, junk: bytes, keep: int) -> None:
    air, _, data = fib
    # random bytes, and random bytes behind a genuine header (to get past the magic and digests)
    _rejected(air, junk)
    _rejected(air, data[:keep] + junk)
    _rejected(air, data + junk[:1] if junk else data + b"\x00")


# -- zero knowledge -----------------------------------------------------------------------------------


def test_proof_never_contains_a_trace_value() -> None:
    air, main = CubicMixAir.instance(6, 300, seed=11)  # values look uniformly random
    data = prove(air, main, PARAMS)
    trace_values = {int(v) for v in main.ravel()} - set(air.public_inputs())
    words = {int.from_bytes(data[i : i + 8], "little") for i in range(len(data) - 7)}
    leaked = trace_values & words
    assert not leaked, f"{len(leaked)} private trace values appear in the proof bytes"


def test_openings_are_off_the_trace_domain_and_randomized(cubic: tuple) -> None:
    air, main, data = cubic
    log_n = trace_log_length(air.n_used, PARAMS)
    n = 1 << log_n
    # the LDE coset 7*<w_N> never meets the trace domain <w_n>: 7 has odd order part in F_p^*
    assert pow(COSET_SHIFT, n * PARAMS.blowup, R.P) != 1
    rep = decode(air, data, PARAMS)
    assert R.ext_pow(rep.z, n) != (1, 0)
    # proving the same witness twice gives different openings (fresh blinding, salts and mask)
    again = decode(air, prove(air, main, PARAMS), PARAMS)
    assert rep.proof.main_root != again.proof.main_root
    assert rep.proof.main_z != again.proof.main_z


# -- public columns -----------------------------------------------------------------------------------


def test_public_column_binds_the_statement() -> None:
    rng = random.Random(5)
    published = [rng.randrange(1 << 40) for _ in range(50)]
    air, main = PublicColumnAir.instance(published)
    proof = prove(air, main, PARAMS)
    verify(air, proof, PARAMS)
    # the same total, another published column: refused (the column is part of the statement)
    other = list(published)
    other[10], other[11] = other[11], other[10]
    assert not is_valid(PublicColumnAir(other, air.total), proof, PARAMS)
    # a trace that departs from the published column at one row cannot be proven
    bad = main.copy()
    bad[0, 7] += np.uint64(1)
    bad[1, 7:] += np.uint64(1)
    forged_air = PublicColumnAir(published, (air.total + 1) % R.P)
    assert not is_valid(forged_air, prove(forged_air, bad, PARAMS, check=False), PARAMS)
