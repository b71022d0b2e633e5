"""The Poseidon2 AIR gadget and the hash-chain AIR: traces against the reference, every cell constrained,
proofs that verify, and forged traces or statements that must not."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.stark.air.poseidon2_air import HashChainAir, Poseidon2Gadget, num_columns, poseidon2_trace_columns
from bastion.stark.field.vals import Val
from bastion.stark.hash import poseidon2 as P2
from bastion.stark.hash import poseidon2_scalar as R
from bastion.stark.uni.params import INSECURE_TEST_PARAMS
from bastion.stark.uni.prover import ProvingError, prove
from bastion.stark.uni.verifier import VerificationError, is_valid, verify

PARAMS = INSECURE_TEST_PARAMS
P = R.P


def _gadget_residues(gadget: Poseidon2Gadget, trace: np.ndarray) -> np.ndarray:
    """(constraints, rows) residues of the gadget's constraints over a column-major trace."""
    cons = gadget.constraints([Val(np.ascontiguousarray(trace[c])) for c in range(trace.shape[0])])
    return np.array([c.data for c in cons])


@pytest.fixture(scope="module")
def gadget_trace() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    inputs = rng.integers(0, P, size=(6, 12), dtype=np.uint64)
    inputs[0] = np.arange(12)  # the published vector's input
    inputs[1] = 0
    inputs[2] = P - 1
    return inputs, poseidon2_trace_columns(inputs)


@pytest.fixture(scope="module")
def chain() -> tuple[HashChainAir, np.ndarray, bytes]:
    air, main = HashChainAir.instance(12, seed=5)
    return air, main, prove(air, main, PARAMS, seed=5)


# -- the gadget ------------------------------------------------------------------------------------


def test_layout() -> None:
    g = Poseidon2Gadget(offset=7)
    assert g.ncols == num_columns(12) == 12 + 8 * 24 + 22 * 2 == 248
    assert g.input_cols == list(range(7, 19))
    assert g.end == 7 + 248
    assert g.output_cols == list(range(7 + 248 - 12, 7 + 248))
    assert g.digest_cols == g.output_cols[:4]
    every = g.input_cols + g.partial_cube_cols + g.partial_sbox_cols
    every += [c for r in g.full_cube_cols + g.full_state_cols for c in r]
    assert sorted(every) == list(range(7, 7 + 248))  # each column used once
    assert Poseidon2Gadget(width=8).ncols == 8 + 8 * 16 + 44
    with pytest.raises(ValueError):
        Poseidon2Gadget(width=16)


def test_trace_matches_the_permutation(gadget_trace: tuple) -> None:
    inputs, trace = gadget_trace
    g = Poseidon2Gadget()
    assert trace.shape == (248, 6)
    assert np.array_equal(trace[g.input_cols].T, inputs)
    assert np.array_equal(trace[g.output_cols].T, P2.permute(inputs))
    assert [int(v) for v in trace[g.output_cols, 0]] == R.permute(list(range(12)))


def test_constraints_vanish_on_a_valid_trace(gadget_trace: tuple) -> None:
    _inputs, trace = gadget_trace
    res = _gadget_residues(Poseidon2Gadget(), trace)
    assert res.shape == (8 * 24 + 22 * 2, 6)
    assert not res.any()


def test_constraints_at_an_offset_read_their_own_columns(gadget_trace: tuple) -> None:
    _inputs, trace = gadget_trace
    rng = np.random.default_rng(2)
    wide = np.vstack([rng.integers(0, P, size=(5, 6), dtype=np.uint64), trace])
    assert not _gadget_residues(Poseidon2Gadget(offset=5), wide).any()


def test_every_cell_is_constrained(gadget_trace: tuple) -> None:
    # Row k of `bad` is row 3 of the valid trace with cell k changed; the constraints read one row only,
    # so one evaluation over all rows checks every cell: each row must break some constraint.
    _inputs, trace = gadget_trace
    g = Poseidon2Gadget()
    bad = np.repeat(trace[:, 3:4], g.ncols, axis=1)
    for col in range(g.ncols):
        bad[col, col] = (int(bad[col, col]) + 1) % P
    res = _gadget_residues(g, bad)
    unconstrained = [col for col in range(g.ncols) if not res[:, col].any()]
    assert unconstrained == []


def test_gadget_reading_its_input_from_other_cells(gadget_trace: tuple) -> None:
    # The AIR already holds the input (here columns 0..11, say a row's values and salt); the gadget at
    # offset 12 stores only its registers and reads the input as expressions.
    inputs, _trace = gadget_trace
    g = Poseidon2Gadget(offset=12, own_input=False)
    assert g.ncols == 248 - 12 and g.input_cols == [] and g.end == 12 + 236
    trace = np.vstack([inputs.T, g.trace_columns(inputs)])

    def residues(tr: np.ndarray) -> np.ndarray:
        cur = [Val(np.ascontiguousarray(tr[c])) for c in range(tr.shape[0])]
        return np.array([c.data for c in g.constraints(cur, inputs=cur[:12])])

    assert not residues(trace).any()
    assert np.array_equal(trace[g.output_cols].T, P2.permute(inputs))
    for col in (0, 11, 12, 100, trace.shape[0] - 1):  # the external input is bound too
        bad = trace.copy()
        bad[col, 4] = (int(bad[col, 4]) + 1) % P
        assert set(np.nonzero(residues(bad).any(axis=0))[0].tolist()) == {4}
    with pytest.raises(ValueError):
        g.constraints([Val(np.ascontiguousarray(trace[c])) for c in range(trace.shape[0])])
    with pytest.raises(ValueError):
        Poseidon2Gadget().constraints([Val(np.ascontiguousarray(trace[c])) for c in range(248)], inputs=[])


def test_width_8_gadget(gadget_trace: tuple) -> None:
    rng = np.random.default_rng(8)
    inputs = rng.integers(0, P, size=(3, 8), dtype=np.uint64)
    trace = poseidon2_trace_columns(inputs)
    g = Poseidon2Gadget(width=8)
    assert np.array_equal(trace[g.output_cols].T, P2.permute(inputs))
    assert not _gadget_residues(g, trace).any()


def test_constraint_degree_is_three() -> None:
    # Restrict every column to a line a + b*X: each constraint becomes a polynomial in X whose degree is
    # at most the constraint's degree; 5 points of a degree-3 polynomial satisfy the 4th finite difference.
    rng = np.random.default_rng(4)
    g = Poseidon2Gadget()
    a = rng.integers(0, P, size=g.ncols, dtype=np.uint64)
    b = rng.integers(0, P, size=g.ncols, dtype=np.uint64)
    xs = range(5)
    cols = [Val(np.array([(int(a[c]) + int(b[c]) * x) % P for x in xs], dtype=np.uint64)) for c in range(g.ncols)]
    res = [[int(v) for v in c.data] for c in g.constraints(cols)]

    def fourth_difference(v: list[int]) -> int:
        return (v[4] - 4 * v[3] + 6 * v[2] - 4 * v[1] + v[0]) % P

    def third_difference(v: list[int]) -> int:
        return (v[3] - 3 * v[2] + 3 * v[1] - v[0]) % P

    assert all(fourth_difference(v) == 0 for v in res)
    assert any(third_difference(v) != 0 for v in res)  # degree exactly 3, not less


# -- the hash chain: proofs ------------------------------------------------------------------------


def test_chain_trace_links_rows(chain: tuple) -> None:
    air, main, _proof = chain
    g = air.gadget
    for row in range(air.n_used - 1):
        assert np.array_equal(main[g.input_cols[:4], row + 1], main[g.digest_cols, row])
        state = [int(v) for v in main[g.input_cols, row]]
        assert [int(v) for v in main[g.output_cols, row]] == R.permute(state)
    assert [int(v) for v in main[g.digest_cols, -1]] == air.final_digest


def test_chain_proof_verifies(chain: tuple) -> None:
    air, _main, proof = chain
    verify(air, proof, PARAMS)


def test_wrong_public_inputs_are_rejected(chain: tuple) -> None:
    air, _main, proof = chain
    wrong_digest = list(air.final_digest)
    wrong_digest[2] = (wrong_digest[2] + 1) % P
    with pytest.raises(VerificationError):
        verify(HashChainAir(air.n_used, air.first_input, wrong_digest), proof, PARAMS)
    wrong_start = list(air.first_input)
    wrong_start[11] = (wrong_start[11] + 1) % P
    assert not is_valid(HashChainAir(air.n_used, wrong_start, air.final_digest), proof, PARAMS)


@pytest.mark.parametrize(("row", "col"), [(0, 3), (5, 12), (5, 100), (7, 200), (11, 247)])
def test_one_wrong_register_is_rejected(chain: tuple, row: int, col: int) -> None:
    # one cell off: an input word, a cube register, a partial S-box output, the last row's output
    air, main, _proof = chain
    bad = main.copy()
    bad[col, row] = (int(bad[col, row]) + 1) % P
    with pytest.raises(ProvingError):
        prove(air, bad, PARAMS)
    forged = prove(air, bad, PARAMS, seed=9, check=False)
    assert not is_valid(air, forged, PARAMS)


def test_a_break_in_the_chain_is_rejected(chain: tuple) -> None:
    # Every row is an honest permutation, but row 6 does not start from row 5's digest: only the
    # transition constraint can notice.
    air, main, _proof = chain
    g = air.gadget
    inputs = main[g.input_cols].T.copy()
    inputs[6, 0] = (int(inputs[6, 0]) + 1) % P
    outputs = P2.permute(inputs)
    for row in range(7, air.n_used):  # keep the rest of the chain consistent after the break
        inputs[row, :4] = outputs[row - 1, :4]
        outputs[row] = P2.permute(inputs[row : row + 1])[0]
    bad = poseidon2_trace_columns(inputs)
    assert not _gadget_residues(g, bad).any()
    forged_air = HashChainAir(air.n_used, air.first_input, [int(v) for v in outputs[-1, :4]])
    assert not is_valid(forged_air, prove(forged_air, bad, PARAMS, seed=3, check=False), PARAMS)


def test_chain_of_two_rows_and_instance_sizes() -> None:
    for n_used in (2, 3):
        air, main = HashChainAir.instance(n_used, seed=n_used)
        verify(air, prove(air, main, PARAMS), PARAMS)
    with pytest.raises(ValueError):
        HashChainAir(4, [0] * 11, [0] * 4)
