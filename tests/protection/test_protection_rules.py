"""Pure user-protection rules: cooling-off periods and order effects, mistaken-deposit cases and fees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from bastion.protection.cooling_off import (
    CoolingOffError,
    InstType,
    OrderEffect,
    OrderSide,
    Period,
    PosSide,
    classify_order,
    new_end,
    period_days,
    precheck,
)
from bastion.protection.deposits import (
    TRANSITIONS,
    CaseError,
    CaseState,
    DepositReason,
    ObservedDeposit,
    automatic_return,
    check_transition,
    mistake_reason,
)
from bastion.protection.settings import default_deposits

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
LISTING = default_deposits().listing()
BUY, SELL = OrderSide.BUY, OrderSide.SELL


# --- cooling-off periods ------------------------------------------------------------------------------


def test_periods() -> None:
    assert [period_days(p) for p in (Period.DAY, Period.WEEK, Period.MONTH)] == [1, 7, 30]
    assert period_days(Period.CUSTOM, 365) == 365
    for bad in (None, 0, 366, -3):
        with pytest.raises(CoolingOffError, match="custom_days"):
            period_days(Period.CUSTOM, bad)
    with pytest.raises(CoolingOffError, match="custom_days"):
        period_days(Period.WEEK, 3)


def test_cannot_be_shortened_only_extended() -> None:
    end = new_end(NOW, 30, None)
    assert end == NOW + timedelta(days=30)
    later = NOW + timedelta(days=2)
    with pytest.raises(CoolingOffError, match="cannot be shortened"):
        new_end(later, 7, end)
    assert new_end(later, 30, end) == later + timedelta(days=30)
    # Once a period is over, a shorter one is a fresh start.
    assert new_end(end + timedelta(seconds=1), 1, end) == end + timedelta(days=1, seconds=1)


# --- order effects ------------------------------------------------------------------------------------

ONE_WAY = [
    # side, size, reduce_only, position, expected
    (BUY, "1", False, "0", OrderEffect.OPEN),
    (SELL, "1", False, "0", OrderEffect.OPEN),
    (BUY, "1", False, "2", OrderEffect.INCREASE),
    (SELL, "1", False, "-2", OrderEffect.INCREASE),
    (SELL, "1", False, "2", OrderEffect.REDUCE),
    (BUY, "1", False, "-2", OrderEffect.REDUCE),
    (SELL, "2", False, "2", OrderEffect.CLOSE),
    (SELL, "3", False, "2", OrderEffect.FLIP),
    (BUY, "3", False, "-2", OrderEffect.FLIP),
    (SELL, "3", True, "2", OrderEffect.CLOSE),  # reduce-only is capped at the position
    (BUY, "1", True, "2", OrderEffect.REDUCE),  # reduce-only on the same side cannot add
    (BUY, "1", True, "0", OrderEffect.REDUCE),
]


@pytest.mark.parametrize(("side", "size", "reduce_only", "position", "expected"), ONE_WAY)
def test_one_way_mode(
    side: OrderSide, size: str, reduce_only: bool, position: str, expected: OrderEffect
) -> None:
    assert classify_order(InstType.SWAP, side, PosSide.NET, D(size), reduce_only, D(position)) is expected


def test_hedge_mode() -> None:
    def c(side: OrderSide, pos_side: PosSide, size: str, leg: str) -> OrderEffect:
        return classify_order(InstType.FUTURES, side, pos_side, D(size), False, D(leg))

    assert c(BUY, PosSide.LONG, "1", "0") is OrderEffect.OPEN
    assert c(BUY, PosSide.LONG, "1", "1") is OrderEffect.INCREASE
    assert c(SELL, PosSide.SHORT, "1", "0") is OrderEffect.OPEN
    assert c(SELL, PosSide.LONG, "1", "3") is OrderEffect.REDUCE
    assert c(BUY, PosSide.SHORT, "3", "3") is OrderEffect.CLOSE
    with pytest.raises(CoolingOffError, match="reduceOnly"):
        classify_order(InstType.SWAP, BUY, PosSide.LONG, D(1), True, D(0))


def test_spot_and_margin_are_not_derivatives() -> None:
    for inst in (InstType.SPOT, InstType.MARGIN):
        assert classify_order(inst, BUY, PosSide.NET, D(5), False, D(0)) is OrderEffect.NOT_DERIVATIVE


def test_bad_size_names_the_field() -> None:
    with pytest.raises(CoolingOffError, match="sz"):
        classify_order(InstType.OPTION, BUY, PosSide.NET, D(0), False, D(0))


def test_precheck_refuses_only_risk_increasing_orders_while_active() -> None:
    until = NOW + timedelta(days=1)
    for effect in OrderEffect:
        decision = precheck(effect, until, NOW)
        refused = effect in (OrderEffect.OPEN, OrderEffect.INCREASE, OrderEffect.FLIP)
        assert decision.allowed is not refused, effect
        assert (decision.reason is not None) is refused
        assert decision.cooling_off_until == until
    # Expired or never set: everything goes.
    assert precheck(OrderEffect.OPEN, NOW, NOW).allowed
    assert precheck(OrderEffect.OPEN, None, NOW).allowed


# --- mistaken deposits --------------------------------------------------------------------------------


def _dep(chain: str, token: str, memo: str | None = None, matches: bool = False) -> ObservedDeposit:
    return ObservedDeposit(chain, "0xabc", token, "addr", memo, matches)


def test_reasons() -> None:
    assert mistake_reason(_dep("ETH", "USDT"), LISTING) is None
    assert mistake_reason(_dep("ETH", "TRX"), LISTING) is DepositReason.WRONG_NETWORK
    assert mistake_reason(_dep("TRON", "USDC"), LISTING) is DepositReason.WRONG_NETWORK
    assert mistake_reason(_dep("ETH", "PEPE2"), LISTING) is DepositReason.UNLISTED_TOKEN
    assert mistake_reason(_dep("XRP", "XRP"), LISTING) is DepositReason.MISSING_MEMO
    assert (
        mistake_reason(_dep("XRP", "XRP", "123", matches=False), LISTING)
        is DepositReason.MISSING_MEMO
    )
    assert mistake_reason(_dep("XRP", "XRP", "123", matches=True), LISTING) is None


def test_state_machine_allows_only_listed_moves() -> None:
    path = [CaseState.INVESTIGATING, CaseState.RECOVERABLE, CaseState.RETURNED, CaseState.CLOSED]
    state = CaseState.OPENED
    for nxt in path:
        check_transition(state, nxt)
        state = nxt
    every = set(CaseState)
    for current, allowed in TRANSITIONS.items():
        for target in every - allowed:
            with pytest.raises(CaseError, match="state"):
                check_transition(current, target)
    # No way out of closed, no way back to opened.
    assert not TRANSITIONS[CaseState.CLOSED]
    assert all(CaseState.OPENED not in a for a in TRANSITIONS.values())


def test_fees() -> None:
    fees = default_deposits().fees()
    # 5% of 1000 USD = 50 USD = 0.5 token at 100 USD.
    assert fees.fee(D(10), D(1000), automatic=False, unit=D("0.0001")) == D("0.5")
    # Floor of 20 USD on a 100 USD deposit.
    assert fees.fee(D(1), D(100), automatic=False, unit=D("0.0001")) == D("0.2")
    # Never more than the deposit.
    assert fees.fee(D(1), D(5), automatic=False, unit=D("0.0001")) == D(1)
    # Automatic: the network fee only, rounded up.
    assert fees.fee(D(3), D(900), automatic=True, unit=D("0.0001")) == D("0.0067")


def test_automatic_return_only_for_unlisted_tokens_worth_the_fee() -> None:
    fees = default_deposits().fees()
    assert automatic_return(DepositReason.UNLISTED_TOKEN, "ETH", D(50), LISTING, fees)
    assert not automatic_return(DepositReason.UNLISTED_TOKEN, "ETH", D(1), LISTING, fees)
    assert not automatic_return(DepositReason.UNLISTED_TOKEN, "XRP", D(50), LISTING, fees)
    assert not automatic_return(DepositReason.WRONG_NETWORK, "ETH", D(50), LISTING, fees)
