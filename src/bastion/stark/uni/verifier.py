"""The STARK verifier.

It trusts only the AIR object it is given (which carries the public inputs) and the parameters; the
proof is untrusted bytes. It replays the prover's transcript, checks the composition identity at the
out-of-domain point, recomputes the DEEP composition at every query from the Merkle-opened rows, and
runs the FRI checks. Any malformed input ends in :class:`VerificationError` with a reason, never in
another exception.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bastion.stark.air.air import Air, Frame, Lookup, circuit_digest
from bastion.stark.commit import fri
from bastion.stark.commit.merkle import verify_opening
from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R
from bastion.stark.field.vals import Val
from bastion.stark.poly.polynomials import barycentric_eval, eval_columns_barycentric_many, ext_product_of_differences
from bastion.stark.uni.params import DEFAULT_PARAMS, StarkParams
from bastion.stark.uni.proof import Proof, ProofFormatError, parse_fixed, parse_openings, read_digests, read_header
from bastion.stark.uni.protocol import (
    COSET_SHIFT,
    check_air,
    chunk_size,
    deep_coefficients,
    num_chunks,
    proof_shape,
    query_rows,
    start_transcript,
)
from bastion.stark.uni.security import MIN_SECURITY_BITS, report_for

Ext = tuple[int, int]


class VerificationError(Exception):
    """The proof does not verify; the message says why."""


def verify(air: Air, proof_bytes: bytes, params: StarkParams = DEFAULT_PARAMS) -> None:
    """Raise VerificationError unless ``proof_bytes`` proves ``air`` (with its public inputs)."""
    try:
        _verify(air, proof_bytes, params)
    except VerificationError:
        raise
    except ProofFormatError as exc:
        raise VerificationError(f"malformed proof: {exc}") from None
    except fri.FriError as exc:
        raise VerificationError(f"FRI check failed: {exc}") from None
    except Exception as exc:  # hostile bytes must never crash the caller
        raise VerificationError(f"malformed proof ({type(exc).__name__}: {exc})") from None


def is_valid(air: Air, proof_bytes: bytes, params: StarkParams = DEFAULT_PARAMS) -> bool:
    try:
        verify(air, proof_bytes, params)
    except VerificationError:
        return False
    return True


def _ood_frame(air: Air, proof_main_z: list[Ext], proof_main_gz: list[Ext], aux_z: list[Ext],
               aux_gz: list[Ext], z: Ext, gz: Ext, n: int, challenges: list[Ext]) -> Frame:
    def v(e: Ext) -> Val:
        return Val.ext_scalar(*e)

    periodic = []
    for col in air.periodic_columns():
        L = len(col)
        periodic.append(v(barycentric_eval(np.asarray(col, dtype=np.uint64) % F.P, R.ext_pow(z, n // L))))
    public, public_nxt = [], []
    cols = air.public_columns()
    if cols:
        # O(n) per column, but one batch inversion per point shared by all public columns
        full = np.zeros((len(cols), n), dtype=np.uint64)
        for i, col in enumerate(cols):
            full[i, : air.n_used] = np.asarray(col, dtype=np.uint64) % F.P
        at_z, at_gz = eval_columns_barycentric_many(full, [z, gz])
        public = [v((int(e[0]), int(e[1]))) for e in at_z]
        public_nxt = [v((int(e[0]), int(e[1]))) for e in at_gz]
    return Frame(
        cur=[v(e) for e in proof_main_z],
        nxt=[v(e) for e in proof_main_gz],
        aux_cur=[v(e) for e in aux_z],
        aux_nxt=[v(e) for e in aux_gz],
        periodic=periodic,
        public=public,
        public_nxt=public_nxt,
        challenges=[v(c) for c in challenges],
    )


@dataclass
class Replay:
    """A parsed proof with every challenge the transcript gives for it."""

    proof: Proof
    challenges: list[Ext]
    alpha: Ext
    z: Ext
    gz: Ext
    deep_coeffs: list[Ext]
    betas: list[Ext]
    queries: list[int]
    rows: list[int]


_SECURITY_CACHE: dict[tuple[str, int, tuple[Lookup, ...], StarkParams], float] = {}


def check_security(air: Air, params: StarkParams) -> float:
    """The conjectured union security of proofs of ``air`` under ``params`` (stark/uni/security.py); raises
    VerificationError below MIN_SECURITY_BITS unless ``params.allow_insecure``. Applied to every proof,
    default parameters included."""
    key = (air.shape_descriptor(), air.n_used, tuple(air.lookups()), params)
    if key not in _SECURITY_CACHE:
        _SECURITY_CACHE[key] = report_for(air, params).conjectured_bits
    bits = _SECURITY_CACHE[key]
    if bits < MIN_SECURITY_BITS and not params.allow_insecure:
        raise VerificationError(
            f"the STARK parameters give {bits:.1f} bits of soundness (union of every term, conjectured) for "
            f"this proof's shape, below {MIN_SECURITY_BITS}: refused (tests only: --allow-insecure-params)"
        )
    return bits


def decode(air: Air, proof_bytes: bytes, params: StarkParams = DEFAULT_PARAMS) -> Replay:
    """Parse a proof for ``air`` and replay its transcript (no soundness checks beyond the format,
    the header and the proof of work)."""
    params.validate()
    check_air(air, params)
    check_security(air, params)
    shape = proof_shape(air, params)
    params_digest, circuit = read_digests(proof_bytes)
    if circuit != circuit_digest(air):
        raise VerificationError(
            f"proof is for circuit {circuit.hex()[:16]}..., not {air.name} "
            f"({circuit_digest(air).hex()[:16]}...): unknown circuit digest"
        )
    if params_digest != params.digest():
        raise VerificationError("proof was made with different STARK parameters")
    _, _, log_n, n_used, pubs = read_header(proof_bytes, shape.num_public_inputs)
    expected_pubs = [x % R.P for x in air.public_inputs()]
    if pubs != expected_pubs:
        raise VerificationError("proof is for different public inputs")
    if (log_n, n_used) != (shape.log_n, shape.n_used):
        raise VerificationError("proof is for a different trace length")

    n = 1 << log_n
    lde_size = n * params.blowup
    t = start_transcript(air, params)
    # The openings' row sets depend on the queries, which depend on everything before them: parse the
    # fixed-size part, replay the transcript, then parse the openings.
    proof, openings_start = parse_fixed(proof_bytes, shape)
    t.absorb(b"main-root", proof.main_root)
    challenges = [t.challenge_ext(b"aux-challenge") for _ in range(air.num_challenges)]
    if air.aux_width:
        assert proof.aux_root is not None
        t.absorb(b"aux-root", proof.aux_root)
    alpha = t.challenge_ext(b"alpha")
    t.absorb(b"quotient-root", proof.quotient_root)
    z = t.challenge_ext(b"ood-point")
    if R.ext_pow(z, n) == (1, 0) or R.ext_pow(z, lde_size) == (pow(COSET_SHIFT, lde_size, R.P), 0):
        raise VerificationError("out-of-domain point fell in a domain: no valid proof exists for this transcript")
    gz = R.ext_scale(z, F.root_of_unity(log_n))
    for label, group in ((b"main-z", proof.main_z), (b"main-gz", proof.main_gz), (b"aux-z", proof.aux_z),
                         (b"aux-gz", proof.aux_gz), (b"quotient-z", proof.quotient_z)):
        t.absorb_ints(label, [x for e in group for x in e])
    deep_coeffs = deep_coefficients(t, 2 * (air.main_width + air.aux_width) + num_chunks(air, params) + 1)
    rounds = fri.num_folds(log_n, params.log_final_degree)
    betas: list[Ext] = []
    for i in range(rounds):
        betas.append(t.challenge_ext(b"fri-beta"))
        if i < rounds - 1:
            t.absorb(b"fri-layer-root", proof.fri_roots[i])
    final = np.array(proof.final_coeffs, dtype=np.uint64).reshape(-1, 2)
    t.absorb(b"fri-final", final.astype("<u8").tobytes())
    if not t.check_pow(params.grinding_bits, proof.pow_nonce):
        raise VerificationError("proof-of-work nonce is wrong")
    queries = t.challenge_indices(b"fri-queries", params.num_queries, lde_size // 2)
    rows = query_rows(queries, lde_size)
    opening_rows = {"main": rows, "aux": rows, "quotient": rows}
    for i in range(shape.num_fri_layers):
        half = lde_size >> (i + 2)
        opening_rows[f"fri{i}"] = sorted({qq % half for qq in queries})
    parse_openings(proof_bytes, openings_start, proof, shape, opening_rows)
    return Replay(proof, challenges, alpha, z, gz, deep_coeffs, betas, queries, rows)


def _verify(air: Air, proof_bytes: bytes, params: StarkParams) -> None:
    rep = decode(air, proof_bytes, params)
    proof, challenges, alpha, z, gz, coeffs = rep.proof, rep.challenges, rep.alpha, rep.z, rep.gz, rep.deep_coeffs
    betas, queries, rows = rep.betas, rep.queries, rep.rows
    n = 1 << proof.log_n
    lde_size = n * params.blowup
    q = num_chunks(air, params)
    g = F.root_of_unity(proof.log_n)

    # -- the composition identity at z -----------------------------------------------------------
    frame = _ood_frame(air, proof.main_z, proof.main_gz, proof.aux_z, proof.aux_gz, z, gz, n, challenges)
    groups = air.constraints(frame).groups()
    zh = R.ext_sub(R.ext_pow(z, n), (1, 0))
    excluded = ext_product_of_differences(z, F.powers(g, n)[air.n_used :])
    g_last = pow(g, air.n_used - 1, R.P)
    z_minus_last = R.ext_sub(z, (g_last, 0))
    inv_zh = R.ext_inv(zh)
    inv_every = R.ext_mul(excluded, inv_zh)
    inv_div = [
        R.ext_mul(inv_every, z_minus_last),
        inv_every,
        R.ext_inv(R.ext_sub(z, (1, 0))),
        R.ext_inv(z_minus_last),
    ]
    lhs: Ext = (0, 0)
    alpha_pow: Ext = (1, 0)
    for group, inv in zip(groups, inv_div, strict=True):
        group_sum: Ext = (0, 0)
        for constraint in group:
            e = constraint.as_ext()[0]
            group_sum = R.ext_add(group_sum, R.ext_mul(alpha_pow, (int(e[0]), int(e[1]))))
            alpha_pow = R.ext_mul(alpha_pow, alpha)
        lhs = R.ext_add(lhs, R.ext_mul(group_sum, inv))
    rhs: Ext = (0, 0)
    zn = R.ext_pow(z, chunk_size(air, params))  # H = sum_j x^(j*size) H_j (randomized chunks)
    zjn: Ext = (1, 0)
    for hz in proof.quotient_z:
        rhs = R.ext_add(rhs, R.ext_mul(zjn, hz))
        zjn = R.ext_mul(zjn, zn)
    if lhs != rhs:
        raise VerificationError("constraints do not hold: composition polynomial mismatch at the OOD point")

    # -- Merkle openings of the trace commitments ------------------------------------------------------
    salt = params.salt_bytes
    assert proof.main_opening is not None and proof.quotient_opening is not None
    if not verify_opening(proof.main_root, lde_size, air.main_width, salt, rows, proof.main_opening):
        raise VerificationError("main trace opening does not match its commitment")
    if air.aux_width:
        assert proof.aux_opening is not None and proof.aux_root is not None
        if not verify_opening(proof.aux_root, lde_size, 2 * air.aux_width, salt, rows, proof.aux_opening):
            raise VerificationError("auxiliary trace opening does not match its commitment")
    if not verify_opening(proof.quotient_root, lde_size, 2 * q + 2, salt, rows, proof.quotient_opening):
        raise VerificationError("quotient opening does not match its commitment")

    # -- DEEP composition at the opened rows -----------------------------------------------------------
    n_main, n_aux = air.main_width, air.aux_width
    c_z = [coeffs[2 * k] for k in range(n_main + n_aux)]
    c_gz = [coeffs[2 * k + 1] for k in range(n_main + n_aux)]
    c_q = coeffs[2 * (n_main + n_aux) : 2 * (n_main + n_aux) + q]
    c_mask = coeffs[-1]
    value_z: Ext = (0, 0)
    for c, v in zip(c_z + c_q, proof.main_z + proof.aux_z + proof.quotient_z, strict=True):
        value_z = R.ext_add(value_z, R.ext_mul(c, v))
    value_gz: Ext = (0, 0)
    for c, v in zip(c_gz, proof.main_gz + proof.aux_gz, strict=True):
        value_gz = R.ext_add(value_gz, R.ext_mul(c, v))
    w_lde = F.root_of_unity(lde_size.bit_length() - 1)
    main_vals = proof.main_opening.values
    aux_vals = proof.aux_opening.values if proof.aux_opening is not None else None
    quot_vals = proof.quotient_opening.values
    deep_at: dict[int, Ext] = {}
    for r, row in enumerate(rows):
        x = COSET_SHIFT * pow(w_lde, row, R.P) % R.P
        acc_z: Ext = (0, 0)
        acc_gz: Ext = (0, 0)
        for k in range(n_main):
            acc_z = R.ext_add(acc_z, R.ext_scale(c_z[k], int(main_vals[r, k])))
            acc_gz = R.ext_add(acc_gz, R.ext_scale(c_gz[k], int(main_vals[r, k])))
        if aux_vals is not None:
            for k in range(n_aux):
                a, b = int(aux_vals[r, 2 * k]), int(aux_vals[r, 2 * k + 1])
                val = (a, b)  # A + X*B with A, B base values at x: the extension value (a, b)
                acc_z = R.ext_add(acc_z, R.ext_mul(c_z[n_main + k], val))
                acc_gz = R.ext_add(acc_gz, R.ext_mul(c_gz[n_main + k], val))
        for j in range(q):
            val = (int(quot_vals[r, 2 * j]), int(quot_vals[r, 2 * j + 1]))
            acc_z = R.ext_add(acc_z, R.ext_mul(c_q[j], val))
        mask = (int(quot_vals[r, 2 * q]), int(quot_vals[r, 2 * q + 1]))
        d = R.ext_add(
            R.ext_div(R.ext_sub(acc_z, value_z), R.ext_sub((x, 0), z)),
            R.ext_div(R.ext_sub(acc_gz, value_gz), R.ext_sub((x, 0), gz)),
        )
        deep_at[row] = R.ext_add(d, R.ext_mul(c_mask, mask))
    half = lde_size // 2
    layer0 = {qq: (deep_at[qq], deep_at[qq + half]) for qq in queries}

    # -- FRI ------------------------------------------------------------------------------------------
    fri.verify_queries(
        log_domain=lde_size.bit_length() - 1,
        shift=COSET_SHIFT,
        betas=betas,
        layer_roots=proof.fri_roots,
        layer_openings=proof.fri_openings,
        final_coeffs=proof.final_coeffs,
        queries=queries,
        layer0_pairs=layer0,
        salt_bytes=salt,
    )
