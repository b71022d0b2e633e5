"""Cooling-off period: a user locks themselves out of opening or growing derivatives positions.

Rules: the period is 1, 7 or 30 days, or a custom number of days up to a year. It cannot be shortened or
ended early: a new activation while one runs may only end later. While it runs, every channel refuses an
order that opens or increases a derivatives position (or flips one to the other side, which opens one);
orders that reduce or close are allowed, so the user can always get out of risk. Spot is not concerned.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

MAX_CUSTOM_DAYS = 365


class Period(enum.StrEnum):
    DAY = "1d"
    WEEK = "7d"
    MONTH = "30d"
    CUSTOM = "custom"


_FIXED_DAYS = {Period.DAY: 1, Period.WEEK: 7, Period.MONTH: 30}


class InstType(enum.StrEnum):
    """Instrument families, in OKX's `instType` words."""

    SPOT = "SPOT"
    MARGIN = "MARGIN"
    SWAP = "SWAP"
    FUTURES = "FUTURES"
    OPTION = "OPTION"


DERIVATIVES = frozenset({InstType.SWAP, InstType.FUTURES, InstType.OPTION})


class Channel(enum.StrEnum):
    WEB = "web"
    APP = "app"
    API = "api"
    DESKTOP = "desktop"


class OrderSide(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class PosSide(enum.StrEnum):
    """`net` for one-way mode, `long`/`short` for hedge mode (OKX's `posSide`)."""

    NET = "net"
    LONG = "long"
    SHORT = "short"


class OrderEffect(enum.StrEnum):
    NOT_DERIVATIVE = "not_derivative"
    OPEN = "open"
    INCREASE = "increase"
    REDUCE = "reduce"
    CLOSE = "close"
    FLIP = "flip"  # closes and opens the other side in one order


RISK_INCREASING = frozenset({OrderEffect.OPEN, OrderEffect.INCREASE, OrderEffect.FLIP})


class CoolingOffError(ValueError):
    """A request the rules refuse; the message names the field."""


def period_days(period: Period, custom_days: int | None = None) -> int:
    if period is Period.CUSTOM:
        if custom_days is None or not 1 <= custom_days <= MAX_CUSTOM_DAYS:
            raise CoolingOffError(f"custom_days must be a whole number from 1 to {MAX_CUSTOM_DAYS}")
        return custom_days
    if custom_days is not None:
        raise CoolingOffError("custom_days is only for period 'custom'")
    return _FIXED_DAYS[period]


def new_end(now: datetime, days: int, current_end: datetime | None) -> datetime:
    """End of a period activated `now` for `days`; refuses anything that would end a running one sooner."""
    end = now + timedelta(days=days)
    if current_end is not None and current_end > now and end < current_end:
        raise CoolingOffError(
            f"period: a cooling-off period runs until {current_end.isoformat()} and cannot be shortened"
        )
    return end


def classify_order(
    inst_type: InstType,
    side: OrderSide,
    pos_side: PosSide,
    size: Decimal,
    reduce_only: bool,
    position: Decimal,
) -> OrderEffect:
    """What an order does to a derivatives position.

    `position` is the user's current position in the instrument: signed in one-way mode (long > 0), and
    the size of the `pos_side` leg (>= 0) in hedge mode.
    """
    if inst_type not in DERIVATIVES:
        return OrderEffect.NOT_DERIVATIVE
    if size <= 0:
        raise CoolingOffError("sz must be positive")
    if pos_side is not PosSide.NET:
        # Hedge mode: buying the long leg or selling the short leg opens/increases it.
        opening = (pos_side is PosSide.LONG) == (side is OrderSide.BUY)
        if opening:
            if reduce_only:
                raise CoolingOffError(
                    "reduceOnly: an order opening a hedge-mode leg cannot be reduce-only"
                )
            return OrderEffect.INCREASE if position > 0 else OrderEffect.OPEN
        return OrderEffect.CLOSE if size >= position else OrderEffect.REDUCE
    delta = size if side is OrderSide.BUY else -size
    if position == 0:
        # Reduce-only with nothing to reduce would be rejected by the matching engine; it cannot add risk.
        return OrderEffect.REDUCE if reduce_only else OrderEffect.OPEN
    if (delta > 0) == (position > 0):
        return OrderEffect.REDUCE if reduce_only else OrderEffect.INCREASE
    if size < abs(position):
        return OrderEffect.REDUCE
    if size == abs(position) or reduce_only:
        # A reduce-only order is capped at the position by the engine: it closes, never flips.
        return OrderEffect.CLOSE
    return OrderEffect.FLIP


@dataclass(frozen=True, slots=True)
class PrecheckDecision:
    allowed: bool
    effect: OrderEffect
    cooling_off_until: datetime | None
    reason: str | None


def precheck(effect: OrderEffect, cooling_off_until: datetime | None, now: datetime) -> PrecheckDecision:
    active = cooling_off_until is not None and cooling_off_until > now
    until = cooling_off_until if active else None
    if active and effect in RISK_INCREASING:
        return PrecheckDecision(
            False,
            effect,
            until,
            f"cooling-off period until {until.isoformat() if until else ''}: "
            f"orders that open or increase a derivatives position are refused",
        )
    return PrecheckDecision(True, effect, until, None)
