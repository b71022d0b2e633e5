"""A salted Poseidon2 hash chain over per-asset totals, laid out one permutation round per trace row.

The commitment to a batch's totals (issue 14, "only global per-asset totals are public"):

    chain_0 = salt (4 secret field elements)
    chain_{a+1} = Poseidon2-w12(chain_a || message_a)[:4]     message_a = the 8 limb totals of asset a
    commitment = chain_A

Both the batch circuit (which computes it from the very cells its asset-table lookup sums) and the aggregation
circuit (which recomputes it from witness totals and salt) use this gadget, so they compute the same function,
checked against ``poseidon2_ref`` by ``commitment``.

Layout: a block of ``PERIOD`` = 32 rows per permutation (row 0 the input state, row 1 after the initial
external matrix, rows 2-5 after the 4 first full rounds, 6-27 after the 22 partial rounds, 28-31 after the
last 4 full rounds: row 31 holds the output). Each row has 36 columns: the state S (12), the S-box helpers
C = (S + rc)^3 (12) and Y = C^2 (S + rc) = (S + rc)^7 (12). Round constants and round-type selectors are
periodic columns of length 32. Every constraint has degree <= 3. One permutation per row would take 236
columns (``poseidon2_air``); this layout takes 36, at the price of 32 rows per asset, which batches (>= 2^17
rows) have to spare.

The link between blocks (row 31 of block j to row 0 of block j + 1: the next input's first 4 words are the
output's first 4 words) is enforced where a public ``link`` selector is 1, so a circuit chooses where chains
start (a new salt) and end (a public commitment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bastion.stark.air.poseidon2_air import _external_linear_vals, _internal_linear_vals
from bastion.stark.field import goldilocks as F
from bastion.stark.field.vals import Val
from bastion.stark.hash import poseidon2 as P2
from bastion.stark.hash import poseidon2_scalar as ref

U64 = NDArray[np.uint64]

WIDTH = 12
DIGEST = 4
MESSAGE = WIDTH - DIGEST  # 8 limb totals of one asset: 4 equity, 4 debt
PERIOD = 32
SALT_WORDS = 4


class Per:
    """Periodic columns, relative to the gadget's first periodic column."""

    RC = 0  # 12 round constants (zero where the row's round adds none)
    INIT = 12  # 1 on row 0: next = M_E(S)
    FULL = 13  # 1 on rows 1-4 and 27-30: next = M_E(Y)
    PART = 14  # 1 on rows 5-26: next = M_I(Y_0, S_1..S_11)
    IN = 15  # 1 on row 0: S[4:] is the block's message
    COUNT = 16


def _round_kinds() -> list[str]:
    kinds = ["init"] + ["full"] * ref.ROUNDS_F_HALF + ["part"] * ref.ROUNDS_P + ["full"] * ref.ROUNDS_F_HALF
    assert len(kinds) == PERIOD - 1
    return [*kinds, "out"]


def periodic_columns() -> list[U64]:
    prm = ref.params(WIDTH)
    cols = [np.zeros(PERIOD, dtype=np.uint64) for _ in range(Per.COUNT)]
    full_rc = [*prm.external_initial, *prm.external_final]
    f = p = 0
    for r, kind in enumerate(_round_kinds()):
        if kind == "init":
            cols[Per.INIT][r] = 1
            cols[Per.IN][r] = 1
        elif kind == "full":
            cols[Per.FULL][r] = 1
            for i in range(WIDTH):
                cols[Per.RC + i][r] = full_rc[f][i]
            f += 1
        elif kind == "part":
            cols[Per.PART][r] = 1
            cols[Per.RC][r] = prm.internal[p]
            p += 1
    return cols


@dataclass(frozen=True)
class TotalsChain:
    """36 main columns from ``offset``; ``periodic_offset``: where the AIR puts ``periodic_columns()``."""

    offset: int
    periodic_offset: int

    ncols = 3 * WIDTH

    @property
    def end(self) -> int:
        return self.offset + self.ncols

    @property
    def state_cols(self) -> list[int]:
        return list(range(self.offset, self.offset + WIDTH))

    @property
    def digest_cols(self) -> list[int]:
        return self.state_cols[:DIGEST]

    def constraints(
        self, cur: list[Val], nxt: list[Val], periodic: list[Val], link: Val, message: Sequence[Val]
    ) -> tuple[list[Val], list[Val]]:
        """(every-row, transition) constraints. ``link``: degree-1 selector, 1 on row 31 of a block whose
        output feeds the next block; ``message``: the 8 degree-1 expressions absorbed on a block's row 0."""
        o = self.offset
        s = [cur[o + i] for i in range(WIDTH)]
        c = [cur[o + WIDTH + i] for i in range(WIDTH)]
        y = [cur[o + 2 * WIDTH + i] for i in range(WIDTH)]
        s_n = [nxt[o + i] for i in range(WIDTH)]
        per = periodic[self.periodic_offset : self.periodic_offset + Per.COUNT]
        every: list[Val] = []
        for i in range(WIDTH):
            x = s[i] + per[Per.RC + i]
            every.append(c[i] - x * x * x)
            every.append(y[i] - c[i] * c[i] * x)
        every += [per[Per.IN] * (s[DIGEST + i] - message[i]) for i in range(MESSAGE)]
        diag = ref.params(WIDTH).diag_m1
        after_init = _external_linear_vals(s)
        after_full = _external_linear_vals(y)
        after_part = _internal_linear_vals([y[0], *s[1:]], diag)
        transition = []
        for i in range(WIDTH):
            t = (
                per[Per.INIT] * (s_n[i] - after_init[i])
                + per[Per.FULL] * (s_n[i] - after_full[i])
                + per[Per.PART] * (s_n[i] - after_part[i])
            )
            if i < DIGEST:
                t = t + link * (s_n[i] - s[i])
            transition.append(t)
        return every, transition

    @staticmethod
    def trace(inputs: U64, n_rows: int) -> U64:
        """(36, n_rows): block j permutes ``inputs[j]`` (12 words); rows past the last block are a block of
        zeros' registers repeated (their inputs are unconstrained where ``link`` and messages are zero)."""
        inputs = np.ascontiguousarray(inputs, dtype=np.uint64).reshape(-1, WIDTH)
        blocks = -(-n_rows // PERIOD)
        if inputs.shape[0] > blocks:
            raise ValueError(f"{inputs.shape[0]} blocks do not fit {n_rows} rows")
        full = np.zeros((blocks, WIDTH), dtype=np.uint64)
        full[: inputs.shape[0]] = inputs
        per = periodic_columns()
        diag = ref.params(WIDTH).diag_m1
        out = np.zeros((3 * WIDTH, blocks, PERIOD), dtype=np.uint64)
        s = [Val(np.ascontiguousarray(full[:, i])) for i in range(WIDTH)]
        for r, kind in enumerate(_round_kinds()):
            xs = [s[i] + int(per[Per.RC + i][r]) for i in range(WIDTH)]
            cs = [x * x * x for x in xs]
            ys = [cc * cc * x for cc, x in zip(cs, xs, strict=True)]
            for i in range(WIDTH):
                out[i, :, r] = s[i].data
                out[WIDTH + i, :, r] = cs[i].data
                out[2 * WIDTH + i, :, r] = ys[i].data
            if kind == "init":
                s = _external_linear_vals(s)
            elif kind == "full":
                s = _external_linear_vals(ys)
            elif kind == "part":
                s = _internal_linear_vals([ys[0], *s[1:]], diag)
        return np.ascontiguousarray(out.reshape(3 * WIDTH, blocks * PERIOD)[:, :n_rows])


def chain_inputs(salt: Sequence[int], messages: U64) -> tuple[U64, list[int]]:
    """The permutation inputs (A, 12) of one chain and its commitment (4 words), with the fast kernel."""
    msgs = np.ascontiguousarray(messages, dtype=np.uint64).reshape(-1, MESSAGE)
    if len(salt) != SALT_WORDS:
        raise ValueError(f"the salt is {SALT_WORDS} field elements")
    inputs = np.zeros((msgs.shape[0], WIDTH), dtype=np.uint64)
    chain = np.array([int(v) % F.P_INT for v in salt], dtype=np.uint64)
    for a in range(msgs.shape[0]):
        inputs[a, :DIGEST] = chain
        inputs[a, DIGEST:] = msgs[a]
        chain = P2.permute(inputs[a : a + 1])[0, :DIGEST]
    return inputs, [int(v) for v in chain]


def commitment(salt: Sequence[int], messages: Sequence[Sequence[int]]) -> list[int]:
    """Reference (plain Python, ``poseidon2_ref``): the commitment to ``messages`` (A x 8 words) under ``salt``."""
    chain = [int(v) % ref.P for v in salt]
    for m in messages:
        if len(m) != MESSAGE:
            raise ValueError(f"a message is {MESSAGE} words")
        chain = ref.permute([*chain, *[int(v) % ref.P for v in m]])[:DIGEST]
    return chain


def messages_of(equity_limbs: Sequence[Sequence[int]], debt_limbs: Sequence[Sequence[int]]) -> list[list[int]]:
    """Per asset: its 4 equity limb totals then its 4 debt limb totals (the order the circuits hash)."""
    return [[*map(int, e), *map(int, d)] for e, d in zip(equity_limbs, debt_limbs, strict=True)]
