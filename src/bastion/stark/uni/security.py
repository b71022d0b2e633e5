"""Soundness, counted term by term from the real shape of a proof (``docs/spec/stark.md``, "Soundness").

A cheating prover wins if any one of the protocol's random choices goes its way, so the soundness error is
at most the *sum* of the error of every step; we state that union, in bits (-log2 of the sum), next to each
term. Every term is computed from the shape the verifier actually checks: trace length, LDE size, FRI
rounds, queries, grinding, constraint degree and count, the number of polynomials the DEEP step batches,
each lookup's rows and fractions. Challenges live in F_p^2, |F| = p^2 ~ 2^128.

Terms (eps = error probability; sources in the spec):

* ``fri_queries``: each query misses a far codeword with probability at most theta; q queries plus
  ``grinding_bits`` of proof of work: q * log2(1/theta) + grinding. theta = rho (conjectured, ethSTARK
  conjecture), (1 + rho) / 2 (proven, unique decoding), sqrt(rho)(1 + 1/2m) (proven, Johnson bound).
* ``fri_folding``: each fold draws one challenge; a bad one keeps a far function close: sum over rounds of
  |D_i| / |F| (unique decoding, conjectured), or the Proximity-Gaps Johnson bound
  (m + 1/2)^7 |D_i|^2 / (3 rho^(3/2) |F|).
* ``deep_batching``: the DEEP polynomials are combined with independent random coefficients (an affine
  space, Proximity Gaps Thm 1.6): |D| / |F| (or the Johnson expression) whatever their number; with powers of
  one challenge it would be (k - 1) |D| / |F| for k batched terms.
* ``ood_deep_ali``: the out-of-domain point: L (d (n + 1) + n - 1) / |F|, d the constraint degree, n the
  trace length, L the list size (1 conjectured / unique decoding, (m + 1/2) / sqrt(rho) Johnson).
* ``constraint_combination``: the C constraints combined with powers of alpha: (C - 1) / |F|.
* ``logup_<name>``: per lookup (LogUp, Haboeck 2022): the cleared rational identity has degree at most
  c * (f * rows + table) + e in the challenges, f fractions a row, c the degree of a compressed tuple in
  its challenge, e the numerator's degree.
* ``hash_collision``: BLAKE3-256 commitments and transcript, 4-word Poseidon2 leaves: 128 bits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bastion.stark.air.air import Lookup
from bastion.stark.uni.params import StarkParams

P = 2**64 - 2**32 + 1
FIELD_BITS = 2 * math.log2(P)  # |F_p^2|
HASH_COLLISION_BITS = 128.0
MIN_SECURITY_BITS = 100


@dataclass(frozen=True)
class SecurityInputs:
    """Everything the count depends on; published per batch so anyone can recompute it."""

    log_trace_length: int  # n, blinding rows included
    rows_used: int
    log_blowup: int
    num_queries: int
    grinding_bits: int
    fri_folds: int
    constraint_degree: int
    constraints: int
    deep_batched_terms: int  # polynomials the DEEP step combines
    deep_independent_coefficients: bool
    quotient_chunks: int = 0  # c chunks of ``chunk_size`` coefficients: the OOD identity has degree
    chunk_size: int = 0  # max(d(n + 1), (c - 1) * chunk_size + n) + n - 1
    lookups: tuple[Lookup, ...] = ()
    field: str = "Goldilocks^2 (x^2 - 7)"
    field_bits: float = FIELD_BITS
    hash: str = "BLAKE3-256 (commitments, transcript), Poseidon2 4 words (leaves)"

    @property
    def n(self) -> int:
        return 1 << self.log_trace_length

    @property
    def lde_size(self) -> int:
        return 1 << (self.log_trace_length + self.log_blowup)

    @property
    def rho(self) -> float:
        return 2.0**-self.log_blowup


@dataclass
class SecurityReport:
    inputs: SecurityInputs
    conjectured: dict[str, float] = field(default_factory=dict)
    proven_unique: dict[str, float] = field(default_factory=dict)
    proven_johnson: dict[str, float] = field(default_factory=dict)
    johnson_m: int = 0

    @property
    def conjectured_bits(self) -> float:
        return self.conjectured["union"]

    @property
    def proven_bits(self) -> float:
        return max(self.proven_unique["union"], self.proven_johnson["union"])

    def to_json(self) -> dict[str, Any]:
        inputs = asdict(self.inputs)
        inputs["lookups"] = [asdict(lk) for lk in self.inputs.lookups]
        inputs["field_bits"] = round(self.inputs.field_bits, 6)

        def r(d: dict[str, float]) -> dict[str, float]:
            return {k: round(v, 2) for k, v in d.items()}

        return {
            "inputs": inputs,
            "conjectured_bits": r(self.conjectured),
            "proven_unique_decoding_bits": r(self.proven_unique),
            "proven_johnson_bits": {**r(self.proven_johnson), "m": self.johnson_m},
            "union_conjectured": round(self.conjectured_bits, 2),
            "union_proven": round(self.proven_bits, 2),
        }


def _bits(eps: float) -> float:
    return -math.log2(eps) if eps > 0 else math.inf


def union_bits(terms: dict[str, float]) -> float:
    """-log2 of the sum of the terms' errors (each given in bits)."""
    return _bits(sum(2.0**-b for k, b in terms.items() if k != "union"))


def _common(s: SecurityInputs, list_size: float) -> dict[str, float]:
    F = s.field_bits
    out = {
        "ood_deep_ali": F - math.log2(list_size * (
            max(s.constraint_degree * (s.n + 1), (s.quotient_chunks - 1) * s.chunk_size + s.n) + s.n - 1)),
        "constraint_combination": F - math.log2(max(1, s.constraints - 1)),
        "hash_collision": HASH_COLLISION_BITS,
    }
    for lk in s.lookups:
        degree = lk.compression_degree * (lk.fractions_per_row * s.rows_used + lk.table_rows) + lk.numerator_degree
        out[f"logup_{lk.name}"] = F - math.log2(degree)
    return out


def _unique(s: SecurityInputs, theta: float) -> dict[str, float]:
    F, N = s.field_bits, s.lde_size
    k = 1 if s.deep_independent_coefficients else max(1, s.deep_batched_terms - 1)
    terms = {
        "fri_queries": s.num_queries * -math.log2(theta) + s.grinding_bits,
        "fri_folding": F - math.log2(sum(N >> i for i in range(max(1, s.fri_folds)))),
        "deep_batching": F - math.log2(k * N),
    }
    return terms


def _johnson(s: SecurityInputs, m: int) -> dict[str, float]:
    F, N, rho = s.field_bits, s.lde_size, s.rho
    theta = math.sqrt(rho) * (1 + 1 / (2 * m))
    c = (m + 0.5) ** 7 / (3 * rho**1.5)
    k = 1 if s.deep_independent_coefficients else max(1, s.deep_batched_terms - 1)
    terms = {
        "fri_queries": s.num_queries * -math.log2(theta) + s.grinding_bits,
        "fri_folding": F - math.log2(c * sum((N >> i) ** 2 for i in range(max(1, s.fri_folds)))),
        "deep_batching": F - math.log2(k * c * N * N),
    }
    terms.update(_common(s, (m + 0.5) / math.sqrt(rho)))
    return terms


def security(s: SecurityInputs) -> SecurityReport:
    rep = SecurityReport(s)
    rep.conjectured = {**_unique(s, s.rho), **_common(s, 1.0)}
    rep.conjectured["union"] = union_bits(rep.conjectured)
    rep.proven_unique = {**_unique(s, (1 + s.rho) / 2), **_common(s, 1.0)}
    rep.proven_unique["union"] = union_bits(rep.proven_unique)
    best: dict[str, float] = {}
    for m in range(3, 65):
        terms = _johnson(s, m)
        terms["union"] = union_bits(terms)
        if not best or terms["union"] > best["union"]:
            best, rep.johnson_m = terms, m
    rep.proven_johnson = best
    return rep


_CONSTRAINT_COUNTS: dict[tuple[type, str], int] = {}


def inputs_for(air: Any, params: StarkParams, n_used: int | None = None) -> SecurityInputs:
    """The security inputs of proofs of ``air`` under ``params``: the shape the verifier checks. ``n_used``
    (default ``air.n_used``) gives those of the same circuit over another row count (the constraint system
    does not depend on it), without building a full-size instance."""
    from bastion.stark.air.symbolic import trace_constraints
    from bastion.stark.commit.fri import num_folds
    from bastion.stark.uni.protocol import chunk_layout, trace_log_length

    rows = air.n_used if n_used is None else n_used
    log_n = trace_log_length(rows, params)
    size, chunks = chunk_layout(rows, air.max_degree, params)
    if air.num_challenges and not air.lookups():
        raise ValueError(f"{air.name} draws challenges but declares no lookups: its soundness cannot be counted")
    key = (type(air), air.shape_descriptor())
    if key not in _CONSTRAINT_COUNTS:
        _CONSTRAINT_COUNTS[key] = sum(len(g) for g in trace_constraints(air)[1])
    return SecurityInputs(
        log_trace_length=log_n,
        rows_used=rows,
        log_blowup=params.log_blowup,
        num_queries=params.num_queries,
        grinding_bits=params.grinding_bits,
        fri_folds=num_folds(log_n, params.log_final_degree),
        constraint_degree=air.max_degree,
        constraints=_CONSTRAINT_COUNTS[key],
        deep_batched_terms=2 * (air.main_width + air.aux_width) + chunks + 1,
        quotient_chunks=chunks,
        chunk_size=size,
        deep_independent_coefficients=True,
        lookups=tuple(air.lookups()),
    )


def report_for(air: Any, params: StarkParams, n_used: int | None = None) -> SecurityReport:
    return security(inputs_for(air, params, n_used))
