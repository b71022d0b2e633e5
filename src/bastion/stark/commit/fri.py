"""FRI: proving that a committed codeword is close to a polynomial of low degree.

Folding by two per round. A codeword ``f`` on the coset ``s * <omega_N>`` (natural order, so x at
position j and -x at position j + N/2) folds with challenge beta into

    g(x^2) = (f(x) + f(-x)) / 2 + beta * (f(x) - f(-x)) / (2x)

on the coset ``s^2 * <omega_{N/2}>``, position j. Layer 0 (the DEEP composition) is never committed:
the verifier computes its values at the query positions from the trace openings. Layers 1..R-1 are
committed as Merkle trees whose leaf j holds the pair (f(x_j), f(-x_j)); after R folds the remaining
polynomial (degree < 2^log_final_degree) is sent as coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark.commit.merkle import MerkleOpening, MerkleTree, verify_opening
from bastion.stark.commit.transcript import Transcript
from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R
from bastion.stark.field.goldilocks import add, ext_mul, mul, sub
from bastion.stark.poly.ntt import coset_interpolate, ext_columns_to_base

U64 = NDArray[np.uint64]
Ext = tuple[int, int]
INV2 = R.inv(2)


class FriError(Exception):
    """A FRI check failed; the message says which."""


@nb.njit(cache=True, nogil=True, parallel=True)
def _fold(cw: U64, beta0: np.uint64, beta1: np.uint64, inv_x: U64, out: U64) -> None:
    half = out.shape[0]
    inv2 = np.uint64(INV2)
    for j in nb.prange(half):
        a0 = cw[j, 0]
        a1 = cw[j, 1]
        b0 = cw[j + half, 0]
        b1 = cw[j + half, 1]
        s0 = mul(add(a0, b0), inv2)
        s1 = mul(add(a1, b1), inv2)
        w = mul(inv_x[j], inv2)
        d0 = mul(sub(a0, b0), w)
        d1 = mul(sub(a1, b1), w)
        t0, t1 = ext_mul(d0, d1, beta0, beta1)
        out[j, 0] = add(s0, t0)
        out[j, 1] = add(s1, t1)


def fold(cw: U64, beta: Ext, shift: int) -> U64:
    """Fold an extension codeword (N, 2) on shift*<omega_N> into (N/2, 2) on shift^2*<omega_{N/2}>."""
    n = cw.shape[0]
    half = n // 2
    w_inv = R.inv(F.root_of_unity(n.bit_length() - 1))
    inv_x = F.mul_vec(F.powers(w_inv, half), np.uint64(R.inv(shift)))
    out = np.empty((half, 2), dtype=np.uint64)
    _fold(np.ascontiguousarray(cw), np.uint64(beta[0]), np.uint64(beta[1]), inv_x, out)
    return out


def fold_pair(a: Ext, b: Ext, beta: Ext, x: int) -> Ext:
    """The fold of f(x)=a, f(-x)=b: the verifier's scalar form (and the kernel's reference)."""
    even = R.ext_scale(R.ext_add(a, b), INV2)
    odd = R.ext_scale(R.ext_sub(a, b), INV2 * R.inv(x) % R.P)
    return R.ext_add(even, R.ext_mul(beta, odd))


def _pair_columns(cw: U64) -> U64:
    half = cw.shape[0] // 2
    pairs = np.concatenate([cw[:half], cw[half:]], axis=1)  # (half, 4): f(x) c0 c1, f(-x) c0 c1
    return np.ascontiguousarray(pairs.T)


def num_folds(log_degree: int, log_final_degree: int) -> int:
    return max(0, log_degree - log_final_degree)


@dataclass
class FriCommitment:
    """Prover state after the commit phase."""

    layers: list[U64]  # codewords of layers 1..R-1 (committed)
    trees: list[MerkleTree]
    final_coeffs: U64  # (d, 2)
    log_domain: int  # log2 N of layer 0


def commit_phase(
    codeword: U64,
    shift: int,
    log_degree: int,
    log_final_degree: int,
    transcript: Transcript,
    salt_bytes: int,
    strict: bool = True,
) -> FriCommitment:
    n = codeword.shape[0]
    log_n = n.bit_length() - 1
    rounds = num_folds(log_degree, log_final_degree)
    layers: list[U64] = []
    trees: list[MerkleTree] = []
    cur, cur_shift = codeword, shift % R.P
    for i in range(rounds):
        beta = transcript.challenge_ext(b"fri-beta")
        cur = fold(cur, beta, cur_shift)
        cur_shift = cur_shift * cur_shift % R.P
        if i < rounds - 1:
            tree = MerkleTree.commit(_pair_columns(cur), salt_bytes=salt_bytes)
            transcript.absorb(b"fri-layer-root", tree.root)
            layers.append(cur)
            trees.append(tree)
    final_degree = 1 << (log_degree - rounds)
    coeffs = coset_interpolate(ext_columns_to_base(cur[None, :, :]), cur_shift)
    if strict and np.any(coeffs[:, final_degree:]):
        raise FriError("the codeword is not of the claimed degree (prover bug or bad AIR degree)")
    final = np.ascontiguousarray(coeffs[:, :final_degree].T)  # (d, 2)
    transcript.absorb(b"fri-final", final.astype("<u8").tobytes())
    return FriCommitment(layers, trees, final, log_n)


def query_openings(commit: FriCommitment, queries: list[int]) -> list[MerkleOpening]:
    """Openings of every committed layer for query positions in [0, N/2) of layer 0."""
    openings = []
    n = 1 << commit.log_domain
    for i, tree in enumerate(commit.trees):
        half = n >> (i + 2)  # layer i+1 has N/2^(i+1) points, so N/2^(i+2) pairs
        idx = sorted({q % half for q in queries})
        openings.append(tree.open(idx))
    return openings


def eval_poly(coeffs: list[Ext], x: int) -> Ext:
    acc: Ext = (0, 0)
    for c in reversed(coeffs):
        acc = R.ext_add(R.ext_scale(acc, x), c)
    return acc


def verify_queries(
    *,
    log_domain: int,
    shift: int,
    betas: list[Ext],
    layer_roots: list[bytes],
    layer_openings: list[MerkleOpening],
    final_coeffs: list[Ext],
    queries: list[int],
    layer0_pairs: dict[int, tuple[Ext, Ext]],
    salt_bytes: int,
) -> None:
    """Check every query through all layers. ``layer0_pairs[q]`` = (D(x_q), D(-x_q)). Raises FriError."""
    rounds = len(betas)
    if len(layer_roots) != max(0, rounds - 1) or len(layer_openings) != len(layer_roots):
        raise FriError("wrong number of FRI layers")
    n = 1 << log_domain
    # index the opened pairs of each committed layer by leaf index
    opened: list[dict[int, tuple[Ext, Ext]]] = []
    for i, (root, op) in enumerate(zip(layer_roots, layer_openings, strict=True)):
        half = n >> (i + 2)
        idx = sorted({q % half for q in queries})
        if not verify_opening(root, half, 4, salt_bytes, idx, op):
            raise FriError(f"FRI layer {i + 1} opening does not match its root")
        vals = op.values
        opened.append(
            {
                j: ((int(vals[r, 0]), int(vals[r, 1])), (int(vals[r, 2]), int(vals[r, 3])))
                for r, j in enumerate(idx)
            }
        )
    for q in queries:
        a, b = layer0_pairs[q]
        cur_shift = shift % R.P
        size = n
        j = q
        if rounds == 0:
            w = pow(F.root_of_unity(log_domain), j, R.P)
            x = cur_shift * w % R.P
            if eval_poly(final_coeffs, x) != a or eval_poly(final_coeffs, (R.P - x) % R.P) != b:
                raise FriError(f"query {q}: codeword differs from the final polynomial")
            continue
        for i in range(rounds):
            half = size // 2
            j %= half
            x = cur_shift * pow(F.root_of_unity(size.bit_length() - 1), j, R.P) % R.P
            folded = fold_pair(a, b, betas[i], x)
            size, cur_shift = half, cur_shift * cur_shift % R.P
            if i + 1 < rounds:
                next_half = size // 2
                side, j2 = divmod(j, next_half)
                pair = opened[i][j2]
                if pair[side] != folded:
                    raise FriError(f"query {q}: FRI layer {i + 1} is not the fold of layer {i}")
                a, b = pair
            else:
                y = cur_shift * pow(F.root_of_unity(size.bit_length() - 1), j, R.P) % R.P
                if eval_poly(final_coeffs, y) != folded:
                    raise FriError(f"query {q}: last fold differs from the final polynomial")
