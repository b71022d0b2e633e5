"""Proof parameters and the security they give.

Conjectured security of the FRI-based STARK (the usual "toy problem" conjecture, as in ethSTARK and
Winterfell), in bits:

    lambda = min( q * log2(blowup) + grinding_bits ,  log2|F_ext| - log2(N * max(1, d)) - 1 )

q queries each catch a cheating prover with probability 1 - rho, rho = 1/blowup the code rate; proof of
work adds ``grinding_bits``; the second term bounds the algebraic (DEEP-ALI and batching) errors of
challenges drawn from the 128-bit extension field over a domain of size N with constraint degree d.

Default: blowup 4, 44 queries, 16 bits of grinding: 44 * 2 + 16 = 104 bits; the algebraic term is
about 128 - 25 - 2 - 1 = 100 bits even at N = 2^24, so at least 100 bits for every trace up to 2^22 rows.

Zero knowledge: the trace is opened at 2 out-of-domain points and at 2 points per query, so
``zk_rows = 2 * queries + 2`` random blinding rows make every opened value uniformly random
(see docs/spec/stark.md).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

EXT_FIELD_BITS = 128


@dataclass(frozen=True)
class StarkParams:
    log_blowup: int = 2
    num_queries: int = 44
    grinding_bits: int = 16
    log_final_degree: int = 4  # FRI stops folding at polynomials of degree < 16, sent as coefficients
    salt_bytes: int = 16

    @property
    def blowup(self) -> int:
        return 1 << self.log_blowup

    @property
    def zk_rows(self) -> int:
        return 2 * self.num_queries + 2

    def conjectured_security_bits(self, log_lde_size: int, max_degree: int) -> float:
        fri = self.num_queries * self.log_blowup + self.grinding_bits
        algebraic = EXT_FIELD_BITS - log_lde_size - math.log2(max(1, max_degree)) - 1
        return float(min(fri, algebraic))

    def digest(self) -> bytes:
        desc = (
            f"goldilocks;ext2(x^2-7);blake3;blowup={self.blowup};q={self.num_queries};"
            f"pow={self.grinding_bits};final={self.log_final_degree};salt={self.salt_bytes};"
            f"zk={self.zk_rows}"
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
# Small parameters for fast tests of the machinery only: NOT secure, and named so.
INSECURE_TEST_PARAMS = StarkParams(log_blowup=2, num_queries=8, grinding_bits=2, log_final_degree=2)
