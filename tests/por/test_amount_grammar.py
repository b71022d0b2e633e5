"""One amount grammar (issue #15): every reader of an amount in proof of reserves accepts and refuses exactly the
strings `bastion.por.format.amounts.parse_units` does, with the same value.

The former readers disagreed ("01.5", "1." and "-1.5" were taken by some and refused by others); each one is
driven here through the function its callers use, on valid strings and on near misses (leading zeros, a
trailing or leading dot, signs, exponents, spaces, a trailing newline, non-ASCII digits, too many decimals)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bastion.por.format.amount_column import parse_column
from bastion.por.format.amounts import MALFORMED, NEGATIVE, OK, TOO_LARGE, TOO_PRECISE, parse_amount, parse_units
from bastion.por.liabilities.snapshot import parse_haircut_tiers
from bastion.por.reserves.errors import ReservesInputError
from bastion.por.reserves.round_view import parse_round
from bastion.por.verify.round import _units as published_units
from bastion.por.verify.user import decimal_to_units

valid = st.from_regex(r"\A(0|[1-9][0-9]{0,18})(\.[0-9]{1,22})?\Z")
near = st.builds(
    lambda pre, core, post: pre + core + post,
    st.sampled_from(["", "", "-", "+", "0", "00", " ", ".", "--", "٣", "１"]),
    valid,
    st.sampled_from(["", "", ".", "0", "00", "e3", "E-2", " ", "\n", "٣", ".5", "-", ".000000000000000000000001"]),
)
noise = st.text(alphabet="0123456789.-+eE _\n٣１", max_size=16)
amount_text = st.one_of(valid, near, noise)

DECISIONS = ["01.5", "1.", "-1.5", ".5", "1e3", "+1", " 1", "1 ", "1\n", "٣", "1,5", "0", "0.0", "1.50", "-0", "00"]


def _decimal_units(text: str, decimals: int) -> int:
    return int(Decimal(text).scaleb(decimals))


@settings(max_examples=300, deadline=None)
@given(amount_text, st.integers(0, 18), st.integers(1, 60))
@example("01.5", 2, 60)
@example("1.", 2, 60)
@example("-1.5", 2, 60)
@example("1.5\n", 2, 60)
def test_every_reader_agrees_with_the_grammar(text: str, decimals: int, cap_bits: int) -> None:
    value, status = parse_units(text, decimals)
    signed_value, signed_status = parse_units(text, decimals, signed=True)

    # the snapshot's balances: the compiled kernel over an Arrow column, with the asset's cap
    got, got_status = parse_column(pa.array([text], pa.string()), np.array([decimals], np.int8),
                                   np.array([2**cap_bits], np.int64))
    assert (int(got[0]), int(got_status[0])) == parse_units(text, decimals, cap=2**cap_bits)

    # a user's proof: the shown amount must be the units (unsigned)
    assert decimal_to_units(text, decimals) == (value if status == OK else None)

    # round.json's totals as the round verifier reads them (signed: net liabilities)
    assert published_units(text, decimals) == (signed_value if signed_status == OK else None)

    # the reserves side: wallet balances and round.json's liabilities
    if status == OK:
        assert _decimal_units(text, decimals) == value
        assert parse_amount(text, decimals) == Decimal(text)
    else:
        with pytest.raises(ValueError):
            parse_amount(text, decimals)
    assert _reserves_reads(text, decimals) == (Decimal(text) if status == OK else None)


@settings(max_examples=200, deadline=None)
@given(amount_text)
def test_snapshot_prices_and_haircuts_follow_the_grammar(text: str) -> None:
    """Prices, haircut weights and USD thresholds have no decimals limit; the CSV cell is trimmed first."""
    assume(";" not in text and ":" not in text)
    cell = text.strip()
    value, status = parse_units(cell, 40)
    try:
        tiers = parse_haircut_tiers(f"0:{text}")
    except ValueError:
        assert status != OK or value > 10**40  # refused: not an amount, or a weight above 1
    else:
        assert status == OK and tiers[0].weight == Decimal(cell)


def _reserves_reads(text: str, decimals: int) -> Decimal | None:
    raw: dict[str, Any] = {
        "format": "bastion-round/3", "exchange": "X", "round_id": "r1", "snapshot_time": "2026-01-01T00:00:00Z",
        "nonce": "0" * 32, "block_heights": {},
        "assets": [{"asset": "BTC", "decimals": decimals, "price_usd": "1", "total_equity": text, "total_debt": "0",
                    "net_liabilities": "0"}],
    }
    try:
        return parse_round(raw).assets["BTC"].total_equity
    except ReservesInputError:
        return None


@pytest.mark.parametrize("text", DECISIONS)
def test_the_grammar_decides_the_former_disagreements(text: str) -> None:
    """Canonical decimals only: no leading zero but a lone "0", no bare dot, no sign unless the field is signed."""
    expected = {"0": (0, OK), "0.0": (0, OK), "1.50": (150, OK), "-1.5": (0, NEGATIVE), "-0": (0, NEGATIVE)}
    assert parse_units(text, 2) == expected.get(text, (0, MALFORMED))
    assert parse_units("-1.5", 2, signed=True) == (-150, OK)
    assert parse_units("1.001", 2) == (0, TOO_PRECISE)
    assert parse_units("1.000000", 2) == (100, OK)
    assert parse_units("10", 0, cap=10) == (0, TOO_LARGE)
