"""The prover's output is pinned byte for byte: speeding up the NTT, the LDE, the constraint evaluation or
the Merkle commitment must not change a single byte of any proof for the same inputs and randomness.

How the expected digests were computed: on main at 91975b5 (before the batched NTT / prover kernels of
issue #19), by running exactly ``_proof_digest`` below for each case and writing down its SHA-256. The
cases cover every prover path: a plain trace (Fibonacci), degree-3 constraints on a trace large enough
that the NTT runs its cache-blocked upper stages (CubicMix, LDE 2^16), LogUp auxiliary columns
(RangeCheck), public columns (PublicColumn) and periodic columns with Poseidon2 (HashChain).

Determinism: the prover's blinding rows and masks come from ``seed``; the Merkle salts come from
``secrets.token_bytes`` (32 bytes keying a BLAKE3 stream), which the test replaces by a seeded byte
source for the duration of the proof, so the salts are derived by the real code from a fixed key.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable

import numpy as np
import pytest

from bastion.cli.stark_examples import CubicMixAir, FibonacciAir, PublicColumnAir, RangeCheckAir
from bastion.stark.air.air import Air
from bastion.stark.air.poseidon2_air import HashChainAir
from bastion.stark.uni.params import INSECURE_TEST_PARAMS
from bastion.stark.uni.prover import prove
from bastion.stark.uni.verifier import verify

PARAMS = INSECURE_TEST_PARAMS


def _fib() -> tuple[Air, np.ndarray]:
    main, result = FibonacciAir.trace(40)
    return FibonacciAir(40, result), main


def _cubic() -> tuple[Air, np.ndarray]:
    # n_used + zk rows = 2^14 rows, LDE 2^16: above the NTT's in-cache block, so every stage kind runs
    return CubicMixAir.instance(6, (1 << 14) - PARAMS.zk_rows, seed=4)


def _ranged() -> tuple[Air, np.ndarray]:
    rng = random.Random(3)
    return RangeCheckAir.instance([rng.randrange(256) for _ in range(300)], bits=8)


def _public() -> tuple[Air, np.ndarray]:
    rng = random.Random(8)
    return PublicColumnAir.instance([rng.randrange(1 << 40) for _ in range(200)])


def _chain() -> tuple[Air, np.ndarray]:
    return HashChainAir.instance(12, seed=5)


# name -> (instance, prover seed, salt-key seed, expected SHA-256 of the proof bytes)
CASES: dict[str, tuple[Callable[[], tuple[Air, np.ndarray]], int, int, str]] = {
    "fibonacci": (_fib, 1, 101, "d0fe08e94baf0aad1c51fd9b77d1db27bff1d8cb2cbfea6cbf5b9ba146ae4d51"),
    "cubic-mix-2^14": (_cubic, 2, 102, "f03932b4cde6d09828aa762d46c5b977ad2b4fa8d0a9ee960f75f66535734955"),
    "range-check-logup": (_ranged, 3, 103, "56c081cdafa0252e6252ca286c275a5f7104a8bd02608f23f467002563ab2151"),
    "public-column": (_public, 4, 104, "7ac7c317aacb2bee0a1f9f278355ff8742368b5e49addf9ad4b98941f8da95f0"),
    "poseidon2-hash-chain": (_chain, 5, 105, "0e58bd273f64e713487b549e41e6fa826e901a156859024b620f866fc6cbc310"),
}


def _proof_digest(monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[Air, bytes, str]:
    make, seed, salt_seed, _ = CASES[name]
    air, main = make()
    source = random.Random(salt_seed)
    with monkeypatch.context() as mp:
        mp.setattr(secrets, "token_bytes", lambda n=32: source.randbytes(n))
        proof = prove(air, main, PARAMS, seed=seed)
    return air, proof, hashlib.sha256(proof).hexdigest()


@pytest.mark.parametrize("name", list(CASES))
def test_proof_bytes_unchanged(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    air, proof, digest = _proof_digest(monkeypatch, name)
    verify(air, proof, PARAMS)  # the pinned proof is a valid one, not just a stable one
    assert digest == CASES[name][3]
