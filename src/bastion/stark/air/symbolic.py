"""Constraints compiled once into a register program, run over the whole LDE domain by one kernel.

The prover must evaluate every constraint at every point of the low-degree-extension domain (4n
points). Evaluating the AIR's Python code on arrays costs one numba call per operation per chunk;
instead we run the AIR's ``constraints`` once on *symbolic* values, which records the expression DAG
(shared subexpressions once), allocate registers by liveness, and hand the instruction list to a numba
interpreter that works on blocks of points: each instruction is a loop over the block's lanes (the
blocked style: vectorized inner loops, no generated straight-line code to compile).

The verifier keeps evaluating the same ``constraints`` with :class:`~bastion.stark.field.vals.Val` at one
point, so the two paths are independent; the tests check they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

from bastion.stark.air.air import Air, Frame
from bastion.stark.field import scalar as R
from bastion.stark.field.goldilocks import add, ext_mul, mul, sub

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
Ext = tuple[int, int]

# node kinds
_MAIN, _PER, _PUB, _AUX, _CONST, _CHAL, _ADD, _SUB, _MUL = range(9)

# opcodes
OP_LOAD_MAIN, OP_LOAD_PER, OP_LOAD_PUB, OP_LOAD_AUX, OP_CONST_B, OP_CONST_E = 0, 1, 2, 3, 4, 5
OP_BB_ADD, OP_BB_SUB, OP_BB_MUL = 10, 11, 12
OP_EE_ADD, OP_EE_SUB, OP_EE_MUL = 20, 21, 22
OP_EB_ADD, OP_EB_SUB, OP_BE_SUB, OP_EB_MUL = 30, 31, 32, 33
OP_ACC_B, OP_ACC_E = 40, 41


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[tuple[int, int, int, bool]] = []  # (kind, a, b, is_ext)
        self.index: dict[tuple[int, int, int], int] = {}
        self.consts: list[int] = []
        self.const_index: dict[int, int] = {}

    def node(self, kind: int, a: int, b: int, is_ext: bool) -> Sym:
        key = (kind, a, b)
        if kind in (_ADD, _MUL) and a > b:  # commutative: one node for a+b and b+a
            key = (kind, b, a)
        found = self.index.get(key)
        if found is None:
            found = len(self.nodes)
            self.nodes.append((key[0], key[1], key[2], is_ext))
            self.index[key] = found
        return Sym(self, found)

    def const(self, value: int) -> Sym:
        v = value % R.P
        ci = self.const_index.get(v)
        if ci is None:
            ci = len(self.consts)
            self.consts.append(v)
            self.const_index[v] = ci
        return self.node(_CONST, ci, 0, False)


class Sym:
    """A symbolic field value: arithmetic records nodes in its builder."""

    __slots__ = ("b", "id")

    def __init__(self, builder: _Builder, node_id: int) -> None:
        self.b = builder
        self.id = node_id

    @property
    def is_ext(self) -> bool:
        return self.b.nodes[self.id][3]

    def _lift(self, other: Sym | int) -> Sym:
        if isinstance(other, Sym):
            return other
        if isinstance(other, bool) or not isinstance(other, (int, np.integer)):
            raise TypeError(f"a constraint constant must be an integer, not {type(other).__name__}")
        return self.b.const(int(other))

    def _bin(self, kind: int, other: Sym | int) -> Sym:
        o = self._lift(other)
        return self.b.node(kind, self.id, o.id, self.is_ext or o.is_ext)

    def __add__(self, other: Sym | int) -> Sym:
        return self._bin(_ADD, other)

    def __radd__(self, other: Sym | int) -> Sym:
        return self._lift(other)._bin(_ADD, self)

    def __sub__(self, other: Sym | int) -> Sym:
        return self._bin(_SUB, other)

    def __rsub__(self, other: Sym | int) -> Sym:
        return self._lift(other)._bin(_SUB, self)

    def __mul__(self, other: Sym | int) -> Sym:
        return self._bin(_MUL, other)

    def __rmul__(self, other: Sym | int) -> Sym:
        return self._lift(other)._bin(_MUL, self)

    def __neg__(self) -> Sym:
        return self.b.const(0)._bin(_SUB, self)

    def __pow__(self, e: int) -> Sym:
        if e < 1:
            raise ValueError("Sym ** e needs e >= 1")
        result = self
        for _ in range(e - 1):
            result = result * self
        return result


@dataclass
class ConstraintProgram:
    code: I64  # (instructions, 5): opcode, dst, a, b, extra
    consts_b: U64
    consts_e: U64  # (k, 2): challenges, then alpha powers
    n_base_regs: int
    n_ext_regs: int
    num_constraints: int


def trace_constraints(air: Air) -> tuple[_Builder, list[list[Sym]]]:
    """Run the AIR's constraints on symbolic columns: the builder holding the DAG, and the groups."""
    b = _Builder()
    # Frame is typed for Val; Sym offers the same arithmetic, which is all constraints may use
    sym: Any = b
    frame = Frame(
        cur=[sym.node(_MAIN, c, 0, False) for c in range(air.main_width)],
        nxt=[sym.node(_MAIN, c, 1, False) for c in range(air.main_width)],
        aux_cur=[sym.node(_AUX, c, 0, True) for c in range(air.aux_width)],
        aux_nxt=[sym.node(_AUX, c, 1, True) for c in range(air.aux_width)],
        periodic=[sym.node(_PER, c, 0, False) for c in range(len(air.periodic_columns()))],
        public=[sym.node(_PUB, c, 0, False) for c in range(len(air.public_columns()))],
        public_nxt=[sym.node(_PUB, c, 1, False) for c in range(len(air.public_columns()))],
        challenges=[sym.node(_CHAL, c, 0, True) for c in range(air.num_challenges)],
    )
    groups: Any = air.constraints(frame).groups()
    for gr in groups:
        for c in gr:
            if not isinstance(c, Sym):
                raise TypeError("constraint is not an expression of the frame's values")
    return b, groups


def compile_constraints(air: Air, challenges: list[Ext], alpha: Ext) -> ConstraintProgram:
    b, groups = trace_constraints(air)
    nodes = b.nodes
    roots: list[tuple[int, int, int]] = []  # (group, node, alpha index)
    k = 0
    for g, gr in enumerate(groups):
        for c in gr:
            roots.append((g, c.id, k))
            k += 1
    # keep only what the roots need
    needed = np.zeros(len(nodes), dtype=bool)
    stack = [r[1] for r in roots]
    while stack:
        i = stack.pop()
        if needed[i]:
            continue
        needed[i] = True
        kind, a, bb, _ = nodes[i]
        if kind in (_ADD, _SUB, _MUL):
            stack += [a, bb]
    # last use of each node (position in creation order), roots live until their accumulation
    last_use = [-1] * len(nodes)
    for i, (kind, a, bb, _) in enumerate(nodes):
        if needed[i] and kind in (_ADD, _SUB, _MUL):
            last_use[a] = max(last_use[a], i)
            last_use[bb] = max(last_use[bb], i)
    acc_at: dict[int, list[tuple[int, int]]] = {}
    for g, node_id, ai in roots:
        acc_at.setdefault(node_id, []).append((g, ai))
        last_use[node_id] = max(last_use[node_id], node_id)

    free_b: list[int] = []
    free_e: list[int] = []
    n_b = n_e = 0
    reg = [-1] * len(nodes)
    code: list[tuple[int, int, int, int, int]] = []
    consts_e: list[Ext] = list(challenges)
    alpha_base = len(consts_e)
    acc: Ext = (1, 0)
    for _ in range(k):
        consts_e.append(acc)
        acc = R.ext_mul(acc, alpha)
    expiring: dict[int, list[int]] = {}
    for i, lu in enumerate(last_use):
        if needed[i]:
            expiring.setdefault(lu, []).append(i)

    for i, (kind, a, bb, is_ext) in enumerate(nodes):
        if not needed[i]:
            continue
        if is_ext:
            if free_e:
                r = free_e.pop()
            else:
                r, n_e = n_e, n_e + 1
        else:
            if free_b:
                r = free_b.pop()
            else:
                r, n_b = n_b, n_b + 1
        reg[i] = r
        if kind == _MAIN:
            code.append((OP_LOAD_MAIN, r, a, bb, 0))
        elif kind == _PER:
            code.append((OP_LOAD_PER, r, a, 0, 0))
        elif kind == _PUB:
            code.append((OP_LOAD_PUB, r, a, bb, 0))
        elif kind == _AUX:
            code.append((OP_LOAD_AUX, r, a, bb, 0))
        elif kind == _CONST:
            code.append((OP_CONST_B, r, a, 0, 0))
        elif kind == _CHAL:
            code.append((OP_CONST_E, r, a, 0, 0))
        else:
            ea, eb = nodes[a][3], nodes[bb][3]
            ra, rb = reg[a], reg[bb]
            if not ea and not eb:
                op = {_ADD: OP_BB_ADD, _SUB: OP_BB_SUB, _MUL: OP_BB_MUL}[kind]
                code.append((op, r, ra, rb, 0))
            elif ea and eb:
                op = {_ADD: OP_EE_ADD, _SUB: OP_EE_SUB, _MUL: OP_EE_MUL}[kind]
                code.append((op, r, ra, rb, 0))
            elif ea:  # ext op base
                op = {_ADD: OP_EB_ADD, _SUB: OP_EB_SUB, _MUL: OP_EB_MUL}[kind]
                code.append((op, r, ra, rb, 0))
            else:  # base op ext
                if kind == _SUB:
                    code.append((OP_BE_SUB, r, ra, rb, 0))
                else:
                    op = OP_EB_ADD if kind == _ADD else OP_EB_MUL
                    code.append((op, r, rb, ra, 0))
        for g, ai in acc_at.get(i, []):
            code.append((OP_ACC_E if is_ext else OP_ACC_B, g, r, alpha_base + ai, 0))
        for j in expiring.get(i, []):  # operands (and roots) whose last use was this instruction
            (free_e if nodes[j][3] else free_b).append(reg[j])
    return ConstraintProgram(
        code=np.array(code, dtype=np.int64).reshape(-1, 5),
        consts_b=np.array(b.consts or [0], dtype=np.uint64),
        consts_e=np.array(consts_e or [(0, 0)], dtype=np.uint64).reshape(-1, 2),
        n_base_regs=max(n_b, 1),
        n_ext_regs=max(n_e, 1),
        num_constraints=k,
    )


@nb.njit(cache=True, nogil=True, inline="always")
def _load(dst: U64, src: U64, start: int, n: int) -> None:
    # dst[l] = src[(start + l) mod n]: at most one wrap
    block = dst.shape[0]
    first = min(block, n - start)
    for l in range(first):
        dst[l] = src[start + l]
    for l in range(first, block):
        dst[l] = src[l - first]


@nb.njit(cache=True, nogil=True, parallel=True)
def _run(
    code: I64, consts_b: U64, consts_e: U64, main: U64, aux: U64, per: U64, per_len: I64, pub: U64,
    inv_div: U64, blowup: int, n_breg: int, n_ereg: int, block: int, out: U64,
) -> None:
    n = main.shape[1]
    for bi in nb.prange(n // block):
        lo = bi * block
        rb = np.empty((n_breg, block), dtype=np.uint64)
        re0 = np.empty((n_ereg, block), dtype=np.uint64)
        re1 = np.empty((n_ereg, block), dtype=np.uint64)
        acc0 = np.zeros((4, block), dtype=np.uint64)
        acc1 = np.zeros((4, block), dtype=np.uint64)
        for ins in range(code.shape[0]):
            op = code[ins, 0]
            d = code[ins, 1]
            a = code[ins, 2]
            b = code[ins, 3]
            if op == 0:
                _load(rb[d], main[a], (lo + b * blowup) % n, n)
            elif op == 1:
                x = rb[d]
                src = per[a]
                period = per_len[a]
                idx = lo % period
                for l in range(block):
                    x[l] = src[idx]
                    idx += 1
                    if idx == period:
                        idx = 0
            elif op == 2:
                _load(rb[d], pub[a], (lo + b * blowup) % n, n)
            elif op == 3:
                _load(re0[d], aux[2 * a], (lo + b * blowup) % n, n)
                _load(re1[d], aux[2 * a + 1], (lo + b * blowup) % n, n)
            elif op == 4:
                x = rb[d]
                v = consts_b[a]
                for l in range(block):
                    x[l] = v
            elif op == 5:
                x0 = re0[d]
                x1 = re1[d]
                v0 = consts_e[a, 0]
                v1 = consts_e[a, 1]
                for l in range(block):
                    x0[l] = v0
                    x1[l] = v1
            elif op == 10 or op == 11 or op == 12:
                x = rb[d]
                y = rb[a]
                z = rb[b]
                if op == 10:
                    for l in range(block):
                        x[l] = add(y[l], z[l])
                elif op == 11:
                    for l in range(block):
                        x[l] = sub(y[l], z[l])
                else:
                    for l in range(block):
                        x[l] = mul(y[l], z[l])
            elif op == 20 or op == 21 or op == 22:
                x0 = re0[d]
                x1 = re1[d]
                y0 = re0[a]
                y1 = re1[a]
                z0 = re0[b]
                z1 = re1[b]
                if op == 20:
                    for l in range(block):
                        x0[l] = add(y0[l], z0[l])
                        x1[l] = add(y1[l], z1[l])
                elif op == 21:
                    for l in range(block):
                        x0[l] = sub(y0[l], z0[l])
                        x1[l] = sub(y1[l], z1[l])
                else:
                    for l in range(block):
                        x0[l], x1[l] = ext_mul(y0[l], y1[l], z0[l], z1[l])
            elif op == 30 or op == 31 or op == 33:
                x0 = re0[d]
                x1 = re1[d]
                y0 = re0[a]
                y1 = re1[a]
                z = rb[b]
                if op == 30:
                    for l in range(block):
                        x0[l] = add(y0[l], z[l])
                        x1[l] = y1[l]
                elif op == 31:
                    for l in range(block):
                        x0[l] = sub(y0[l], z[l])
                        x1[l] = y1[l]
                else:
                    for l in range(block):
                        x0[l] = mul(y0[l], z[l])
                        x1[l] = mul(y1[l], z[l])
            elif op == 32:
                x0 = re0[d]
                x1 = re1[d]
                y = rb[a]
                z0 = re0[b]
                z1 = re1[b]
                for l in range(block):
                    x0[l] = sub(y[l], z0[l])
                    x1[l] = sub(np.uint64(0), z1[l])
            elif op == 40:
                g0 = acc0[d]
                g1 = acc1[d]
                y = rb[a]
                c0 = consts_e[b, 0]
                c1 = consts_e[b, 1]
                for l in range(block):
                    g0[l] = add(g0[l], mul(y[l], c0))
                    g1[l] = add(g1[l], mul(y[l], c1))
            elif op == 41:
                g0 = acc0[d]
                g1 = acc1[d]
                y0 = re0[a]
                y1 = re1[a]
                c0 = consts_e[b, 0]
                c1 = consts_e[b, 1]
                for l in range(block):
                    t0, t1 = ext_mul(y0[l], y1[l], c0, c1)
                    g0[l] = add(g0[l], t0)
                    g1[l] = add(g1[l], t1)
        for l in range(block):
            s0 = np.uint64(0)
            s1 = np.uint64(0)
            for g in range(4):
                w = inv_div[g, lo + l]
                s0 = add(s0, mul(acc0[g, l], w))
                s1 = add(s1, mul(acc1[g, l], w))
            out[lo + l, 0] = s0
            out[lo + l, 1] = s1


def evaluate(
    prog: ConstraintProgram, main_lde: U64, aux_lde: U64 | None, periodic: list[U64], public: U64 | None,
    inv_div: U64, blowup: int,
) -> U64:
    """The composition values sum_g inv_div[g] * sum_i alpha^i c_i over the LDE domain: (N, 2).
    ``periodic`` holds one period of each periodic column's extension (its value at point j is
    ``col[j mod len(col)]``), so they are never materialized at full length."""
    n = main_lde.shape[1]
    block = min(512, n)
    empty = np.zeros((1, n), dtype=np.uint64)
    out = np.empty((n, 2), dtype=np.uint64)
    longest = max((len(p) for p in periodic), default=1)
    per = np.zeros((max(1, len(periodic)), longest), dtype=np.uint64)
    per_len = np.ones(max(1, len(periodic)), dtype=np.int64)
    for i, p in enumerate(periodic):
        per[i, : len(p)] = p
        per_len[i] = len(p)
    _run(
        prog.code, prog.consts_b, prog.consts_e, np.ascontiguousarray(main_lde),
        np.ascontiguousarray(aux_lde) if aux_lde is not None else empty,
        per, per_len,
        np.ascontiguousarray(public) if public is not None and len(public) else empty,
        np.ascontiguousarray(inv_div), blowup, prog.n_base_regs, prog.n_ext_regs, block, out,
    )
    return out
