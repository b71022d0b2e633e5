"""An AIR gadget that proves one Poseidon2 permutation per trace row, and a hash-chain AIR built on it.

Row layout of the gadget (``t`` = width, columns relative to the gadget's ``offset``)::

    input                      t      the state before the permutation
    per full round (4 + 4):
        cube                   t      (s_i + rc_i)^3, the S-box helper register
        state                  t      the state after the round: M_E * ((s + rc)^7)
    per partial round (22):
        cube                   1      (s_0 + rc)^3
        sbox                   1      (s_0 + rc)^7; the other words stay linear combinations of
                                      committed cells, so they need no columns
    output = the state of the last full round

Width 12 gives 12 + 8 * 24 + 22 * 2 = 248 columns (236 with ``own_input=False``, when the AIR passes
the input state as expressions over cells it already has). Every constraint has degree 3: ``cube = x^3`` and
``y = cube^2 * x`` where x is an affine function of committed cells (the round constants are constants in
the constraints, not columns). All constraints hold on every row (the ``every_row`` group); an AIR that
uses the gadget on some rows only must multiply them by a selector, which raises the degree to 4.

The trace generator and the constraints follow ``hash/poseidon2_scalar`` step for step; tests check both against
it and check that altering any single cell of a valid row breaks a constraint on that row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark.air.air import Air, Constraints, Frame
from bastion.stark.field import goldilocks as F
from bastion.stark.field.goldilocks import add
from bastion.stark.field.vals import Val
from bastion.stark.hash import poseidon2 as P2
from bastion.stark.hash import poseidon2_scalar as ref
from bastion.stark.hash.poseidon2 import _external_linear, _internal_linear, _mul

U64 = NDArray[np.uint64]

DIGEST = ref.DIGEST


def num_columns(width: int = ref.WIDTH) -> int:
    """Trace columns one permutation of ``width`` takes in the gadget's layout."""
    return width + ref.ROUNDS_F * 2 * width + ref.ROUNDS_P * 2


@dataclass(frozen=True)
class Poseidon2Gadget:
    """The column layout of one permutation placed at ``offset`` in a row, and its constraints."""

    offset: int = 0
    width: int = ref.WIDTH
    #: False: the input state is not stored by the gadget but passed to ``constraints`` as expressions of
    #: degree <= 1 (for example cells the AIR already has, such as a row's values and salt); saves t columns.
    own_input: bool = True
    input_cols: list[int] = field(init=False)  # empty when own_input is False
    full_cube_cols: list[list[int]] = field(init=False)  # per full round, t columns
    full_state_cols: list[list[int]] = field(init=False)  # per full round, t columns
    partial_cube_cols: list[int] = field(init=False)  # per partial round
    partial_sbox_cols: list[int] = field(init=False)  # per partial round

    def __post_init__(self) -> None:
        ref.params(self.width)  # rejects unsupported widths
        t, col = self.width, self.offset

        def take(k: int) -> list[int]:
            nonlocal col
            cols = list(range(col, col + k))
            col += k
            return cols

        object.__setattr__(self, "input_cols", take(t) if self.own_input else [])
        cubes: list[list[int]] = []
        states: list[list[int]] = []
        partial_cube: list[int] = []
        partial_sbox: list[int] = []
        for _ in range(ref.ROUNDS_F_HALF):
            cubes.append(take(t))
            states.append(take(t))
        for _ in range(ref.ROUNDS_P):
            partial_cube += take(1)
            partial_sbox += take(1)
        for _ in range(ref.ROUNDS_F_HALF):
            cubes.append(take(t))
            states.append(take(t))
        object.__setattr__(self, "full_cube_cols", cubes)
        object.__setattr__(self, "full_state_cols", states)
        object.__setattr__(self, "partial_cube_cols", partial_cube)
        object.__setattr__(self, "partial_sbox_cols", partial_sbox)
        assert col - self.offset == self.ncols

    @property
    def ncols(self) -> int:
        return num_columns(self.width) - (0 if self.own_input else self.width)

    @property
    def end(self) -> int:
        """First column after the gadget."""
        return self.offset + self.ncols

    @property
    def output_cols(self) -> list[int]:
        return self.full_state_cols[-1]

    @property
    def digest_cols(self) -> list[int]:
        """The first four output words: the digest when the permutation is used as a compression."""
        return self.output_cols[:DIGEST]

    def constraints(self, cur: list[Val], inputs: list[Val] | None = None) -> list[Val]:
        """Every-row constraints of the gadget, read from ``cur`` (the current row of the main trace).

        ``inputs``: the input state as degree-<=1 expressions, required when ``own_input`` is False (and
        refused otherwise: the gadget's own input cells are the input then).
        """
        if self.own_input != (inputs is None):
            raise ValueError("pass inputs exactly when the gadget does not own its input columns")
        state_in = [cur[c] for c in self.input_cols] if inputs is None else list(inputs)
        if len(state_in) != self.width:
            raise ValueError(f"the input state needs {self.width} values, got {len(state_in)}")
        prm = ref.params(self.width)
        out: list[Val] = []
        s = _external_linear_vals(state_in)

        def full_round(s: list[Val], rc: tuple[int, ...], r: int) -> list[Val]:
            ys = []
            for i in range(self.width):
                x = s[i] + rc[i]
                cube = cur[self.full_cube_cols[r][i]]
                out.append(cube - x * x * x)
                ys.append(cube * cube * x)
            after = _external_linear_vals(ys)
            committed = [cur[c] for c in self.full_state_cols[r]]
            out.extend(c - a for c, a in zip(committed, after, strict=True))
            return committed

        for r, rc in enumerate(prm.external_initial):
            s = full_round(s, rc, r)
        for r, c in enumerate(prm.internal):
            x = s[0] + c
            cube = cur[self.partial_cube_cols[r]]
            y = cur[self.partial_sbox_cols[r]]
            out.append(cube - x * x * x)
            out.append(y - cube * cube * x)
            s = _internal_linear_vals([y, *s[1:]], prm.diag_m1)
        for r, rc in enumerate(prm.external_final):
            s = full_round(s, rc, ref.ROUNDS_F_HALF + r)
        return out

    def trace_columns(self, inputs: U64) -> U64:
        """This gadget's columns (ncols, n), to be placed at rows ``offset:end`` of a column-major trace."""
        if np.shape(inputs)[-1] != self.width:
            raise ValueError(f"inputs must have {self.width} columns, got shape {np.shape(inputs)}")
        cols = poseidon2_trace_columns(inputs)
        return cols if self.own_input else np.ascontiguousarray(cols[self.width :])


def _external_linear_vals(s: list[Val]) -> list[Val]:
    """``poseidon2_scalar.external_linear`` over Vals, with additions only (M4 as in the kernel)."""
    t = len(s)
    y: list[Val] = []
    for c in range(0, t, 4):
        a, b, cc, d = s[c : c + 4]
        t0 = a + b
        t1 = cc + d
        t2 = b + b + t1
        t3 = d + d + t0
        t4 = t1 + t1 + t1 + t1 + t3
        t5 = t0 + t0 + t0 + t0 + t2
        y += [t3 + t5, t5, t2 + t4, t4]
    out = list(y)
    for col in range(4):
        total = y[col]
        for c in range(col + 4, t, 4):
            total = total + y[c]
        for c in range(col, t, 4):
            out[c] = y[c] + total
    return out


def _internal_linear_vals(s: list[Val], diag_m1: tuple[int, ...]) -> list[Val]:
    total = s[0]
    for v in s[1:]:
        total = total + v
    return [v * d + total for v, d in zip(s, diag_m1, strict=True)]


# --------------------------------------------------------------------------------------------------
# trace generation (numba)


@nb.njit(cache=True, nogil=True)
def _trace_full_round(buf: U64, m: int, out: U64, lo: int, col: int, rc: U64, tmp: U64) -> int:
    t = buf.shape[0]
    for i in range(t):
        c = rc[i]
        for lane in range(m):
            x = add(buf[i, lane], c)
            cube = _mul(_mul(x, x), x)
            out[col + i, lo + lane] = cube
            buf[i, lane] = _mul(_mul(cube, cube), x)
    _external_linear(buf, m, tmp)
    for i in range(t):
        for lane in range(m):
            out[col + t + i, lo + lane] = buf[i, lane]
    return col + 2 * int(t)


@nb.njit(cache=True, nogil=True)
def _trace_block(buf: U64, m: int, out: U64, lo: int, rc_ext: U64, rc_int: U64, diag_m1: U64, tmp: U64) -> None:
    """Permute the first ``m`` lanes of ``buf`` (t, lanes) in place, recording every register of lane j
    into column ``lo + j`` of the column-major trace ``out``."""
    t = buf.shape[0]
    half = rc_ext.shape[0] // 2
    for i in range(t):
        for lane in range(m):
            out[i, lo + lane] = buf[i, lane]
    col = t
    _external_linear(buf, m, tmp)
    for r in range(half):
        col = _trace_full_round(buf, m, out, lo, col, rc_ext[r], tmp)
    for r in range(rc_int.shape[0]):
        c = rc_int[r]
        for lane in range(m):
            x = add(buf[0, lane], c)
            cube = _mul(_mul(x, x), x)
            y = _mul(_mul(cube, cube), x)
            out[col, lo + lane] = cube
            out[col + 1, lo + lane] = y
            buf[0, lane] = y
        _internal_linear(buf, m, diag_m1, tmp)
        col += 2
    for r in range(half, 2 * half):
        col = _trace_full_round(buf, m, out, lo, col, rc_ext[r], tmp)


@nb.njit(cache=True, nogil=True, parallel=True)
def _trace_rows(inputs: U64, out: U64, rc_ext: U64, rc_int: U64, diag_m1: U64, block: int) -> None:
    n, t = inputs.shape
    n_blocks = (n + block - 1) // block
    for b in nb.prange(n_blocks):
        lo = b * block
        m = min(block, n - lo)
        buf = np.empty((t, block), dtype=np.uint64)
        tmp = np.empty(block, dtype=np.uint64)
        for lane in range(m):
            for i in range(t):
                buf[i, lane] = inputs[lo + lane, i]
        _trace_block(buf, m, out, lo, rc_ext, rc_int, diag_m1, tmp)


@nb.njit(cache=True, nogil=True)
def _chain_trace(first: U64, messages: U64, out: U64, rc_ext: U64, rc_int: U64, diag_m1: U64) -> None:
    # sequential: each row's input depends on the previous row's output
    t = first.shape[0]
    n = out.shape[1]
    state = np.empty((t, 1), dtype=np.uint64)
    tmp = np.empty(1, dtype=np.uint64)
    for i in range(t):
        state[i, 0] = first[i]
    for row in range(n):
        _trace_block(state, 1, out, row, rc_ext, rc_int, diag_m1, tmp)
        if row + 1 < n:
            # next input: this row's digest (left in state[:4]), then the next message words
            for i in range(DIGEST, t):
                state[i, 0] = messages[row, i - DIGEST]


def poseidon2_trace_columns(inputs: U64) -> U64:
    """Gadget trace, column-major (ncols, n), for permuting each row of ``inputs`` (n, width)."""
    arr = P2._as_field_matrix(inputs, "inputs")
    rc_ext, rc_int, diag = P2.constants(arr.shape[1])
    out = np.empty((num_columns(arr.shape[1]), arr.shape[0]), dtype=np.uint64)
    if arr.shape[0]:
        _trace_rows(arr, out, rc_ext, rc_int, diag, P2.BLOCK)
    return out


# --------------------------------------------------------------------------------------------------
# example: a hash chain


class HashChainAir(Air):
    """A chain of Poseidon2 compressions, one permutation per row.

    Row 0 permutes the public ``first_input`` (12 words). Row i+1 permutes [digest of row i, 8 private
    message words]. The last row's digest is the public ``final_digest``. The statement: "I know message
    words that take this start to this digest".
    """

    name = "bastion.poseidon2.hash-chain/1"
    max_degree = 3

    def __init__(self, n_used: int, first_input: list[int], final_digest: list[int]) -> None:
        super().__init__(n_used)
        if len(first_input) != ref.WIDTH or len(final_digest) != DIGEST:
            raise ValueError(f"first_input needs {ref.WIDTH} words and final_digest {DIGEST}")
        self.gadget = Poseidon2Gadget(0, ref.WIDTH)
        self.main_width = self.gadget.ncols
        self.first_input = [v % F.P_INT for v in first_input]
        self.final_digest = [v % F.P_INT for v in final_digest]

    def public_inputs(self) -> list[int]:
        return self.first_input + self.final_digest

    def constraints(self, f: Frame) -> Constraints:
        g = self.gadget
        cur, nxt = f.cur, f.nxt
        return Constraints(
            transition=[nxt[i] - cur[o] for i, o in zip(g.input_cols[:DIGEST], g.digest_cols, strict=True)],
            every_row=g.constraints(cur),
            first_row=[cur[c] - v for c, v in zip(g.input_cols, self.first_input, strict=True)],
            last_row=[cur[c] - v for c, v in zip(g.digest_cols, self.final_digest, strict=True)],
        )

    @staticmethod
    def trace(first_input: U64, messages: U64) -> U64:
        """Main trace (ncols, n) of the chain from ``first_input`` (12,) absorbing ``messages`` (n - 1, 8)."""
        first = np.ascontiguousarray(first_input, dtype=np.uint64)
        msgs = np.ascontiguousarray(messages, dtype=np.uint64).reshape(-1, ref.WIDTH - DIGEST)
        rc_ext, rc_int, diag = P2.constants(ref.WIDTH)
        out = np.empty((num_columns(ref.WIDTH), msgs.shape[0] + 1), dtype=np.uint64)
        _chain_trace(first, msgs, out, rc_ext, rc_int, diag)
        return out

    @classmethod
    def instance(cls, n_used: int, seed: int = 1) -> tuple[HashChainAir, U64]:
        """A random chain of ``n_used`` rows and its trace."""
        rng = np.random.default_rng(seed)
        first = rng.integers(0, F.P_INT, size=ref.WIDTH, dtype=np.uint64)
        messages = rng.integers(0, F.P_INT, size=(n_used - 1, ref.WIDTH - DIGEST), dtype=np.uint64)
        main = cls.trace(first, messages)
        digest = Poseidon2Gadget().digest_cols
        air = cls(n_used, [int(v) for v in first], [int(main[c, -1]) for c in digest])
        return air, main
