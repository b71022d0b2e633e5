"""Plain-Python oracle of the Goldilocks base-field kernels (``bastion.stark.field.goldilocks``): Python
integers reduced mod p. The extension arithmetic's oracle is the production ``bastion.stark.field.scalar``."""

from __future__ import annotations

from bastion.stark.field.scalar import P


def add(a: int, b: int) -> int:
    return (a + b) % P


def sub(a: int, b: int) -> int:
    return (a - b) % P


def mul(a: int, b: int) -> int:
    return (a * b) % P
