"""Exact decimal amounts as written in round.json and wallet sets: `DIGITS` or `DIGITS.DIGITS`.

The same strict syntax as the liabilities snapshot (no sign, exponent, spaces or separators), parsed into
`Decimal` so that no float ever touches an amount.
"""

from __future__ import annotations

import re
from decimal import Decimal

_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_amount(text: str, decimals: int | None = None) -> Decimal:
    """The amount in `text`; ValueError with a short reason when it is not one.

    With `decimals`, non-zero digits past the asset's precision are refused (padding zeros are fine).
    """
    if text.startswith("-") and _AMOUNT.fullmatch(text[1:]):
        raise ValueError(f"negative amount {text!r}")
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"not a decimal amount: {text!r}")
    if decimals is not None:
        _, _, frac = text.partition(".")
        if frac[decimals:].strip("0"):
            raise ValueError(f"{text} has more than {decimals} decimals")
    return Decimal(text)


def fmt_amount(value: Decimal) -> str:
    """A plain decimal string (no exponent), trailing zeros dropped."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
