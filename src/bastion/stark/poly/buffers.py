"""Recycled large arrays for the prover's transforms.

On the 2-core reference machine (a VM) a fresh page costs more than the arithmetic done on it: a proof of
2^20 rows x 64 columns spent as much system time faulting in and zeroing fresh memory (~16 s) as user time.
The proof-of-reserves workers prove batch after batch of the same shape in one process, so the big
arrays of one proof (trace evaluations, coefficients, the LDEs) can serve the next one instead of going
back to the OS and being faulted in again. Only arrays that live for a whole proof come from here (the
blinded trace evaluations and the LDEs): keeping them idle until the next proof then adds nothing to a
proof's peak memory, where a recycled temporary would stay resident beside the rest of the proof.

:func:`empty` hands out an uninitialized uint64 array like ``np.empty`` and keeps a reference to it. An
array is handed out again only once nothing else refers to it (its reference count says so: views,
slices and Merkle trees built on it all hold a reference), so a caller can never see its memory reused
while it still holds it. Idle arrays are dropped, oldest first, once the pool holds more than
``BASTION_STARK_POOL_BYTES`` (default 6 GiB; 0 turns recycling off); :func:`release` drops all idle ones.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from numpy.typing import NDArray

U64 = NDArray[np.uint64]

MIN_BYTES = 1 << 24  # below 16 MiB malloc recycles memory itself: pool only what comes fresh from mmap
_DEFAULT_CAP = 6 << 30

_pool: list[U64] = []


def _cap() -> int:
    try:
        return int(os.environ.get("BASTION_STARK_POOL_BYTES", _DEFAULT_CAP))
    except ValueError:
        return _DEFAULT_CAP


def _idle(i: int) -> bool:
    # references: the pool's list, and getrefcount's own argument
    return sys.getrefcount(_pool[i]) <= 2


def empty(shape: tuple[int, ...]) -> U64:
    """An uninitialized C-contiguous uint64 array of ``shape`` (recycled when an idle one fits)."""
    size = int(np.prod(shape)) * 8
    cap = _cap()
    if size < MIN_BYTES or cap <= 0:
        return np.empty(shape, dtype=np.uint64)
    for i in range(len(_pool)):
        if _pool[i].shape == shape and _idle(i):
            arr = _pool.pop(i)
            _pool.append(arr)  # most recently used last
            return arr
    _trim(cap - size)
    arr = np.empty(shape, dtype=np.uint64)
    _pool.append(arr)
    return arr


def _trim(limit: int) -> None:
    """Drop idle arrays, oldest first, until the pool holds at most ``limit`` bytes (arrays in use stay)."""
    total = sum(a.nbytes for a in _pool)
    i = 0
    while total > limit and i < len(_pool):
        if _idle(i):
            total -= _pool.pop(i).nbytes
        else:
            i += 1


def release() -> None:
    """Return every idle array to the OS (a process that has finished proving)."""
    _trim(0)


def pooled_bytes() -> int:
    """Bytes the pool refers to, idle or in use."""
    return sum(a.nbytes for a in _pool)
