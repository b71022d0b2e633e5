"""Plain-Python reference for polynomial evaluation and interpolation (quadratic time, small sizes)."""

from __future__ import annotations

from bastion.stark.field.scalar import P, inv


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


def ntt_nlogn(coeffs: list[int]) -> list[int]:
    """The same as :func:`ntt` in O(n log n) (textbook recursive radix-2, plain Python): an independent oracle
    for the sizes where the batched kernels' cache blocks and tiles come into play (2^13 and up)."""
    n = len(coeffs)
    if n == 1:
        return [coeffs[0] % P]
    w = root_of_unity(n.bit_length() - 1)
    even = ntt_nlogn(coeffs[0::2])
    odd = ntt_nlogn(coeffs[1::2])
    out = [0] * n
    x = 1
    for i in range(n // 2):
        t = x * odd[i] % P
        out[i] = (even[i] + t) % P
        out[i + n // 2] = (even[i] - t) % P
        x = x * w % P
    return out
