"""Hashes: Poseidon2 (the algebraic hash: numba kernels, its constants and one-state permutation) and BLAKE3
kernels for the Merkle commitments."""
