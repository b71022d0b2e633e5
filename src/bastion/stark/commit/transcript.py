"""Fiat-Shamir transcript: BLAKE3 over a running state, with domain separation on every message.

Every absorbed message is framed as ``len(label) || label || len(data) || data`` so that no two
different sequences of messages hash alike, and the transcript starts from a protocol label, so a
transcript of one protocol never answers for another. Challenges are squeezed with a counter and the
state then moves on, so no challenge is ever drawn twice from one state.
"""

from __future__ import annotations

import struct

import blake3

from bastion.stark.field.scalar import P

_PROTOCOL = b"bastion-stark-transcript/v1"


def _frame(label: bytes, data: bytes) -> bytes:
    return struct.pack("<I", len(label)) + label + struct.pack("<Q", len(data)) + data


class Transcript:
    def __init__(self, domain: bytes) -> None:
        self._state = blake3.blake3(_frame(_PROTOCOL, domain)).digest()
        self._squeezes = 0

    @property
    def state(self) -> bytes:
        return self._state

    def absorb(self, label: bytes, data: bytes) -> None:
        self._state = blake3.blake3(self._state + b"A" + _frame(label, data)).digest()
        self._squeezes = 0

    def absorb_ints(self, label: bytes, values: list[int]) -> None:
        self.absorb(label, b"".join(int(v).to_bytes(8, "little") for v in values))

    def challenge_bytes(self, label: bytes, n: int) -> bytes:
        out = blake3.blake3(self._state + b"C" + _frame(label, struct.pack("<Q", self._squeezes))).digest(
            length=n
        )
        self._squeezes += 1
        self._state = blake3.blake3(self._state + b"S" + _frame(label, out)).digest()
        return out

    def challenge_ext(self, label: bytes) -> tuple[int, int]:
        raw = self.challenge_bytes(label, 32)
        return (int.from_bytes(raw[:16], "little") % P, int.from_bytes(raw[16:], "little") % P)

    def challenge_ext_vector(self, label: bytes, count: int) -> list[tuple[int, int]]:
        """``count`` independent extension elements from one squeeze (a random oracle's output split in
        32-byte pieces: as independent as separate squeezes, at one hash call's cost per 2 KiB)."""
        raw = self.challenge_bytes(label, 32 * count)
        return [
            (int.from_bytes(raw[32 * i : 32 * i + 16], "little") % P,
             int.from_bytes(raw[32 * i + 16 : 32 * i + 32], "little") % P)
            for i in range(count)
        ]

    def challenge_indices(self, label: bytes, count: int, bound: int) -> list[int]:
        """``count`` indices uniform in [0, bound) for a power-of-two bound."""
        if bound <= 0 or bound & (bound - 1):
            raise ValueError("index bound must be a power of two")
        raw = self.challenge_bytes(label, 8 * count)
        return [int.from_bytes(raw[8 * i : 8 * i + 8], "little") & (bound - 1) for i in range(count)]

    # -- proof of work -------------------------------------------------------------------------
    def _pow_hash(self, nonce: int) -> int:
        digest = blake3.blake3(self._state + b"W" + nonce.to_bytes(8, "little")).digest()
        return int.from_bytes(digest[:8], "big")

    def grind(self, bits: int) -> int:
        """Find a nonce whose hash with the current state has ``bits`` leading zero bits, and absorb it."""
        nonce = 0
        if bits > 0:
            limit = 1 << (64 - bits)
            while self._pow_hash(nonce) >= limit:
                nonce += 1
        self.absorb(b"pow-nonce", nonce.to_bytes(8, "little"))
        return nonce

    def check_pow(self, bits: int, nonce: int) -> bool:
        ok = bits == 0 or self._pow_hash(nonce) < (1 << (64 - bits))
        self.absorb(b"pow-nonce", nonce.to_bytes(8, "little"))
        return ok
