"""What prover and verifier must compute identically: sizes, the transcript's opening, the order in
which constraints and DEEP terms are combined."""

from __future__ import annotations

import blake3
import numpy as np

from bastion.stark.air.air import Air, circuit_digest
from bastion.stark.commit.fri import num_folds
from bastion.stark.commit.transcript import Transcript
from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R
from bastion.stark.uni.params import StarkParams
from bastion.stark.uni.proof import VERSION, ProofShape

COSET_SHIFT = F.GENERATOR_INT  # the LDE lives on 7 * <omega_N>, disjoint from the trace domain
TRANSCRIPT_DOMAIN = b"bastion-stark/v2"


def trace_log_length(n_used: int, params: StarkParams) -> int:
    """log2 of the trace length: the used rows plus the random blinding rows, rounded up."""
    total = n_used + params.zk_rows
    return max(3, (total - 1).bit_length())


def chunk_layout(n_used: int, max_degree: int, params: StarkParams) -> tuple[int, int]:
    """(coefficients of H per quotient chunk, number of chunks). A chunk holds n minus the blinding moved
    between neighbouring chunks, so a chunk plus x^size times its random carry stays of degree < n; deg H <
    d*n, so ceil(d*n / size) chunks hold it (d + 1 for every trace the project uses)."""
    n = 1 << trace_log_length(n_used, params)
    size = n - params.chunk_blinding
    return size, -(-max(1, max_degree) * n // size)


def chunk_size(air: Air, params: StarkParams) -> int:
    return chunk_layout(air.n_used, air.max_degree, params)[0]


def num_chunks(air: Air, params: StarkParams) -> int:
    return chunk_layout(air.n_used, air.max_degree, params)[1]


def check_air(air: Air, params: StarkParams) -> None:
    if air.max_degree < 1:
        raise ValueError("max_degree must be at least 1")
    if air.max_degree > params.blowup:
        raise ValueError(
            f"{air.name}: constraint degree {air.max_degree} needs blowup >= {air.max_degree}, "
            f"parameters give {params.blowup}"
        )
    log_n = trace_log_length(air.n_used, params)
    for i, col in enumerate(air.periodic_columns()):
        L = len(col)
        if L < 1 or L & (L - 1) or (1 << log_n) < L:
            raise ValueError(f"{air.name}: periodic column {i} length {L} is not a power of two <= trace length")
    for i, col in enumerate(air.public_columns()):
        if len(col) != air.n_used:
            raise ValueError(f"{air.name}: public column {i} has {len(col)} rows, expected {air.n_used}")


def proof_shape(air: Air, params: StarkParams) -> ProofShape:
    log_n = trace_log_length(air.n_used, params)
    q = num_chunks(air, params)
    rounds = num_folds(log_n, params.log_final_degree)
    return ProofShape(
        log_n=log_n,
        n_used=air.n_used,
        num_public_inputs=len(air.public_inputs()),
        main_width=air.main_width,
        aux_base_width=2 * air.aux_width,
        quotient_base_width=2 * q + 2,
        num_chunks=q,
        num_fri_layers=max(0, rounds - 1),
        num_final_coeffs=1 << (log_n - rounds),
        num_query_rows=0,
        salt_bytes=params.salt_bytes,
    )


def start_transcript(air: Air, params: StarkParams) -> Transcript:
    t = Transcript(TRANSCRIPT_DOMAIN)
    t.absorb(b"version", VERSION.to_bytes(2, "little"))
    t.absorb(b"params", params.digest())
    t.absorb(b"circuit", circuit_digest(air))
    t.absorb_ints(b"shape", [air.n_used, trace_log_length(air.n_used, params)])
    t.absorb_ints(b"public-inputs", [v % R.P for v in air.public_inputs()])
    # Public columns are part of the statement: bind them before any challenge, so a prover cannot pick
    # them after seeing the out-of-domain point (a weak Fiat-Shamir attack on the composition check).
    t.absorb(b"public-columns", public_columns_digest(air))
    return t


def public_columns_digest(air: Air) -> bytes:
    h = blake3.blake3()
    cols = air.public_columns()
    h.update(len(cols).to_bytes(4, "little"))
    for col in cols:
        data = (np.asarray(col, dtype=np.uint64) % F.P).astype("<u8").tobytes()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


def query_rows(queries: list[int], lde_size: int) -> list[int]:
    """The LDE rows opened for queries: each query q in [0, N/2) needs x_q and -x_q = x_{q + N/2}."""
    half = lde_size // 2
    return sorted({q for q in queries} | {q + half for q in queries})


def deep_coefficients(t: Transcript, count: int) -> list[R.Ext]:
    """One independent random coefficient per DEEP term (not powers of one challenge): the batching error is
    then |D|/|F| whatever the number of terms, instead of (count - 1)|D|/|F| (uni/security.py)."""
    return t.challenge_ext_vector(b"deep-coefficients", count)


def mul_by_x(c: tuple[int, int]) -> tuple[int, int]:
    """c * X in F_p[X]/(X^2 - 7)."""
    return (F.W_INT * c[1] % R.P, c[0])
