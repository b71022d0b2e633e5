"""BLAKE3 as numba kernels for the two shapes the prover hashes: matrix rows (Merkle leaves) and node pairs.

The kernels work in the blocked style: a group of ``LANES`` messages of the same length is hashed at
once, with the state held as one array row per BLAKE3 word and an inner loop over the lanes, so LLVM
turns every compression into SIMD code across messages. Ranges of groups are spread over the cores
by threads (the kernels release the GIL). The plain reference is the ``blake3`` package (tests
compare byte for byte, including inputs longer than one 1024-byte chunk, which take BLAKE3's chunk
tree).

Leaf ``j`` of a matrix given column-major as ``columns`` (shape ``(k, N)``, row ``j`` is
``columns[:, j]``) is ``BLAKE3(0x00 || salt[j] || le64(columns[0, j]) || ... || le64(columns[k-1, j]))``;
a parent node is ``BLAKE3(0x01 || left || right)``. The prefixes separate leaves from nodes, so a node
can never be passed off as a leaf (second preimages across levels).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic
from numpy.typing import NDArray

DIGEST_BYTES = 32
LEAF_PREFIX = 0x00
NODE_PREFIX = 0x01
LANES = 64  # messages per group; a multiple of the 16 uint32 lanes of an AVX-512 register

if sys.byteorder != "little":  # the kernels view digests as little-endian uint32 words
    raise ImportError("bastion.stark.hash.blake3_kernels needs a little-endian machine")

U8 = NDArray[np.uint8]
U32 = NDArray[np.uint32]
U64 = NDArray[np.uint64]

_kernel = nb.njit(cache=True, nogil=True)

_IV = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
    dtype=np.uint32,
)
_IV0, _IV1, _IV2, _IV3 = (np.uint32(int(x)) for x in _IV[:4])
_M32 = np.uint64(0xFFFFFFFF)
_M8 = np.uint64(0xFF)
_SH8 = np.uint64(8)
_SH24 = np.uint64(24)

CHUNK_START = 1
CHUNK_END = 2
PARENT = 4
ROOT = 8
BLOCK_BYTES = 64
CHUNK_BYTES = 1024

# Scratch of one lane group, a flat uint32 array: rows 0..7 the chaining values, rows 8..23 the message
# words, each row LANES long. One array with compile-time row offsets lets LLVM prove that the rows do
# not overlap, which it must know to vectorize the compression across lanes.
_CV = 0
_MSG = 8 * LANES
SCRATCH_WORDS = 24 * LANES


# --------------------------------------------------------------------------------------------------
# 32-bit word arithmetic. Numba widens uint32 arithmetic to 64 bits; these intrinsics keep it at 32 bits
# (and rotations as LLVM funnel shifts), so the compression vectorizes to 16 lanes with native rotates.


_cgutils: Any = cgutils


def _add32_typer(typingctx: Any, a: Any, b: Any) -> Any:
    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.add(args[0], args[1])

    return types.uint32(types.uint32, types.uint32), codegen


def _xor32_typer(typingctx: Any, a: Any, b: Any) -> Any:
    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.xor(args[0], args[1])

    return types.uint32(types.uint32, types.uint32), codegen


def _xor_rotr32_typer(typingctx: Any, a: Any, b: Any, n: Any) -> Any:
    """(a ^ b) rotated right by n bits."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        i32 = ir.IntType(32)
        fshr_type = ir.FunctionType(i32, [i32, i32, i32])
        fshr = _cgutils.get_or_insert_function(builder.module, fshr_type, "llvm.fshr.i32")
        x = builder.xor(args[0], args[1])
        return builder.call(fshr, [x, x, builder.trunc(args[2], i32)])

    return types.uint32(types.uint32, types.uint32, types.int64), codegen


_add32: Any = intrinsic(_add32_typer)
_xor32: Any = intrinsic(_xor32_typer)
_xor_rotr32: Any = intrinsic(_xor_rotr32_typer)


# --------------------------------------------------------------------------------------------------
# the compression function, vectorized over lanes. The helpers are small and LLVM inlines them.


@_kernel
def _g(a: np.uint32, b: np.uint32, c: np.uint32, d: np.uint32, mx: np.uint32, my: np.uint32):  # type: ignore[no-untyped-def]
    a = _add32(_add32(a, b), mx)
    d = _xor_rotr32(d, a, 16)
    c = _add32(c, d)
    b = _xor_rotr32(b, c, 12)
    a = _add32(_add32(a, b), my)
    d = _xor_rotr32(d, a, 8)
    c = _add32(c, d)
    b = _xor_rotr32(b, c, 7)
    return a, b, c, d


@_kernel
def _round(s, m):  # type: ignore[no-untyped-def]
    v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 = s
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m[0], m[1])
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m[2], m[3])
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m[4], m[5])
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m[6], m[7])
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m[8], m[9])
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m[10], m[11])
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m[12], m[13])
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m[14], m[15])
    return (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15)


@_kernel
def _permute(m):  # type: ignore[no-untyped-def]
    # BLAKE3's message permutation between rounds: new[i] = old[PERM[i]]
    return (m[2], m[6], m[3], m[10], m[7], m[0], m[4], m[13],
            m[1], m[11], m[12], m[5], m[9], m[14], m[15], m[8])  # fmt: skip


@_kernel
def _compress_lanes(st: U32, counter: int, block_len: int, flags: int) -> None:
    """Compress the message rows of scratch ``st`` into its chaining-value rows, in every lane.

    One loop over lanes holds the whole compression, so the 7 rounds stay in SIMD registers. The trip
    count is the constant LANES (a short last group computes some stale lanes that nobody reads): with
    a variable count LLVM cannot prove the rows disjoint and leaves the loop scalar, 5x slower.
    """
    c_lo = np.uint32(counter & 0xFFFFFFFF)
    c_hi = np.uint32(counter >> 32)
    bl = np.uint32(block_len)
    fl = np.uint32(flags)
    for lane in range(LANES):
        m = (
            st[_MSG + 0 * LANES + lane], st[_MSG + 1 * LANES + lane], st[_MSG + 2 * LANES + lane],
            st[_MSG + 3 * LANES + lane], st[_MSG + 4 * LANES + lane], st[_MSG + 5 * LANES + lane],
            st[_MSG + 6 * LANES + lane], st[_MSG + 7 * LANES + lane], st[_MSG + 8 * LANES + lane],
            st[_MSG + 9 * LANES + lane], st[_MSG + 10 * LANES + lane], st[_MSG + 11 * LANES + lane],
            st[_MSG + 12 * LANES + lane], st[_MSG + 13 * LANES + lane], st[_MSG + 14 * LANES + lane],
            st[_MSG + 15 * LANES + lane],
        )  # fmt: skip
        s = (
            st[0 * LANES + lane], st[1 * LANES + lane], st[2 * LANES + lane], st[3 * LANES + lane],
            st[4 * LANES + lane], st[5 * LANES + lane], st[6 * LANES + lane], st[7 * LANES + lane],
            _IV0, _IV1, _IV2, _IV3, c_lo, c_hi, bl, fl,
        )  # fmt: skip
        s = _round(s, m)
        m = _permute(m)
        s = _round(s, m)
        m = _permute(m)
        s = _round(s, m)
        m = _permute(m)
        s = _round(s, m)
        m = _permute(m)
        s = _round(s, m)
        m = _permute(m)
        s = _round(s, m)
        m = _permute(m)
        s = _round(s, m)
        st[0 * LANES + lane] = _xor32(s[0], s[8])
        st[1 * LANES + lane] = _xor32(s[1], s[9])
        st[2 * LANES + lane] = _xor32(s[2], s[10])
        st[3 * LANES + lane] = _xor32(s[3], s[11])
        st[4 * LANES + lane] = _xor32(s[4], s[12])
        st[5 * LANES + lane] = _xor32(s[5], s[13])
        st[6 * LANES + lane] = _xor32(s[6], s[14])
        st[7 * LANES + lane] = _xor32(s[7], s[15])


@_kernel
def _set_iv(st: U32) -> None:
    for i in range(8):
        w = _IV[i]
        for lane in range(LANES):
            st[_CV + i * LANES + lane] = w


@_kernel
def _parent_lanes(left: U32, st: U32, flags: int) -> None:
    """BLAKE3 parent node inside one message's chunk tree: cv = compress(IV, left || cv), in place."""
    for i in range(8):
        for lane in range(LANES):
            st[_MSG + i * LANES + lane] = left[i, lane]
            st[_MSG + (8 + i) * LANES + lane] = st[_CV + i * LANES + lane]
    _set_iv(st)
    _compress_lanes(st, 0, BLOCK_BYTES, PARENT | flags)


# --------------------------------------------------------------------------------------------------
# leaves: salted rows of a column-major matrix


@_kernel
def _fill_leaf_block(cols: U64, salts: U8, j0: int, n: int, block: int, header: int, total: int, st: U32) -> None:
    """Message word w of block ``block`` of leaf j0+l into ``st``; a word's case is the same for all lanes."""
    k = cols.shape[0]
    for w in range(16):
        row = _MSG + w * LANES
        pos = block * BLOCK_BYTES + 4 * w
        if pos >= total:
            for lane in range(n):
                st[row + lane] = 0
        elif pos < header:
            # the few words that touch the prefix and the salt, byte by byte (each byte's source is the
            # same for all lanes, so the lane loops stay simple)
            for lane in range(n):
                st[row + lane] = 0
            for b in range(4):
                p = pos + b
                sh = np.uint64(8 * b)
                if p == 0:
                    for lane in range(n):
                        st[row + lane] |= np.uint32(np.uint64(LEAF_PREFIX) << sh)
                elif p < header:
                    for lane in range(n):
                        st[row + lane] |= np.uint32(np.uint64(salts[j0 + lane, p - 1]) << sh)
                elif p < total:
                    q = p - header
                    c = q >> 3
                    shq = np.uint64(8 * (q & 7))
                    for lane in range(n):
                        st[row + lane] |= np.uint32(((cols[c, j0 + lane] >> shq) & _M8) << sh)
        else:
            q = pos - header
            c = q >> 3
            r = q & 7
            sh = np.uint64(8 * r)
            if r > 4 and c + 1 < k:
                # the word straddles two values: high bytes of column c, low bytes of column c+1
                sh2 = np.uint64(64 - 8 * r)
                for lane in range(n):
                    j = j0 + lane
                    st[row + lane] = np.uint32(((cols[c, j] >> sh) | (cols[c + 1, j] << sh2)) & _M32)
            else:
                for lane in range(n):
                    st[row + lane] = np.uint32((cols[c, j0 + lane] >> sh) & _M32)


@_kernel
def _hash_leaves_range(cols: U64, salts: U8, out: U32, lo: int, hi: int) -> None:
    """Leaves lo..hi-1, a lane group at a time."""
    header = 1 + salts.shape[1]
    total = header + 8 * cols.shape[0]
    n_chunks = (total + CHUNK_BYTES - 1) // CHUNK_BYTES
    depth = 1
    while (1 << depth) < n_chunks:
        depth += 1
    st = np.zeros(SCRATCH_WORDS, dtype=np.uint32)
    stack = np.zeros((depth + 1, 8, LANES), dtype=np.uint32)
    for j0 in range(lo, hi, LANES):
        n = min(LANES, hi - j0)
        sp = 0
        for t in range(n_chunks):
            start = t * CHUNK_BYTES
            length = min(CHUNK_BYTES, total - start)
            n_blocks = (length + BLOCK_BYTES - 1) // BLOCK_BYTES
            _set_iv(st)
            for b in range(n_blocks):
                flags = 0
                if b == 0:
                    flags |= CHUNK_START
                if b == n_blocks - 1:
                    flags |= CHUNK_END
                    if n_chunks == 1:
                        flags |= ROOT
                block_len = min(BLOCK_BYTES, length - b * BLOCK_BYTES)
                _fill_leaf_block(cols, salts, j0, n, start // BLOCK_BYTES + b, header, total, st)
                _compress_lanes(st, t, block_len, flags)
            if t < n_chunks - 1:
                # BLAKE3's lazy chunk tree: merge completed subtrees while the chunk count has trailing zeros
                done = t + 1
                while done & 1 == 0:
                    sp -= 1
                    _parent_lanes(stack[sp], st, 0)
                    done >>= 1
                for i in range(8):
                    for lane in range(LANES):
                        stack[sp, i, lane] = st[_CV + i * LANES + lane]
                sp += 1
            else:
                while sp > 0:
                    sp -= 1
                    _parent_lanes(stack[sp], st, ROOT if sp == 0 else 0)
        for lane in range(n):
            for i in range(8):
                out[j0 + lane, i] = st[_CV + i * LANES + lane]


# --------------------------------------------------------------------------------------------------
# Merkle nodes: BLAKE3(0x01 || left || right), 65 bytes, two blocks of one chunk


@_kernel
def _hash_nodes_range(words: U32, out: U32, lo: int, hi: int) -> None:
    """Parents lo..hi-1, a lane group at a time."""
    st = np.zeros(SCRATCH_WORDS, dtype=np.uint32)
    tmp = np.zeros(16 * LANES, dtype=np.uint32)
    for p0 in range(lo, hi, LANES):
        n = min(LANES, hi - p0)
        # The 16 words of parent p's children are words[16p : 16p + 16]; gather them lane-major first.
        for w in range(16):
            for lane in range(n):
                tmp[w * LANES + lane] = words[16 * (p0 + lane) + w]
        # The 0x01 prefix shifts every child byte up one position: message word w is child word w
        # shifted left by 8 bits, with the top byte of child word w-1 (or the prefix) below it.
        for lane in range(LANES):
            st[_MSG + lane] = np.uint32(((np.uint64(tmp[lane]) << _SH8) | np.uint64(NODE_PREFIX)) & _M32)
        for w in range(1, 16):
            for lane in range(LANES):
                cur = np.uint64(tmp[w * LANES + lane])
                prev = np.uint64(tmp[(w - 1) * LANES + lane])
                st[_MSG + w * LANES + lane] = np.uint32(((cur << _SH8) | (prev >> _SH24)) & _M32)
        _set_iv(st)
        _compress_lanes(st, 0, BLOCK_BYTES, CHUNK_START)
        for lane in range(LANES):
            st[_MSG + lane] = np.uint32(np.uint64(tmp[15 * LANES + lane]) >> _SH24)
        for w in range(1, 16):
            for lane in range(LANES):
                st[_MSG + w * LANES + lane] = 0
        _compress_lanes(st, 0, 1, CHUNK_END | ROOT)
        for lane in range(n):
            for i in range(8):
                out[p0 + lane, i] = st[_CV + i * LANES + lane]


# --------------------------------------------------------------------------------------------------
# public API


_PARALLEL_MIN = 4096  # below this many messages a second thread costs more than it saves
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0  # a forked child (a process pool of provers) inherits the pool object but not its threads
_pool_threads = 0


def _run_split(kernel: Callable[..., None], args: tuple[Any, ...], n_items: int) -> None:
    """Run ``kernel(*args, lo, hi)`` over [0, n_items) in lane-aligned ranges on all cores.

    The kernels release the GIL, so plain threads run them in parallel; this costs no compile time,
    unlike numba's ``parallel=True`` (which tripled the cold compile of these kernels).
    """
    global _pool, _pool_pid, _pool_threads
    threads = int(nb.get_num_threads())
    if n_items < _PARALLEL_MIN or threads < 2:
        kernel(*args, 0, n_items)
        return
    if _pool is None or _pool_pid != os.getpid() or _pool_threads != threads:
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bastion-hash")
        _pool_pid, _pool_threads = os.getpid(), threads
    # a few ranges per thread so an uneven split still keeps every core busy to the end
    step = -(-n_items // (4 * threads))
    step = -(-step // LANES) * LANES
    futures = [_pool.submit(kernel, *args, lo, min(n_items, lo + step)) for lo in range(0, n_items, step)]
    for f in futures:
        f.result()


def hash_leaves(columns: U64, salts: U8 | None = None) -> U8:
    """Leaf digests ``(N, 32)`` of the rows of a matrix given column-major as ``columns`` ``(k, N)``.

    ``salts`` is ``(N, S)`` uint8 (``S`` may be 0) or None for unsalted leaves. Any ``k >= 1`` works;
    rows longer than 1024 bytes are hashed through BLAKE3's chunk tree.
    """
    cols = np.ascontiguousarray(columns, dtype=np.uint64)
    if cols.ndim != 2 or cols.shape[0] < 1:
        raise ValueError(f"columns must have shape (k, N) with k >= 1, got {cols.shape}")
    if not cols.flags.writeable:
        cols = cols.copy()  # numba compiles read-only arrays as a separate type: avoid a second compile
    n = cols.shape[1]
    if salts is None:
        salt_arr = np.zeros((n, 0), dtype=np.uint8)
    else:
        salt_arr = np.ascontiguousarray(salts, dtype=np.uint8)
        if salt_arr.ndim != 2 or salt_arr.shape[0] != n:
            raise ValueError(f"salts must have shape ({n}, S), got {salt_arr.shape}")
        if not salt_arr.flags.writeable:
            salt_arr = salt_arr.copy()
    out = np.empty((n, 8), dtype=np.uint32)
    if n:
        _run_split(_hash_leaves_range, (cols, salt_arr, out), n)
    return out.view(np.uint8)


def hash_nodes(children: U8) -> U8:
    """Parent digests ``(M, 32)`` of ``(2M, 32)`` children: parent i = BLAKE3(0x01 || c[2i] || c[2i+1])."""
    ch = np.ascontiguousarray(children, dtype=np.uint8)
    if ch.ndim != 2 or ch.shape[1] != DIGEST_BYTES or ch.shape[0] % 2:
        raise ValueError(f"children must have shape (2M, 32), got {ch.shape}")
    if not ch.flags.writeable:
        ch = ch.copy()
    m = ch.shape[0] // 2
    out = np.empty((m, 8), dtype=np.uint32)
    if m:
        _run_split(_hash_nodes_range, (ch.view(np.uint32).reshape(-1), out), m)
    return out.view(np.uint8)
