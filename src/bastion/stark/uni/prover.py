"""The STARK prover.

Rounds, each absorbed into the Fiat-Shamir transcript before the next challenge is drawn:

1. main trace: pad the ``n_used`` rows with random blinding rows to a power of two ``n``, interpolate,
   evaluate on the coset of size ``N = blowup * n``, commit (salted Merkle tree over rows);
2. auxiliary trace (if any) after ``num_challenges`` challenges, blinded and committed the same way;
3. composition: with challenge alpha, H = sum_groups (sum_i alpha^i c_i) / Z_group, split into
   ``max_degree`` chunks of degree < n, committed together with a random mask polynomial M;
4. out-of-domain point z: every trace column at z and g*z, every chunk at z;
5. DEEP composition with challenge gamma:
   D(x) = sum_k gamma^k (T_k(x) - T_k(z)) / (x - z) + gamma^k' (T_k(x) - T_k(gz)) / (x - gz)
          + sum_j gamma^j (H_j(x) - H_j(z)) / (x - z) + gamma^m M(x),   deg D < n;
6. FRI on D, proof-of-work grinding, query positions, openings.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from bastion.stark.air import symbolic
from bastion.stark.air.air import Air, Frame, circuit_digest
from bastion.stark.commit import fri
from bastion.stark.commit.merkle import MerkleTree
from bastion.stark.field import goldilocks as F
from bastion.stark.field import scalar as R
from bastion.stark.field.vals import Val
from bastion.stark.poly import buffers
from bastion.stark.poly.ntt import (
    bitrev_columns,
    coset_evaluate,
    coset_evaluate_bitrev,
    coset_interpolate,
    ext_columns_to_base,
    intt_bitrev,
    lde,
)
from bastion.stark.poly.polynomials import (
    accumulate_scaled,
    combine_base_columns,
    deep_quotients,
    domain_points,
    eval_columns_at,
    eval_columns_barycentric_many,
    ext_from_base_pair,
    vanishing_on_coset,
)
from bastion.stark.uni.params import DEFAULT_PARAMS, StarkParams
from bastion.stark.uni.proof import Proof
from bastion.stark.uni.protocol import (
    COSET_SHIFT,
    check_air,
    chunk_size,
    deep_coefficients,
    mul_by_x,
    num_chunks,
    query_rows,
    start_transcript,
    trace_log_length,
)

U64 = NDArray[np.uint64]
Ext = tuple[int, int]
Progress = Callable[[str], None]

_EVAL_CHUNK = 1 << 14


class ProvingError(Exception):
    """The witness does not satisfy the AIR (or the AIR misstates its degree)."""


class _Randomness:
    """Field elements for blinding rows and the FRI mask. From the OS's CSPRNG (16 bytes an element,
    reduced mod p: within 2^-64 of uniform); with a test seed, from a seeded PCG64 instead (never
    unpredictable: tests only)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def field(self, shape: tuple[int, ...]) -> U64:
        count = int(np.prod(shape))
        if self._rng is not None:
            return self._rng.integers(0, F.P_INT, size=shape, dtype=np.uint64)
        raw = np.frombuffer(secrets.token_bytes(16 * count), dtype="<u8").reshape(count, 2)
        # (hi * 2^64 + lo) mod p = (hi * (2^32 - 1) + lo) mod p, computed in the field
        hi = F.mul_vec(raw[:, 1] % F.P, F.EPSILON)
        out: U64 = F.add_vec(hi, raw[:, 0] % F.P).reshape(shape)
        return out


def _blind(values: U64, n: int, rng: _Randomness) -> U64:
    """(k, n_used) -> (k, n) with random rows appended: the zero-knowledge randomizer."""
    k, n_used = values.shape
    out = buffers.empty((k, n))
    out[:, :n_used] = values
    out[:, n_used:] = rng.field((k, n - n_used))
    return out


def _as_ext_values(vals: U64, ext_pairs: bool) -> list[Ext]:
    as_list = [(int(a), int(b)) for a, b in vals]
    if not ext_pairs:
        return as_list
    return [ext_from_base_pair(as_list[2 * i], as_list[2 * i + 1]) for i in range(len(as_list) // 2)]


def _ext_point_values(coeffs: U64, z: Ext, ext_pairs: bool) -> list[Ext]:
    return _as_ext_values(eval_columns_at(coeffs, z), ext_pairs)


def _point_values_from_evals(evals: U64, points: list[Ext], ext_pairs: bool) -> list[list[Ext]]:
    return [_as_ext_values(v, ext_pairs) for v in eval_columns_barycentric_many(evals, points)]


def _periodic_lde(air: Air, n: int, lde_size: int) -> list[U64]:
    """A periodic column of length L is p(x^(n/L)) for the interpolant p of its L values, so on the
    coset its values repeat every blowup*L points: extend the L values on the coset
    shift^(n/L) * <omega_(blowup*L)> and tile, instead of extending a full-length column."""
    cols = air.periodic_columns()
    blowup = lde_size // n
    out: list[U64] = []
    for col in cols:
        L = len(col)
        small = lde(np.asarray(col, dtype=np.uint64)[None, :] % F.P, blowup, pow(COSET_SHIFT, n // L, R.P))
        out.append(small[0])  # one period: value at LDE point j is small[j mod len]
    return out


def _tile(periodic: list[U64], lde_size: int) -> list[U64]:
    return [np.tile(p, lde_size // len(p)) for p in periodic]


def _public_lde(air: Air, n: int, lde_size: int) -> list[U64]:
    cols = air.public_columns()
    if not cols:
        return []
    full = np.zeros((len(cols), n), dtype=np.uint64)
    for i, col in enumerate(cols):
        full[i, : air.n_used] = np.asarray(col, dtype=np.uint64) % F.P
    return list(lde(full, lde_size // n, COSET_SHIFT))


def _divisor_inverses(air: Air, n: int, lde_size: int) -> list[U64]:
    """1/Z for the four constraint groups over the LDE coset, in Constraints.groups() order."""
    xs = domain_points(lde_size, COSET_SHIFT)
    g = F.root_of_unity(n.bit_length() - 1)
    blowup = lde_size // n
    # x^n on the coset takes only `blowup` values: shift^n * omega_blowup^j
    zh_small = F.sub_vec(domain_points(blowup, pow(COSET_SHIFT, n, R.P)), np.uint64(1))
    inv_zh = np.tile(F.batch_inv(zh_small), n)
    g_last = pow(g, air.n_used - 1, R.P)
    blinded_rows = [int(v) for v in F.powers(g, n)[air.n_used :]]
    e = vanishing_on_coset(blinded_rows, lde_size, COSET_SHIFT)
    inv_every = F.mul_vec(e, inv_zh)
    x_minus_last = F.sub_vec(xs, np.uint64(g_last))
    inv_transition = F.mul_vec(inv_every, x_minus_last)
    inv_first = F.batch_inv(F.sub_vec(xs, np.uint64(1)))
    inv_last = F.batch_inv(x_minus_last)
    return [inv_transition, inv_every, inv_first, inv_last]


def _composition(
    air: Air,
    main_lde: U64,
    aux_lde_base: U64 | None,
    periodic: list[U64],
    public: list[U64],
    challenges: list[Ext],
    alpha: Ext,
    n: int,
) -> U64:
    """Composition values over the LDE domain, through the compiled constraint program."""
    lde_size = main_lde.shape[1]
    prog = symbolic.compile_constraints(air, challenges, alpha)
    inv_div = np.stack(_divisor_inverses(air, n, lde_size))
    return symbolic.evaluate(
        prog, main_lde, aux_lde_base, periodic, np.stack(public) if public else None, inv_div, lde_size // n
    )


def _composition_vals(
    air: Air,
    main_lde: U64,
    aux_lde_ext: U64 | None,
    periodic: list[U64],
    public: list[U64],
    challenges: list[Ext],
    alpha: Ext,
    n: int,
) -> U64:
    lde_size = main_lde.shape[1]
    blowup = lde_size // n
    periodic = _tile(periodic, lde_size)
    inv_div = _divisor_inverses(air, n, lde_size)
    out = np.zeros((lde_size, 2), dtype=np.uint64)
    ch_vals = [Val.ext_scalar(*c) for c in challenges]
    alpha_pows: list[Ext] = []
    for lo in range(0, lde_size, _EVAL_CHUNK):
        hi = min(lde_size, lo + _EVAL_CHUNK)
        nxt_idx = (np.arange(lo, hi) + blowup) % lde_size
        frame = Frame(
            cur=[Val(main_lde[c, lo:hi]) for c in range(main_lde.shape[0])],
            nxt=[Val(main_lde[c, nxt_idx]) for c in range(main_lde.shape[0])],
            periodic=[Val(p[lo:hi]) for p in periodic],
            public=[Val(p[lo:hi]) for p in public],
            public_nxt=[Val(p[nxt_idx]) for p in public],
            challenges=ch_vals,
        )
        if aux_lde_ext is not None:
            frame.aux_cur = [Val(aux_lde_ext[c, lo:hi]) for c in range(aux_lde_ext.shape[0])]
            frame.aux_nxt = [Val(aux_lde_ext[c, nxt_idx]) for c in range(aux_lde_ext.shape[0])]
        groups = air.constraints(frame).groups()
        total = sum(len(gr) for gr in groups)
        while len(alpha_pows) < total:
            alpha_pows.append(R.ext_mul(alpha_pows[-1], alpha) if alpha_pows else (1, 0))
        k = 0
        acc = np.zeros((2, hi - lo), dtype=np.uint64)
        for gr, inv in zip(groups, inv_div, strict=True):
            if not gr:
                continue
            group_sum = np.zeros((2, hi - lo), dtype=np.uint64)
            for c in gr:
                accumulate_scaled(group_sum, c.data, alpha_pows[k])
                k += 1
            acc = F.add_vec(acc, F.mul_vec(group_sum, inv[None, lo:hi]))
        out[lo:hi] = acc.T
    return out


def prove(
    air: Air,
    main: U64,
    params: StarkParams = DEFAULT_PARAMS,
    *,
    seed: int | None = None,
    progress: Progress | None = None,
    check: bool = True,
) -> bytes:
    """Prove that ``main`` (shape (main_width, n_used)) satisfies ``air``. Returns the proof bytes.

    ``seed`` fixes the zero-knowledge randomness (tests only); by default it comes from the OS.
    ``check=False`` lets a *cheating* prover go on with a witness that breaks the constraints, so the
    soundness tests can show the verifier rejecting what it produces.
    """
    step = progress or (lambda _msg: None)
    params.validate()
    check_air(air, params)
    main = np.ascontiguousarray(main, dtype=np.uint64)
    if main.shape != (air.main_width, air.n_used):
        raise ValueError(f"main trace has shape {main.shape}, expected {(air.main_width, air.n_used)}")
    if np.any(main >= F.P):
        raise ValueError("main trace holds values >= p")
    rng = _Randomness(seed)
    log_n = trace_log_length(air.n_used, params)
    n = 1 << log_n
    lde_size = n * params.blowup
    shift = COSET_SHIFT
    t = start_transcript(air, params)
    salt = params.salt_bytes

    step("main trace")
    main_evals = _blind(main, n, rng)
    main_lde = lde(main_evals, params.blowup, shift)  # 1/n of the inverse rides on the coset powers
    main_tree = MerkleTree.commit(main_lde, salt_bytes=salt)
    t.absorb(b"main-root", main_tree.root)

    challenges = [t.challenge_ext(b"aux-challenge") for _ in range(air.num_challenges)]
    aux_evals: U64 | None = None
    aux_lde: U64 | None = None
    aux_tree: MerkleTree | None = None
    aux_root: bytes | None = None
    if air.aux_width:
        step("auxiliary trace")
        aux = np.asarray(air.build_aux(main, challenges), dtype=np.uint64)
        if aux.shape != (air.aux_width, air.n_used, 2):
            raise ValueError(f"build_aux returned {aux.shape}, expected {(air.aux_width, air.n_used, 2)}")
        aux_evals = _blind(ext_columns_to_base(aux), n, rng)
        aux_lde = lde(aux_evals, params.blowup, shift)
        aux_tree = MerkleTree.commit(aux_lde, salt_bytes=salt)
        aux_root = aux_tree.root
        t.absorb(b"aux-root", aux_root)

    step("constraints")
    alpha = t.challenge_ext(b"alpha")
    h_evals = _composition(
        air, main_lde, aux_lde, _periodic_lde(air, n, lde_size), _public_lde(air, n, lde_size),
        challenges, alpha, n,
    )
    q = num_chunks(air, params)
    h_coeffs = coset_interpolate(ext_columns_to_base(h_evals[None, :, :]), shift)  # (2, N)
    if check and np.any(h_coeffs[:, air.max_degree * n :]):
        raise ProvingError(
            f"{air.name}: the constraints do not hold on the trace (or max_degree is understated)"
        )
    chunk_coeffs = randomized_chunks(h_coeffs, q, n, chunk_size(air, params), params.chunk_blinding, rng)
    mask_coeffs = rng.field((2, n))
    quotient_coeffs = np.concatenate([chunk_coeffs, mask_coeffs], axis=0)
    quotient_lde = coset_evaluate(quotient_coeffs, lde_size, shift)
    quotient_tree = MerkleTree.commit(quotient_lde, salt_bytes=salt)
    t.absorb(b"quotient-root", quotient_tree.root)

    step("out-of-domain evaluations")
    g = F.root_of_unity(log_n)
    z = t.challenge_ext(b"ood-point")
    if R.ext_pow(z, n) == (1, 0) or R.ext_pow(z, lde_size) == (pow(shift, lde_size, R.P), 0):
        raise ProvingError("out-of-domain point fell in a domain (probability ~2^-100): retry")
    gz = R.ext_scale(z, g)
    main_z, main_gz = _point_values_from_evals(main_evals, [z, gz], False)
    aux_z: list[Ext] = []
    aux_gz: list[Ext] = []
    if aux_evals is not None:
        aux_z, aux_gz = _point_values_from_evals(aux_evals, [z, gz], True)
    quotient_z = _ext_point_values(chunk_coeffs, z, True)  # (chunks randomized: uniform given their sum)
    for label, group in ((b"main-z", main_z), (b"main-gz", main_gz), (b"aux-z", aux_z),
                         (b"aux-gz", aux_gz), (b"quotient-z", quotient_z)):
        t.absorb_ints(label, [v for e in group for v in e])

    step("DEEP composition")
    coeffs = deep_coefficients(t, 2 * (air.main_width + air.aux_width) + q + 1)
    deep = _deep_composition(
        main_evals, aux_evals, chunk_coeffs, mask_coeffs, main_z, main_gz, aux_z, aux_gz, quotient_z, z, gz, coeffs,
        lde_size, shift,
    )

    step("FRI")
    fri_commit = fri.commit_phase(deep, shift, log_n, params.log_final_degree, t, salt, strict=check)
    nonce = t.grind(params.grinding_bits)
    queries = t.challenge_indices(b"fri-queries", params.num_queries, lde_size // 2)
    rows = query_rows(queries, lde_size)

    step("openings")
    proof = Proof(
        params_digest=params.digest(),
        circuit_digest=circuit_digest(air),
        log_n=log_n,
        n_used=air.n_used,
        public_inputs=[v % R.P for v in air.public_inputs()],
        main_root=main_tree.root,
        aux_root=aux_root,
        quotient_root=quotient_tree.root,
        main_z=main_z,
        main_gz=main_gz,
        aux_z=aux_z,
        aux_gz=aux_gz,
        quotient_z=quotient_z,
        fri_roots=[tr.root for tr in fri_commit.trees],
        final_coeffs=[(int(a), int(b)) for a, b in fri_commit.final_coeffs],
        pow_nonce=nonce,
        main_opening=main_tree.open(rows),
        aux_opening=aux_tree.open(rows) if aux_tree is not None else None,
        quotient_opening=quotient_tree.open(rows),
        fri_openings=fri.query_openings(fri_commit, queries),
    )
    return proof.to_bytes()


def randomized_chunks(h_coeffs: U64, q: int, n: int, size: int, blinding: int, rng: _Randomness) -> U64:
    """Split H (coefficients (2, N), extension as two base rows) into q chunks of ``size`` coefficients,
    H = sum_j x^(j*size) H_j, and re-randomize them with random B_1..B_(q-1) of degree < ``blinding``:

        H_j' = H_j - B_j + x^size * B_(j+1)        (B_0 = B_q = 0), each of degree < n,

    so sum_j x^(j*size) H_j' = H still, while the chunks' values at the <= blinding points they are opened at
    are uniform given that sum (docs/spec/stark.md, "Zero knowledge"). Returns (2q, n)."""
    out = np.zeros((2 * q, n), dtype=np.uint64)
    for j in range(q):
        part = h_coeffs[:, j * size : (j + 1) * size]
        out[2 * j : 2 * j + 2, : part.shape[1]] = part
    for j in range(1, q):
        b = rng.field((2, blinding))
        out[2 * j - 2 : 2 * j, size : size + blinding] = F.add_vec(out[2 * j - 2 : 2 * j, size : size + blinding], b)
        out[2 * j : 2 * j + 2, :blinding] = F.sub_vec(out[2 * j : 2 * j + 2, :blinding], b)
    return out


def _deep_composition(
    main_evals: U64,
    aux_evals: U64 | None,
    chunk_coeffs: U64,
    mask_coeffs: U64,
    main_z: list[Ext],
    main_gz: list[Ext],
    aux_z: list[Ext],
    aux_gz: list[Ext],
    quotient_z: list[Ext],
    z: Ext,
    gz: Ext,
    coeffs: list[Ext],
    lde_size: int,
    shift: int,
) -> U64:
    """D = (A_z - A_z(z))/(x - z) + (A_gz - A_gz(gz))/(x - gz) + c_mask M on the LDE coset, where
    A_z = sum c_z,k T_k + sum c_q,j H_j and A_gz = sum c_gz,k T_k.

    A_z and A_gz have degree < n: they are combined where their terms are n values (the blinded trace's
    evaluations, the chunks' coefficients), then extended once. The LDE is linear, so these are the very
    values the LDE columns' combination gives, for a quarter of the multiplications."""
    n = main_evals.shape[1]
    q = len(quotient_z)
    n_main, n_aux = len(main_z), len(aux_z)
    c_z, c_gz = [], []
    k = 0
    for _ in range(n_main + n_aux):
        c_z.append(coeffs[k])
        c_gz.append(coeffs[k + 1])
        k += 2
    c_q = coeffs[k : k + q]
    c_mask = coeffs[k + q]

    def base_coeffs(cs: list[Ext], ext_cols: bool) -> U64:
        # an extension column A + X*B contributes c*A + (c*X)*B
        if not ext_cols:
            return np.array(cs, dtype=np.uint64).reshape(-1, 2)
        pairs = [[c, mul_by_x(c)] for c in cs]
        return np.array([p for pair in pairs for p in pair], dtype=np.uint64).reshape(-1, 2)

    # the z and g*z combinations of the trace in one pass over its columns, on the trace domain
    both = np.zeros((2, n, 2), dtype=np.uint64)
    combine_base_columns(main_evals, np.stack([base_coeffs(c_z[:n_main], False), base_coeffs(c_gz[:n_main], False)]),
                         both)
    if aux_evals is not None:
        combine_base_columns(aux_evals, np.stack([base_coeffs(c_z[n_main:], True), base_coeffs(c_gz[n_main:], True)]),
                             both)
    # the quotient chunks and the mask are coefficients already
    extra = np.zeros((2, n, 2), dtype=np.uint64)
    combine_base_columns(chunk_coeffs, base_coeffs(c_q, True), extra[0])
    combine_base_columns(mask_coeffs, base_coeffs([c_mask], True), extra[1])
    combined_br = np.empty((6, n), dtype=np.uint64)  # bit-reversed coefficients of A_z, A_gz, M (base pairs)
    combined_br[:4] = intt_bitrev(ext_columns_to_base(both))
    extra_br = bitrev_columns(ext_columns_to_base(extra))
    combined_br[:2] = F.add_vec(combined_br[:2], extra_br[:2])
    combined_br[4:] = extra_br[2:]
    lde6 = coset_evaluate_bitrev(combined_br, lde_size, shift)

    value_z: Ext = (0, 0)
    for c, v in zip(c_z, main_z + aux_z, strict=True):
        value_z = R.ext_add(value_z, R.ext_mul(c, v))
    for c, v in zip(c_q, quotient_z, strict=True):
        value_z = R.ext_add(value_z, R.ext_mul(c, v))
    value_gz: Ext = (0, 0)
    for c, v in zip(c_gz, main_gz + aux_gz, strict=True):
        value_gz = R.ext_add(value_gz, R.ext_mul(c, v))
    return deep_quotients(lde6, domain_points(lde_size, shift), z, gz, value_z, value_gz)
