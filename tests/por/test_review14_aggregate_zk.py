"""Review of issue 14 (rev14): the aggregation proof's opened values do not show a batch's totals.

The aggregation trace holds every batch's limb totals (TOT, on each block's first row) and the per-limb global
sums (GS). A verifier who guesses them (say, the totals of one batch, or all of them) and interpolates the
unblinded column finds none of the proof's opened values (at z, gz and the query rows) equal to it; without
blinding rows (the control) every opened value is. And no quotient chunk of an aggregation proof is
interpolable from its query-row values (the attack of issue 14 on the batch circuit's top chunk).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bastion.por.liabilities.circuit.aggregate import AggregateAir, Col, aggregate_trace, global_totals
from bastion.stark.poly.polynomials import barycentric_eval
from bastion.stark.uni.params import INSECURE_TEST_PARAMS, StarkParams
from bastion.stark.uni.protocol import chunk_layout
from bastion.stark.uni.prover import prove
from bastion.stark.uni.verifier import Replay, decode, verify
from zk_support import Ext, interpolate_at, lde_point

PARAMS = INSECURE_TEST_PARAMS
STATEMENT = [1, 2, 3, 4, 5]


@dataclasses.dataclass(frozen=True)
class _NoBlinding(StarkParams):
    @property
    def zk_rows(self) -> int:
        return 0

    @property
    def chunk_blinding(self) -> int:
        return 0


NO_BLINDING = _NoBlinding(**{f.name: getattr(PARAMS, f.name) for f in dataclasses.fields(StarkParams)})


def _instance(b: int, a: int, seed: int) -> tuple[AggregateAir, np.ndarray]:
    rng = np.random.default_rng(seed)
    eq = rng.integers(0, 1 << 39, (b, a, 4)).astype(object)
    dt = rng.integers(0, 1 << 39, (b, a, 4)).astype(object)
    salts = [[int(x) for x in rng.integers(0, 1 << 63, 4)] for _ in range(b)]
    main, commits = aggregate_trace(salts, eq, dt)
    return AggregateAir(commits, *global_totals(eq, dt), STATEMENT), main



def _matches(rep: Replay, params: StarkParams, column: int, witness: np.ndarray) -> float:
    """Fraction of main column ``column``'s opened values equal to the interpolant of the guessed witness."""
    n = 1 << rep.proof.log_n
    col = np.zeros(n, dtype=np.uint64)
    col[: len(witness)] = witness
    lde_size = n * params.blowup
    points: list[Ext] = [rep.z, rep.gz, *[(lde_point(r, lde_size), 0) for r in rep.rows]]
    vals = rep.proof.main_opening.values  # type: ignore[union-attr]
    opened: list[Ext] = [rep.proof.main_z[column], rep.proof.main_gz[column]]
    opened += [(int(vals[i, column]), 0) for i in range(len(rep.rows))]
    return sum(barycentric_eval(col, p) == o for p, o in zip(points, opened, strict=True)) / len(points)



GUESSED = [Col.TOT + i for i in range(8)] + [Col.GS + i for i in range(8)]


def test_control_without_blinding_the_openings_confirm_a_guessed_batch_total() -> None:
    air, main = _instance(2, 2, seed=1)  # 128 used rows: a power of two, so no random rows at all
    proof = prove(air, main, NO_BLINDING, seed=2)
    rep = decode(air, proof, NO_BLINDING)
    assert all(_matches(rep, NO_BLINDING, c, main[c]) == 1.0 for c in GUESSED)


@pytest.mark.parametrize(("batches", "assets"), [(2, 2), (1, 3), (3, 1)])
def test_openings_of_an_aggregation_proof_do_not_confirm_guessed_totals(batches: int, assets: int) -> None:
    air, main = _instance(batches, assets, seed=batches * 10 + assets)
    for _ in range(2):
        proof = prove(air, main, PARAMS)  # OS randomness, as a round proves it
        verify(air, proof, PARAMS)
        rep = decode(air, proof, PARAMS)
        assert all(_matches(rep, PARAMS, c, main[c]) == 0.0 for c in GUESSED)
        # no chunk's value at z is what its query-row values interpolate to
        lde_size = (1 << rep.proof.log_n) * PARAMS.blowup
        xs = [lde_point(r, lde_size) for r in rep.rows]
        vals = rep.proof.quotient_opening.values  # type: ignore[union-attr]
        _size, chunks = chunk_layout(air.n_used, air.max_degree, PARAMS)
        assert len(rep.proof.quotient_z) == chunks
        for j, at_z in enumerate(rep.proof.quotient_z):
            ys = [(int(vals[i, 2 * j]), int(vals[i, 2 * j + 1])) for i in range(len(xs))]
            assert interpolate_at(xs, ys, rep.z) != at_z, (j, chunks)
