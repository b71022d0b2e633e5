"""Proof parameters. Their soundness is counted term by term from a proof's real shape in
``stark/uni/security.py`` (docs/spec/stark.md, "Soundness"); the verifier refuses every proof whose union of
terms is below 100 bits, default parameters included, unless ``allow_insecure`` is set (tests only).

Default (conjectured regime, ethSTARK conjecture): blowup 4, 48 queries, 16 bits of grinding: the FRI
query term is 48 * 2 + 16 = 112 bits and the union of every term is >= 100.3 bits for traces up to 2^22 rows
(the largest batch a round allows), limited by the field-size terms (LogUp, OOD, DEEP batching, folding).

``PROVEN_PARAMS`` (``--security proven``): the same blowup with 156 queries, so the *proven* unique-decoding
query term (1 + rho) / 2 per query gives 156 * 0.678 + 16 = 121.8 bits and the proven union is >= 100 bits
up to 2^22 rows: proofs ~3x larger, proving time nearly unchanged (bench/por.py).

Zero knowledge: ``zk_rows`` random blinding rows per column (docs/spec/stark.md, "Zero knowledge").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StarkParams:
    log_blowup: int = 2
    num_queries: int = 48
    grinding_bits: int = 16
    log_final_degree: int = 4  # FRI stops folding at polynomials of degree < 16, sent as coefficients
    salt_bytes: int = 16
    # The verifier refuses proofs below MIN_SECURITY_BITS (stark/uni/security.py) unless the caller sets this:
    # tests and development only. Not part of the digest or the published parameters.
    allow_insecure: bool = field(default=False, compare=False)

    @property
    def blowup(self) -> int:
        return 1 << self.log_blowup

    @property
    def zk_rows(self) -> int:
        # each trace column is opened at z, gz and 2q query rows, and the quotient's value at each query row
        # (recomputable from the opened chunks) depends on the column at the next row g*x too: 4q + 2 points
        # at most. Strictly more random rows than that: every opened value is uniform (docs/spec/stark.md).
        return 4 * self.num_queries + 4

    @property
    def chunk_blinding(self) -> int:
        # random coefficients moved between neighbouring quotient chunks: more than the 2q + 1 points
        # (z and the query rows) each chunk is opened at
        return 2 * self.num_queries + 2

    def digest(self) -> bytes:
        desc = (
            f"goldilocks;ext2(x^2-7);blake3;blowup={self.blowup};q={self.num_queries};"
            f"pow={self.grinding_bits};final={self.log_final_degree};salt={self.salt_bytes};"
            f"zk={self.zk_rows};chunk-blinding={self.chunk_blinding}"
        )
        return hashlib.blake2b(desc.encode(), digest_size=32, person=b"bastion-params").digest()

    def validate(self) -> None:
        if not 1 <= self.log_blowup <= 4:
            raise ValueError("log_blowup must be in [1, 4]")
        if not 1 <= self.num_queries <= 256:
            raise ValueError("num_queries must be in [1, 256]")
        if not 0 <= self.grinding_bits <= 30:
            raise ValueError("grinding_bits must be in [0, 30]")
        if not 0 <= self.log_final_degree <= 10:
            raise ValueError("log_final_degree must be in [0, 10]")
        if not 8 <= self.salt_bytes <= 64:
            raise ValueError("salt_bytes must be in [8, 64]")


DEFAULT_PARAMS = StarkParams()
PROVEN_PARAMS = StarkParams(num_queries=156)
# Small parameters for fast tests of the machinery only: NOT secure, named so, and marked so for the verifier.
INSECURE_TEST_PARAMS = StarkParams(
    log_blowup=2, num_queries=8, grinding_bits=2, log_final_degree=2, allow_insecure=True
)
