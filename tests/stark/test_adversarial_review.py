"""Adversarial soundness review of the STARK engine: attacks a malicious prover (or hostile bytes) can
mount, beyond the field-by-field tampering of test_stark_proofs.py.

The last section holds the problems the review found (public columns chosen after the OOD point, a
header that made the parser read 2^20 values, numpy constants the verifier refused), fixed since; the
others are attacks that were refused from the start.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from bastion.cli.stark_examples import FibonacciAir, PublicColumnAir, RangeCheckAir
from bastion.stark.air import symbolic
from bastion.stark.air.air import Air, Constraints, Frame
from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R
from bastion.stark.uni import protocol
from bastion.stark.uni import prover as prover_mod
from bastion.stark.uni import verifier as verifier_mod
from bastion.stark.uni.params import INSECURE_TEST_PARAMS
from bastion.stark.uni.proof import Proof
from bastion.stark.uni.prover import prove
from bastion.stark.uni.verifier import VerificationError, decode, is_valid, verify

PARAMS = INSECURE_TEST_PARAMS
Ext = tuple[int, int]


# -- helpers ------------------------------------------------------------------------------------------


def _kernel_vector(rows: list[list[int]], ncols: int) -> list[int]:
    """A non-zero x with rows @ x = 0 over F_p (rows: fewer equations than unknowns)."""
    m = [list(r) for r in rows]
    pivots: list[int] = []
    r = 0
    for c in range(ncols):
        piv = next((i for i in range(r, len(m)) if m[i][c] % R.P), None)
        if piv is None:
            continue
        m[r], m[piv] = m[piv], m[r]
        inv = R.inv(m[r][c])
        m[r] = [x * inv % R.P for x in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c]:
                f = m[i][c]
                m[i] = [(a - f * b) % R.P for a, b in zip(m[i], m[r], strict=True)]
        pivots.append(c)
        r += 1
    free = next(c for c in range(ncols) if c not in pivots)
    x = [0] * ncols
    x[free] = 1
    for i, c in enumerate(pivots):
        x[c] = (-m[i][free]) % R.P
    return x


def _ood_lhs(air: Air, main_z: list[Ext], main_gz: list[Ext], aux_z: list[Ext], aux_gz: list[Ext],
             z: Ext, n: int, challenges: list[Ext], alpha: Ext) -> Ext:
    """The verifier's left-hand side sum_groups (sum_i alpha^i c_i(z)) / Z_group(z)."""
    g = F.root_of_unity(n.bit_length() - 1)
    gz = R.ext_scale(z, g)
    frame = verifier_mod._ood_frame(air, main_z, main_gz, aux_z, aux_gz, z, gz, n, challenges)
    groups = air.constraints(frame).groups()
    zh = R.ext_sub(R.ext_pow(z, n), (1, 0))
    excluded: Ext = (1, 0)
    for i in range(air.n_used, n):
        excluded = R.ext_mul(excluded, R.ext_sub(z, (pow(g, i, R.P), 0)))
    z_last = R.ext_sub(z, (pow(g, air.n_used - 1, R.P), 0))
    inv_every = R.ext_mul(excluded, R.ext_inv(zh))
    invs = [R.ext_mul(inv_every, z_last), inv_every, R.ext_inv(R.ext_sub(z, (1, 0))), R.ext_inv(z_last)]
    lhs: Ext = (0, 0)
    ap: Ext = (1, 0)
    for group, inv in zip(groups, invs, strict=True):
        s: Ext = (0, 0)
        for c in group:
            e = c.as_ext()[0]
            s = R.ext_add(s, R.ext_mul(ap, (int(e[0]), int(e[1]))))
            ap = R.ext_mul(ap, alpha)
        lhs = R.ext_add(lhs, R.ext_mul(s, inv))
    return lhs


# -- Fiat-Shamir: public columns must be bound before the out-of-domain point ------------------------


def test_public_column_chosen_after_the_ood_point_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weak Fiat-Shamir ("frozen heart") attack on public columns.

    The verifier evaluates a public column at z and g*z itself, and nowhere else (public columns take
    no part in the DEEP/FRI checks). If the column is not absorbed before z is drawn, a prover proves
    an honest list L, reads z off the transcript, and then *publishes* L' = L + delta with delta a
    non-zero vector on 5 rows whose interpolant vanishes at z and at g*z (4 base-field equations, 5
    unknowns). The same proof bytes then verify for L', although sum(L') != total: a false statement.
    At fe41bdd (HEAD when this was written) `start_transcript` absorbed only the *number* of public
    columns (through the circuit digest), so this attack succeeded; the fix binds their contents.
    """
    published = [(i * 7919 + 13) % 1000 for i in range(50)]
    air, main = PublicColumnAir.instance(published)
    data = prove(air, main, PARAMS, seed=7)
    verify(air, data, PARAMS)
    rep = decode(air, data, PARAMS)
    n = 1 << rep.proof.log_n
    w = F.root_of_unity(rep.proof.log_n)
    rows = [3, 11, 20, 33, 47]
    # sum_i delta_i * w^i / (y - w^i) = 0 for y in {z, gz}: the zero-padded interpolant is unchanged
    eqs: list[list[int]] = [[], [], [], []]
    for i in rows:
        wi = pow(w, i, R.P)
        for k, y in enumerate((rep.z, rep.gz)):
            t = R.ext_scale(R.ext_inv(R.ext_sub(y, (wi, 0))), wi)
            eqs[2 * k].append(t[0])
            eqs[2 * k + 1].append(t[1])
    delta = _kernel_vector(eqs, len(rows))
    forged_list = list(published)
    for i, d in zip(rows, delta, strict=True):
        forged_list[i] = (forged_list[i] + d) % R.P
    assert sum(forged_list) % R.P != air.total  # the forged statement is false
    forged = PublicColumnAir(forged_list, air.total)
    assert n >= air.n_used

    # the attack is real: with the public columns left out of the transcript, the forgery verifies
    if hasattr(protocol, "public_columns_digest"):
        with monkeypatch.context() as mp:
            mp.setattr(protocol, "public_columns_digest", lambda _air: b"")
            unbound = prove(air, main, PARAMS, seed=7)
            rep2 = decode(air, unbound, PARAMS)
            eqs2: list[list[int]] = [[], [], [], []]
            for i in rows:
                wi = pow(w, i, R.P)
                for k, y in enumerate((rep2.z, rep2.gz)):
                    t = R.ext_scale(R.ext_inv(R.ext_sub(y, (wi, 0))), wi)
                    eqs2[2 * k].append(t[0])
                    eqs2[2 * k + 1].append(t[1])
            d2 = _kernel_vector(eqs2, len(rows))
            fl2 = list(published)
            for i, d in zip(rows, d2, strict=True):
                fl2[i] = (fl2[i] + d) % R.P
            assert sum(fl2) % R.P != air.total
            assert is_valid(PublicColumnAir(fl2, air.total), unbound, PARAMS)

    # with the engine as it is: refused
    assert not is_valid(forged, data, PARAMS)


# -- DEEP binds the out-of-domain values: lying about them to pass the composition check fails FRI --


def _lying_prover(monkeypatch: pytest.MonkeyPatch, air: Air, main: np.ndarray) -> bytes:
    """A cheating prover with a witness that breaks the constraints: it sends the quotient value at z
    that makes the composition identity hold exactly (so the OOD check passes) and lets DEEP/FRI run
    on the resulting (non-low-degree) codeword."""
    seen: dict[str, object] = {}
    real_compile = symbolic.compile_constraints
    real_points = prover_mod._point_values_from_evals
    real_chunks = prover_mod._ext_point_values

    def compile_spy(air_: Air, challenges: list[Ext], alpha: Ext) -> object:
        seen["challenges"], seen["alpha"] = challenges, alpha
        return real_compile(air_, challenges, alpha)

    def points_spy(evals: np.ndarray, points: list[Ext], ext_pairs: bool) -> list[list[Ext]]:
        out = real_points(evals, points, ext_pairs)
        seen["aux" if ext_pairs else "main"] = out
        return out

    def chunks_lie(coeffs: np.ndarray, z: Ext, ext_pairs: bool) -> list[Ext]:
        honest = real_chunks(coeffs, z, ext_pairs)
        n = coeffs.shape[1]
        main_z, main_gz = seen["main"]  # type: ignore[misc]
        aux_z, aux_gz = seen.get("aux", ([], []))  # type: ignore[misc]
        lhs = _ood_lhs(air, main_z, main_gz, aux_z, aux_gz, z, n, seen["challenges"],  # type: ignore[arg-type]
                       seen["alpha"])  # type: ignore[arg-type]
        rest: Ext = (0, 0)
        zn = R.ext_pow(z, n - PARAMS.chunk_blinding)  # H = sum_j x^(j*m) H_j', m = n - chunk blinding
        zjn = zn
        for h in honest[1:]:
            rest = R.ext_add(rest, R.ext_mul(zjn, h))
            zjn = R.ext_mul(zjn, zn)
        lie = R.ext_sub(lhs, rest)
        assert lie != honest[0]  # the constraints really fail, so the honest value would be caught
        return [lie, *honest[1:]]

    with monkeypatch.context() as mp:
        mp.setattr(symbolic, "compile_constraints", compile_spy)
        mp.setattr(prover_mod, "_point_values_from_evals", points_spy)
        mp.setattr(prover_mod, "_ext_point_values", chunks_lie)
        return prove(air, main, PARAMS, check=False, seed=5)


@pytest.mark.parametrize("row", [0, 20, 38, 39])
def test_ood_consistent_lie_is_caught_by_fri(monkeypatch: pytest.MonkeyPatch, row: int) -> None:
    main, result = FibonacciAir.trace(40)
    bad = main.copy()
    bad[1, row] = (int(bad[1, row]) + 1) % R.P
    air = FibonacciAir(40, result)
    forged = _lying_prover(monkeypatch, air, bad)
    with pytest.raises(VerificationError) as info:
        verify(air, forged, PARAMS)
    msg = str(info.value)
    assert "composition polynomial mismatch" not in msg, "the lie should get past the OOD check"
    assert "FRI" in msg


def test_ood_consistent_lie_with_lookups_is_caught_by_fri(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [(i * 37) % 256 for i in range(300)]
    values[299] = 256  # out of range, on the last used row
    s = sum(values) % R.P
    air = RangeCheckAir(300, 8, s)
    main = np.zeros((3, 300), dtype=np.uint64)
    main[0] = np.array(values, dtype=np.uint64)
    main[1] = np.array([sum(values[: i + 1]) % R.P for i in range(300)], dtype=np.uint64)
    main[2] = air.range.multiplicities(main, 300, allow_out_of_range=True)
    forged = _lying_prover(monkeypatch, air, main)
    with pytest.raises(VerificationError) as info:
        verify(air, forged, PARAMS)
    assert "FRI" in str(info.value)


# -- blinding rows: constraints hold on the first and last used rows ----------------------------------


@pytest.mark.parametrize("row", [0, 255, 298, 299])
def test_out_of_range_value_on_boundary_rows_is_rejected(row: int) -> None:
    """The every-row divisor excludes exactly the blinding rows: the first and last used rows (and the
    row where the periodic table wraps) are still range checked."""
    values = [(i * 37) % 256 for i in range(300)]
    values[row] = 256
    s = sum(values) % R.P
    air = RangeCheckAir(300, 8, s)
    main = np.zeros((3, 300), dtype=np.uint64)
    main[0] = np.array(values, dtype=np.uint64)
    main[1] = np.array([sum(values[: i + 1]) % R.P for i in range(300)], dtype=np.uint64)
    main[2] = air.range.multiplicities(main, 300, allow_out_of_range=True)
    assert not is_valid(air, prove(air, main, PARAMS, check=False), PARAMS)


def test_logup_negative_multiplicity_cannot_cancel_an_out_of_range_value() -> None:
    """Multiplicities are free field elements: try to balance v = 256 with a multiplicity of -1 on the
    table entry 0 plus an extra lookup of 0 (same count of lookups, sums rearranged)."""
    values = [(i * 37) % 256 for i in range(300)]
    values[100] = 256
    s = sum(values) % R.P
    air = RangeCheckAir(300, 8, s)
    main = np.zeros((3, 300), dtype=np.uint64)
    main[0] = np.array(values, dtype=np.uint64)
    main[1] = np.array([sum(values[: i + 1]) % R.P for i in range(300)], dtype=np.uint64)
    m = air.range.multiplicities(main, 300, allow_out_of_range=True)
    m[0] = (int(m[0]) - 1) % R.P
    m[256] = (int(m[256]) + 1) % R.P  # row 256 carries table entry 0 again (the table is periodic)
    main[2] = m
    assert not is_valid(air, prove(air, main, PARAMS, check=False), PARAMS)


# -- canonical encodings ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fib_proof() -> tuple[FibonacciAir, bytes]:
    main, result = FibonacciAir.trace(40)
    air = FibonacciAir(40, result)
    return air, prove(air, main, PARAMS, seed=1)


def test_non_canonical_field_elements_are_rejected(fib_proof: tuple) -> None:
    air, data = fib_proof
    p: Proof = decode(air, data, PARAMS).proof
    for attr in ("main_z", "quotient_z", "final_coeffs"):
        group = list(getattr(p, attr))
        a, b = group[0]
        if a < (1 << 64) - R.P:  # a + p still fits in a u64: the same field element, other bytes
            group[0] = (a + R.P, b)
        else:
            group[0] = (R.P, b)
        q = Proof(**{**p.__dict__, attr: group})
        with pytest.raises(VerificationError, match="canonical"):
            verify(air, q.to_bytes(), PARAMS)


def test_header_public_input_count_mismatch_is_rejected(fib_proof: tuple) -> None:
    air, data = fib_proof
    off = 4 + 2 + 32 + 32 + 1 + 4
    (npub,) = struct.unpack_from("<I", data, off)
    evil = data[:off] + struct.pack("<I", npub + 1) + data[off + 4 : off + 4 + 8 * npub] + b"\0" * 8 + \
        data[off + 4 + 8 * npub :]
    assert not is_valid(air, evil, PARAMS)


# -- problems this review found, now fixed ------------------------------------------------------------


def test_huge_public_input_count_is_rejected_cheaply(fib_proof: tuple) -> None:
    air, data = fib_proof
    head = data[: 4 + 2 + 32 + 32 + 1 + 4]
    evil = head + struct.pack("<I", 1 << 20) + b"\0" * (8 << 20)
    # refused on the count, before any of the 2^20 values is parsed
    with pytest.raises(VerificationError, match="public inputs, the statement"):
        verify(air, evil, PARAMS)


class _NumpyConstantAir(Air):
    """Fibonacci with its boundary constants written as numpy integers (as an AIR reading them from a
    numpy array would): the symbolic compiler accepts them, the verifier's Val does not."""

    name = "tests.adversarial.numpy-constant/1"
    main_width = 2
    max_degree = 1

    def __init__(self, n_used: int, result: int) -> None:
        super().__init__(n_used)
        self.result = np.uint64(result % R.P)

    def public_inputs(self) -> list[int]:
        return [int(self.result)]

    def constraints(self, f: Frame) -> Constraints:
        a, b = f.cur
        a2, b2 = f.nxt
        return Constraints(
            transition=[a2 - b, b2 - (a + b)],
            first_row=[a - np.uint64(1), b - 1],
            last_row=[b - self.result],
        )


def test_numpy_integer_constants_prove_and_verify() -> None:
    main, result = FibonacciAir.trace(40)
    air = _NumpyConstantAir(40, result)
    data = prove(air, main, PARAMS, seed=3)  # the prover is happy
    verify(air, data, PARAMS)
