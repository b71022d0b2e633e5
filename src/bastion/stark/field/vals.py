"""Field values for writing constraints once and evaluating them on both sides.

A ``Val`` wraps a uint64 array: shape ``(m,)`` for base-field values or ``(m, 2)`` for extension values.
The prover evaluates an AIR's constraints with Vals holding whole chunks of the low-degree-extension
domain; the verifier evaluates the very same code with Vals of length one holding values at the
out-of-domain point. Base and extension mix freely (a base value is promoted when it meets an extension
value); Python ints are constants.
"""

from __future__ import annotations

from typing import Union

import numpy as np
from numpy.typing import NDArray

from bastion.stark.field import goldilocks as F

U64 = NDArray[np.uint64]
Operand = Union["Val", int]


def _const(c: int) -> np.uint64:
    return np.uint64(c % F.P_INT)


class Val:
    __slots__ = ("data",)

    def __init__(self, data: U64) -> None:
        self.data = data

    # -- construction ---------------------------------------------------------------------------
    @staticmethod
    def ext_scalar(c0: int, c1: int = 0) -> Val:
        return Val(np.array([[c0 % F.P_INT, c1 % F.P_INT]], dtype=np.uint64))

    @staticmethod
    def base_scalar(c: int) -> Val:
        return Val(np.array([c % F.P_INT], dtype=np.uint64))

    @property
    def is_ext(self) -> bool:
        return self.data.ndim == 2

    def as_ext(self) -> U64:
        if self.is_ext:
            return self.data
        out = np.zeros((self.data.shape[0], 2), dtype=np.uint64)
        out[:, 0] = self.data
        return out

    # -- arithmetic -----------------------------------------------------------------------------
    def __add__(self, other: Operand) -> Val:
        if isinstance(other, np.integer):
            other = int(other)  # before any negation: -np.uint64 wraps mod 2^64, not mod p
        if isinstance(other, int):
            if self.is_ext:
                out = self.data.copy()
                out[:, 0] = F.add_vec(out[:, 0], _const(other))
                return Val(out)
            return Val(F.add_vec(self.data, _const(other)))
        if self.is_ext == other.is_ext:
            return Val(F.add_vec(self.data, other.data))
        ext, base = (self, other) if self.is_ext else (other, self)
        out = np.array(np.broadcast_to(ext.data, (max(ext.data.shape[0], base.data.shape[0]), 2)))
        out[:, 0] = F.add_vec(out[:, 0], base.data)
        return Val(out)

    __radd__ = __add__

    def __neg__(self) -> Val:
        return Val(F.neg_vec(self.data))

    def __sub__(self, other: Operand) -> Val:
        if isinstance(other, np.integer):
            other = int(other)
        return self + (-other)

    def __rsub__(self, other: Operand) -> Val:
        if isinstance(other, np.integer):
            other = int(other)
        return (-self) + other

    def __mul__(self, other: Operand) -> Val:
        if isinstance(other, np.integer):
            other = int(other)
        if isinstance(other, int):
            return Val(F.mul_vec(self.data, _const(other)))
        if not self.is_ext and not other.is_ext:
            return Val(F.mul_vec(self.data, other.data))
        if self.is_ext and other.is_ext:
            return Val(F.ext_mul_vec(self.data, other.data))
        ext, base = (self, other) if self.is_ext else (other, self)
        return Val(F.mul_vec(ext.data, base.data[:, None]))

    __rmul__ = __mul__

    def __pow__(self, e: int) -> Val:
        if e < 1:
            raise ValueError("Val ** e needs e >= 1")
        result = self
        for _ in range(e - 1):
            result = result * self
        return result

    def __repr__(self) -> str:
        kind = "ext" if self.is_ext else "base"
        return f"Val({kind}, n={self.data.shape[0]})"
