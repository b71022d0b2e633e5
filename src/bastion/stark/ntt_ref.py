"""Plain-Python reference for polynomial evaluation and interpolation (quadratic time, small sizes)."""

from __future__ import annotations

from bastion.stark.field_ref import P, inv


def evaluate(coeffs: list[int], x: int) -> int:
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % P
    return acc


def root_of_unity(log_n: int) -> int:
    return pow(pow(7, (P - 1) >> 32, P), 1 << (32 - log_n), P)


def ntt(coeffs: list[int]) -> list[int]:
    n = len(coeffs)
    w = root_of_unity(n.bit_length() - 1)
    return [evaluate(coeffs, pow(w, i, P)) for i in range(n)]


def intt(evals: list[int]) -> list[int]:
    n = len(evals)
    w_inv = inv(root_of_unity(n.bit_length() - 1))
    n_inv = inv(n)
    return [
        (n_inv * sum(e * pow(w_inv, i * j, P) for j, e in enumerate(evals))) % P for i in range(n)
    ]


def coset_evaluate(coeffs: list[int], size: int, shift: int) -> list[int]:
    w = root_of_unity(size.bit_length() - 1)
    return [evaluate(coeffs, shift * pow(w, i, P) % P) for i in range(size)]
