"""Balances a node states are read on the one amount grammar: exact, or refused with the address named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bastion.por.reserves.node_amounts import base_units, coin_amount
from bastion.por.reserves.verify import BalanceSourceError


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [(1500000, 6, Decimal("1.5")), ("1500000", 6, Decimal("1.5")), ("0", 9, Decimal(0)), (10**30, 24, Decimal(10**6))],
)
def test_base_units_exact(value: object, decimals: int, expected: Decimal) -> None:
    assert base_units(value, decimals, "xrpl rAddr") == expected


# str.isdigit() said yes to the superscript and the Arabic-Indic digits; int() then raised a bare ValueError
@pytest.mark.parametrize("value", ["²", "\u0663", "1e3", "-5", " 5", "5\n", "", "01", Decimal("5.0"), 5.5, True, None])
def test_base_units_refuses_what_the_grammar_refuses(value: object) -> None:
    with pytest.raises(BalanceSourceError, match=r"near alice\.near: not a whole number of base units"):
        base_units(value, 24, "near alice.near")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.00012000"), Decimal("0.00012")),
        (Decimal("1E-8"), Decimal("0.00000001")),  # JSON allows the exponent; the value is what counts
        (Decimal("21000000"), Decimal(21000000)),
        (3, Decimal(3)),
    ],
)
def test_coin_amount_exact(value: object, expected: Decimal) -> None:
    assert coin_amount(value, 8, "bitcoin bc1q") == expected


@pytest.mark.parametrize("value", [Decimal("0.000000001"), Decimal("-1"), Decimal("NaN"), 0.1, "abc", None, False])
def test_coin_amount_refuses(value: object) -> None:
    with pytest.raises(BalanceSourceError, match="bitcoin bc1q: not an amount"):
        coin_amount(value, 8, "bitcoin bc1q")
