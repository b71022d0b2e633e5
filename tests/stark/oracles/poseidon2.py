"""Plain-Python oracle of the Poseidon2 sponge and 2-to-1 compression (the numba kernels in
``bastion.stark.hash.poseidon2``), over the production one-state permutation (``poseidon2_scalar``)."""

from __future__ import annotations

from collections.abc import Sequence

from bastion.stark.hash.poseidon2_scalar import DIGEST, RATE, SPONGE_DOMAIN_TAG, WIDTH, P, permute


def sponge_initial_state(length: int) -> list[int]:
    """The sponge's initial state: rate zero, capacity [length, SPONGE_DOMAIN_TAG, 0, 0]."""
    if not 0 <= length < P:
        raise ValueError(f"message length {length} out of range")
    state = [0] * WIDTH
    state[RATE] = length
    state[RATE + 1] = SPONGE_DOMAIN_TAG
    return state


def hash_elements(values: Sequence[int]) -> list[int]:
    """Sponge hash of a sequence of field elements to a 4-element digest.

    Width 12, rate 8, capacity 4. The capacity starts as [len(values), 1, 0, 0]: the length separates
    messages of different lengths (so zero padding is unambiguous) and the tag 1 separates the sponge
    from ``compress`` (capacity zero). The message is zero-padded to a multiple of 8 (at least one block);
    each block is added into the rate and the state permuted. The digest is the first 4 words.
    """
    state = sponge_initial_state(len(values))
    blocks = max(1, -(-len(values) // RATE))
    padded = [v % P for v in values] + [0] * (blocks * RATE - len(values))
    for b in range(blocks):
        for i in range(RATE):
            state[i] = (state[i] + padded[b * RATE + i]) % P
        state = permute(state)
    return state[:DIGEST]


def compress(left: Sequence[int], right: Sequence[int]) -> list[int]:
    """2-to-1 compression for Merkle trees: the first 4 words of permute(left || right || 0^4)."""
    if len(left) != DIGEST or len(right) != DIGEST:
        raise ValueError("compress takes two 4-element digests")
    return permute([*left, *right, 0, 0, 0, 0])[:DIGEST]
