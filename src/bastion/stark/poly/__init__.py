"""Polynomials over Goldilocks: the NTT and low-degree extension, evaluation and combination kernels, and
the recycled large arrays the prover's transforms write into."""
