"""What a balance source's node answers, read on the one amount grammar (`por/format/amounts.py`).

Nodes state balances two ways: whole base units (a JSON integer or its decimal string: XRPL drops, lamports,
yoctoNEAR, ...), or coins with a fixed number of fraction digits (`scantxoutset`'s UTXO amounts, read with
`parse_float=Decimal` so no binary float ever touches them). Either way the text must match the grammar a
snapshot's amounts match: no sign, no exponent, no Unicode digits, nothing past the chain's precision. A value
that does not is the node's fault and names the address it was asked about.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bastion.por.format.amounts import units_or_none
from bastion.por.reserves.verify import BalanceSourceError


def base_units(value: Any, decimals: int, what: str) -> Decimal:
    """A balance a node states in whole base units, as coins: ``base_units("1500000", 6, ...) == Decimal("1.5")``.

    Only a JSON integer or a string is read; a JSON fraction (even ``5.0``) is refused, as is ``"1e3"``.
    """
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    units = units_or_none(text, 0) if text is not None else None
    if units is None:
        raise BalanceSourceError(f"{what}: not a whole number of base units: {value!r}")
    return Decimal(units).scaleb(-decimals)


def coin_amount(value: Any, decimals: int, what: str) -> Decimal:
    """An amount a node states in coins (`scantxoutset`: ``0.00012000`` BTC), exactly, with at most `decimals`
    fraction digits that are not zero."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise BalanceSourceError(f"{what}: not an amount: {value!r}")
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    units = units_or_none(text, decimals)
    if units is None:
        raise BalanceSourceError(f"{what}: not an amount of at most {decimals} decimals: {value!r}")
    return Decimal(units).scaleb(-decimals)


def scanned_balances(
    chain: str, result: dict[str, Any], by_script: Mapping[str, str], queries: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Decimal]:
    """Each queried (address, asset)'s balance from a `scantxoutset` result: the sum of its unspent outputs'
    amounts (8 decimals), found by their scriptPubKey (`by_script`: hex -> address); 0 for an address without."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for utxo in result.get("unspents", []):
        address = by_script.get(str(utxo.get("scriptPubKey", "")))
        if address is not None:
            totals[address] += coin_amount(utxo.get("amount"), 8, f"{chain} {address}")
    return {(a, asset): totals.get(a, Decimal(0)) for a, asset in queries}
