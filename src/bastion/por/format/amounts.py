"""The one amount grammar of proof of reserves, with its column kernel and its formatters.

Every amount bastion reads (a snapshot's equity and debt, an asset's price, round.json's totals, a user
proof's rows, a wallet set's balances) is parsed here, by one grammar, so that no two readers disagree on a
string:

    AMOUNT := ("0" | [1-9][0-9]*) ("." [0-9]+)?        ASCII digits only
    SIGNED := "-"? AMOUNT                             only where a negative amount is legal (net liabilities)

No "+" sign, exponent, space, thousands separator, leading zero ("01.5"), leading or trailing dot ("1.",
".5"). What differs between callers is a parameter, never a second parser: the asset's decimals (a non-zero
fraction digit beyond them is TOO_PRECISE; padding zeros are fine, since exports often pad every asset to 18
places), an exclusive cap (TOO_LARGE), and whether a sign is legal (else a well-formed "-1.5" is NEGATIVE).

`1.5` in an asset with 8 decimals is `150000000` base units. A float never touches an amount: `parse_units`
builds the exact integer, and the numba kernel behind `parse_column` reads the UTF-8 bytes of an Arrow
column and builds the integer digit by digit, stopping at the asset's cap, so no intermediate value can
overflow. The kernel is tested against `parse_units` (tests/por/test_amount_grammar.py).
"""

from __future__ import annotations

import re
from decimal import Decimal

OK = 0
MALFORMED = 1
NEGATIVE = 2
TOO_PRECISE = 3  # a non-zero digit past the asset's decimals
TOO_LARGE = 4  # at or above the asset's cap
SKIPPED = 5  # decimals < 0: the row's asset is unknown, reported elsewhere


# the grammar above: (sign, whole, fraction); every reader matches with fullmatch ("$" would let "1\n" in)
AMOUNT = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")


def parse_units(text: str, decimals: int, *, cap: int | None = None, signed: bool = False) -> tuple[int, int]:
    """`(base units, status)` of one string: the grammar itself, the same contract as the kernel.

    The value is 0 unless the status is OK. `cap` is exclusive; `signed` lets a well-formed "-AMOUNT" through
    as a negative value (else its status is NEGATIVE); decimals < 0 is SKIPPED (an unknown asset's row).
    """
    if decimals < 0:
        return 0, SKIPPED
    m = AMOUNT.fullmatch(text)
    if m is None:
        return 0, MALFORMED
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if sign and not signed:
        return 0, NEGATIVE
    if frac[decimals:].strip("0"):
        return 0, TOO_PRECISE
    value = int(whole + frac[:decimals].ljust(decimals, "0"))
    if cap is not None and value >= cap:
        return 0, TOO_LARGE
    return (-value if sign else value), OK


def units_or_none(text: str, decimals: int, *, signed: bool = False) -> int | None:
    """The base units of `text`, or None when the grammar refuses it (malformed, negative, too precise)."""
    value, status = parse_units(text, decimals, signed=signed)
    return value if status == OK else None


def parse_amount(text: str, decimals: int | None = None) -> Decimal:
    """The amount in `text` as an exact `Decimal`; ValueError with a short reason when it is not one.

    With `decimals`, non-zero digits past the asset's precision are refused (padding zeros are fine); without,
    any number of fraction digits is (a price).
    """
    m = AMOUNT.fullmatch(text)
    if m is None:
        raise ValueError(f"not a decimal amount: {text!r}")
    if m.group(1):
        raise ValueError(f"negative amount {text!r}")
    if decimals is not None and (m.group(3) or "")[decimals:].strip("0"):
        raise ValueError(f"{text} has more than {decimals} decimals")
    return Decimal(text)


def decimal_or_none(text: str) -> Decimal | None:
    """`parse_amount` without a precision limit, or None: a price, a haircut weight, a USD threshold."""
    try:
        return parse_amount(text)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------------ formatters
def units_to_decimal(units: int, decimals: int, *, trim: bool = False) -> str:
    """Exact decimal string of base units, keeping the sign (net liabilities can be negative). All `decimals`
    fraction digits are written (round.json's totals), or with `trim` trailing zeros are dropped
    (``150000000``, 8 -> ``1.5``: what a user is shown)."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    if decimals == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**decimals)
    frac_s = str(frac).rjust(decimals, "0")
    if trim:
        frac_s = frac_s.rstrip("0")
        if not frac_s:
            return f"{sign}{whole}"
    return f"{sign}{whole}.{frac_s}"


def format_units(units: int, decimals: int) -> str:
    """``units`` base units as a plain decimal string with trailing zeros trimmed (``150000000``, 8 -> ``1.5``)."""
    return units_to_decimal(units, decimals, trim=True)


def fmt_amount(value: Decimal) -> str:
    """A `Decimal` as a plain decimal string (no exponent), trailing zeros dropped."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
