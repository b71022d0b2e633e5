"""The amount grammar (`bastion.por.format.amounts`) over a whole Arrow string column, compiled.

The numba kernel reads the UTF-8 bytes of the column and builds each integer digit by digit, stopping at the
row's cap, so no intermediate value can overflow; its verdicts and values are those of `amounts.parse_units`
row for row (tests/por/test_amount_grammar.py). Kept apart from the grammar so that the light readers (the
user's verifier, the reserves side) never import numba.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from bastion.por.format.amounts import MALFORMED, NEGATIVE, OK, SKIPPED, TOO_LARGE, TOO_PRECISE

_DOT = 46
_MINUS = 45
_ZERO = 48
_NINE = 57


@nb.njit(cache=True, nogil=True)
def _parse_kernel(
    offsets: Any, data: Any, decimals: Any, caps: Any, out: Any, status: Any
) -> None:  # pragma: no cover - compiled; covered through parse_column against parse_units
    n = out.shape[0]
    for r in range(n):
        out[r] = 0
        dec = np.int64(decimals[r])
        if dec < 0:
            status[r] = SKIPPED
            continue
        cap = np.int64(caps[r])
        # value <= limit guarantees value * 10 + 9 < cap + 10, far from int64 overflow (cap <= 2^60)
        limit = (cap - 1) // 10
        i = np.int64(offsets[r])
        end = np.int64(offsets[r + 1])
        malformed = i == end
        negative = False
        if i < end and data[i] == _MINUS:
            negative = True
            i += 1
        value = np.int64(0)
        big = False
        int_digits = 0
        leading_zero = False  # the integer part starts with 0: it must then be exactly "0"
        frac_digits = 0
        seen_dot = False
        too_precise = False
        while i < end:
            c = data[i]
            i += 1
            if c == _DOT:
                if seen_dot:
                    malformed = True
                    break
                seen_dot = True
                continue
            if c < _ZERO or c > _NINE:
                malformed = True
                break
            d = np.int64(c - _ZERO)
            if seen_dot:
                frac_digits += 1
                if frac_digits > dec:
                    if d != 0:
                        too_precise = True
                    continue
            else:
                if int_digits == 1 and leading_zero:
                    malformed = True
                    break
                if int_digits == 0 and d == 0:
                    leading_zero = True
                int_digits += 1
            if not big:
                if value > limit:
                    big = True
                else:
                    value = value * 10 + d
                    if value >= cap:
                        big = True
        if int_digits == 0 or (seen_dot and frac_digits == 0):
            malformed = True
        if malformed:
            status[r] = MALFORMED
            continue
        if negative:
            status[r] = NEGATIVE
            continue
        if too_precise:
            status[r] = TOO_PRECISE
            continue
        used = frac_digits if frac_digits < dec else dec
        for _ in range(dec - used):
            if big:
                break
            if value > limit:
                big = True
            else:
                value = value * 10
                if value >= cap:
                    big = True
        if big:
            status[r] = TOO_LARGE
            continue
        out[r] = value
        status[r] = OK


def _string_buffers(arr: pa.Array) -> tuple[NDArray[Any], NDArray[np.uint8]]:
    """Offsets (sliced to this array) and data bytes of a string or large_string array, without copies."""
    if arr.null_count:
        arr = arr.fill_null("")
    if pa.types.is_string(arr.type):
        offset_type: Any = np.int32
    elif pa.types.is_large_string(arr.type):
        offset_type = np.int64
    else:
        raise TypeError(f"expected a string array, got {arr.type}")
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def parse_column(
    arr: pa.Array, decimals: NDArray[Any], caps: NDArray[np.int64]
) -> tuple[NDArray[np.uint64], NDArray[np.int8]]:
    """Parse every row of `arr` with its own `decimals[r]` and exclusive cap `caps[r]` (<= 2^60).

    Returns the base-unit values (0 where the status is not OK) and one status code per row.
    """
    n = len(arr)
    if len(decimals) != n or len(caps) != n:
        raise ValueError("decimals and caps must have one entry per row")
    if n and int(np.max(caps)) > 2**60:
        raise ValueError("caps above 2^60 are not supported")
    offsets, data = _string_buffers(arr)
    out = np.empty(n, dtype=np.int64)
    status = np.empty(n, dtype=np.int8)
    if n:
        _parse_kernel(offsets, data, decimals, caps, out, status)
    return out.view(np.uint64), status
