"""The compiled constraint program against the direct evaluation with Val, for every example AIR."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bastion.cli.stark_examples import CubicMixAir, FibonacciAir, RangeCheckAir
from bastion.stark.air import symbolic
from bastion.stark.air.poseidon2_air import HashChainAir
from bastion.stark.uni.prover import _composition, _composition_vals, _periodic_lde, _public_lde


def _airs() -> list:
    rng = random.Random(1)
    return [
        FibonacciAir(20, 12345),
        CubicMixAir.instance(5, 40)[0],
        RangeCheckAir.instance([rng.randrange(16) for _ in range(40)], bits=4)[0],
        HashChainAir.instance(12)[0],
    ]


@pytest.mark.parametrize("air", _airs(), ids=lambda a: a.name)
def test_program_matches_val_evaluation(air: object) -> None:
    rng = np.random.default_rng(3)
    n, blowup = 128, 4
    size = n * blowup
    main = rng.integers(0, 2**64 - 2**32, (air.main_width, size), dtype=np.uint64)  # type: ignore[attr-defined]
    aux = rng.integers(0, 2**64 - 2**32, (2 * air.aux_width, size), dtype=np.uint64)  # type: ignore[attr-defined]
    aux_ext = np.ascontiguousarray(aux.reshape(air.aux_width, 2, size).transpose(0, 2, 1))  # type: ignore[attr-defined]
    challenges = [(int(rng.integers(1, 2**60)), int(rng.integers(1, 2**60))) for _ in range(air.num_challenges)]  # type: ignore[attr-defined]
    alpha = (987654321, 123456789)
    per = _periodic_lde(air, n, size)  # type: ignore[arg-type]
    pub = _public_lde(air, n, size)  # type: ignore[arg-type]
    fast = _composition(air, main, aux if air.aux_width else None, per, pub, challenges, alpha, n)  # type: ignore[arg-type, attr-defined]
    slow = _composition_vals(air, main, aux_ext if air.aux_width else None, per, pub, challenges, alpha, n)  # type: ignore[arg-type, attr-defined]
    assert (fast == slow).all()


def test_common_subexpressions_are_shared() -> None:
    air = CubicMixAir.instance(3, 20)[0]
    b, _groups = symbolic.trace_constraints(air)
    # x*x appears once per column, whatever the order the AIR writes it in
    squares = [node for node in b.nodes if node[0] == symbolic._MUL and node[1] == node[2]]
    assert len(squares) == 3


def test_periodic_extension_equals_full_length_extension() -> None:
    from bastion.stark.field import goldilocks as F
    from bastion.stark.poly.ntt import lde
    from bastion.stark.uni.protocol import COSET_SHIFT

    air = CubicMixAir.instance(3, 20, seed=2)[0]
    n, blowup = 64, 4
    fast = _periodic_lde(air, n, n * blowup)
    for col, period in zip(air.periodic_columns(), fast, strict=True):
        full = np.tile(np.asarray(col, dtype=np.uint64) % F.P, n // len(col))
        got = np.tile(period, n * blowup // len(period))
        assert (lde(full[None, :], blowup, COSET_SHIFT)[0] == got).all()
