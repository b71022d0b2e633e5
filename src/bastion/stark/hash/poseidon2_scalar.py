"""Poseidon2 over Goldilocks: its parameters and the permutation of one state on Python integers.

The numba kernels (``poseidon2``) and the AIR gadget (``air/poseidon2_air``) take their constants from here;
the proof of reserves hashes a user's leaf with :func:`permute` (one state: no kernel needed). Slow and
obviously correct, so the tests compare the kernels and the gadget against it (the sponge's and the
compression's oracles are in ``tests/stark/oracles/poseidon2.py``). Parameters, sources and the sponge's
padding are written down in ``docs/spec/poseidon2.md``.

The instance is Horizen Labs' Goldilocks reference (HorizenLabs/poseidon2,
``poseidon2_instance_goldilocks.rs``): S-box x^7, R_F = 8 full rounds (4 before, 4 after), R_P = 22
partial rounds, the external matrix circ(2*M4, M4, ...) built from
M4 = [[5,7,1,3],[4,6,1,1],[1,3,5,7],[1,1,4,6]], and the internal matrix J + diag(d) (J the all-ones
matrix). Round constants are not stored: they are regenerated here with the Grain LFSR exactly as the
Poseidon/Poseidon2 papers specify; the published test vectors pin them down.

Width 12 (our default) uses Horizen Labs' internal diagonal. Width 8 uses the same round constants and
external matrix with Plonky3's small internal diagonal (``Poseidon2GoldilocksHL<8>``), because that is the
width-8 variant with published test vectors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

P = 2**64 - 2**32 + 1
ALPHA = 7  # smallest d with gcd(d, p - 1) = 1
ROUNDS_F = 8
ROUNDS_F_HALF = ROUNDS_F // 2
ROUNDS_P = 22
FIELD_BITS = 64

WIDTH = 12  # default permutation width, used by the sponge and the compression
RATE = 8
CAPACITY = 4
DIGEST = 4
# capacity word that separates the sponge from the 2-to-1 compression (whose capacity is all zero)
SPONGE_DOMAIN_TAG = 1

_INV2 = pow(2, P - 2, P)

# Internal matrix J + diag(d): the values of d - 1 ("diag minus one", as the reference stores them) per width.
# Width 12: Horizen Labs' MAT_DIAG12_M_1, the ninth Grain candidate after the round constants that passes
# the paper's minimal-polynomial check (see tests/stark/test_poseidon2.py).
_DIAG_M1: dict[int, tuple[int, ...]] = {
    12: (
        0xC3B6C08E23BA9300,
        0xD84B5DE94A324FB6,
        0x0D0C371C5B35B84F,
        0x7964F570E7188037,
        0x5DAF18BBD996604B,
        0x6743BC47B9595257,
        0x5528B9362C59BB70,
        0xAC45E25B7127B68B,
        0xA2077D7DFBB606B5,
        0xF3FAAC6FAEE378AE,
        0x0C6388B51545E883,
        0xD27DBB6944917B60,
    ),
    # Plonky3's width-8 diagonal, written as field expressions: -2, 1, 2, 1/2, 3, -1/2, -3, -4.
    8: (P - 2, 1, 2, _INV2, 3, P - _INV2, P - 3, P - 4),
}


def grain_bits(width: int, rounds_f: int = ROUNDS_F, rounds_p: int = ROUNDS_P) -> Iterator[int]:
    """The Grain LFSR of the Poseidon paper (appendix F), seeded with the instance description.

    80-bit state: field type (2 bits, 1 = prime field), S-box type (4 bits, 0 = x^alpha), field size n
    (12 bits), width t (12 bits), R_F (10 bits), R_P (10 bits), then thirty 1s. The register is clocked 160
    times and discarded; then output bits are taken in pairs (b1, b2): b2 is output when b1 = 1, else the
    pair is dropped.
    """
    header = f"{1:02b}{0:04b}{FIELD_BITS:012b}{width:012b}{rounds_f:010b}{rounds_p:010b}"
    state = [int(b) for b in header] + [1] * 30

    def clock() -> int:
        bit = state[62] ^ state[51] ^ state[38] ^ state[23] ^ state[13] ^ state[0]
        state.pop(0)
        state.append(bit)
        return bit

    for _ in range(160):
        clock()
    while True:
        first = clock()
        second = clock()
        if first:
            yield second


def grain_field_elements(width: int, count: int, skip: int = 0) -> list[int]:
    """``count`` field elements from the Grain stream after ``skip`` of them: 64-bit big-endian draws,
    rejected and redrawn when >= p (the papers' rule for round constants)."""
    bits = grain_bits(width)

    def draw() -> int:
        value = 0
        for _ in range(FIELD_BITS):
            value = (value << 1) | next(bits)
        return value

    out: list[int] = []
    while len(out) < skip + count:
        value = draw()
        if value < P:
            out.append(value)
    return out[skip:]


@dataclass(frozen=True)
class Params:
    width: int
    external_initial: tuple[tuple[int, ...], ...]  # ROUNDS_F_HALF x width
    internal: tuple[int, ...]  # ROUNDS_P, added to state[0] only
    external_final: tuple[tuple[int, ...], ...]  # ROUNDS_F_HALF x width
    diag_m1: tuple[int, ...]  # internal matrix = J + diag(diag_m1)


@cache
def params(width: int = WIDTH) -> Params:
    """The instance for ``width`` (8 or 12), round constants regenerated from the Grain LFSR."""
    if width not in _DIAG_M1:
        raise ValueError(f"Poseidon2 width {width} is not supported (8 or 12)")
    n_ext = ROUNDS_F_HALF * width
    rc = grain_field_elements(width, 2 * n_ext + ROUNDS_P)
    initial = tuple(tuple(rc[r * width : (r + 1) * width]) for r in range(ROUNDS_F_HALF))
    internal = tuple(rc[n_ext : n_ext + ROUNDS_P])
    tail = rc[n_ext + ROUNDS_P :]
    final = tuple(tuple(tail[r * width : (r + 1) * width]) for r in range(ROUNDS_F_HALF))
    return Params(width, initial, internal, final, _DIAG_M1[width])


def sbox(x: int) -> int:
    return pow(x, ALPHA, P)


def m4(a: int, b: int, c: int, d: int) -> list[int]:
    """The 4x4 matrix [[5,7,1,3],[4,6,1,1],[1,3,5,7],[1,1,4,6]] of the reference instance."""
    return [
        (5 * a + 7 * b + c + 3 * d) % P,
        (4 * a + 6 * b + c + d) % P,
        (a + 3 * b + 5 * c + 7 * d) % P,
        (a + b + 4 * c + 6 * d) % P,
    ]


def external_linear(state: Sequence[int]) -> list[int]:
    """circ(2*M4, M4, ..., M4): M4 on each 4-chunk, then add to each word its column sum across chunks."""
    t = len(state)
    y: list[int] = []
    for i in range(0, t, 4):
        y += m4(state[i], state[i + 1], state[i + 2], state[i + 3])
    sums = [sum(y[j] for j in range(col, t, 4)) % P for col in range(4)]
    return [(y[i] + sums[i % 4]) % P for i in range(t)]


def internal_linear(state: Sequence[int], diag_m1: Sequence[int]) -> list[int]:
    """J + diag(diag_m1): each word times its diagonal entry, plus the sum of all words."""
    total = sum(state) % P
    return [(x * d + total) % P for x, d in zip(state, diag_m1, strict=True)]


def permute(state: Sequence[int]) -> list[int]:
    """The Poseidon2 permutation of a width-8 or width-12 state."""
    prm = params(len(state))
    s = external_linear([x % P for x in state])
    for rc in prm.external_initial:
        s = external_linear([sbox((x + c) % P) for x, c in zip(s, rc, strict=True)])
    for c in prm.internal:
        s[0] = sbox((s[0] + c) % P)
        s = internal_linear(s, prm.diag_m1)
    for rc in prm.external_final:
        s = external_linear([sbox((x + c) % P) for x, c in zip(s, rc, strict=True)])
    return s
