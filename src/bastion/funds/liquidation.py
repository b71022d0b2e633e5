"""What a liquidation leaves the fund: surplus or shortfall, from bankruptcy price, fill price and size.

A liquidated position is closed by the liquidation engine at the fill price. Its margin is exactly used up at
the bankruptcy price, so the gap between the two prices, times the size, is what the fund gains (filled
better than bankruptcy) or must pay (filled worse). Exchanges book the first as a liquidation surplus and the
second as a bankruptcy loss.

Linear contracts (USDT/USDC-margined) settle price differences in the quote currency: exact in Decimal.
Inverse contracts (coin-margined) settle in the coin, `contract value / price`, which is not a finite
decimal in general; it is rounded to the settlement currency's unit, always against the fund (a surplus
down, a shortfall up) so the fund never books income that does not exist.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, Inexact, localcontext


class PositionSide(enum.StrEnum):
    LONG = "long"
    SHORT = "short"


class ContractType(enum.StrEnum):
    LINEAR = "linear"
    INVERSE = "inverse"


class LiquidationError(ValueError):
    """A liquidation whose numbers cannot be booked; the message names the field."""


@dataclass(frozen=True, slots=True)
class LiquidationOutcome:
    """Signed result for the fund: positive is a surplus the fund receives, negative a loss it covers."""

    amount: Decimal

    @property
    def surplus(self) -> Decimal:
        return self.amount if self.amount > 0 else Decimal(0)

    @property
    def shortfall(self) -> Decimal:
        return -self.amount if self.amount < 0 else Decimal(0)


def liquidation_outcome(
    side: PositionSide,
    size: Decimal,
    bankruptcy_price: Decimal,
    fill_price: Decimal,
    contract_type: ContractType = ContractType.LINEAR,
    contract_value: Decimal = Decimal(1),
    unit: Decimal = Decimal("0.00000001"),
) -> LiquidationOutcome:
    """Surplus (+) or shortfall (-) for the fund when a position of `size` is closed at `fill_price`.

    `size` counts contracts; `contract_value` is the base quantity (linear) or quote value (inverse) of one.
    A long is sold by the engine: filling above bankruptcy leaves a surplus. A short is bought back: filling
    below bankruptcy leaves a surplus.
    """
    for name, value in (
        ("size", size),
        ("bankruptcy_price", bankruptcy_price),
        ("fill_price", fill_price),
        ("contract_value", contract_value),
    ):
        if not value.is_finite() or value <= 0:
            raise LiquidationError(f"{name} must be a positive number, got {value}")
    sign = 1 if side is PositionSide.LONG else -1
    if contract_type is ContractType.LINEAR:
        # Decimal products are exact given enough digits; trap Inexact so a silent rounding fails loud.
        with localcontext() as ctx:
            ctx.prec = 80
            ctx.traps[Inexact] = True
            return LiquidationOutcome(sign * (fill_price - bankruptcy_price) * size * contract_value)
    # Inverse: a long holding `n` contracts of `v` quote value is worth n*v/price coins; selling at the fill
    # instead of bankruptcy gains n*v*(1/bankruptcy - 1/fill) coins. ROUND_FLOOR takes a surplus down and a
    # (negative) shortfall further from zero: both against the fund.
    with localcontext() as ctx:
        ctx.prec = 80
        exact = (
            sign * size * contract_value * (fill_price - bankruptcy_price) / (fill_price * bankruptcy_price)
        )
        return LiquidationOutcome(exact.quantize(unit, rounding=ROUND_FLOOR) + 0)
