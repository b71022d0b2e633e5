"""Cooling-off period: a user locks themselves out of opening or growing derivatives positions.

Rules: the period is 1, 7 or 30 days, or a custom number of days up to a year. It cannot be shortened or
ended early: a new activation while one runs may only end later. While it runs, every channel refuses an
order that opens or increases a derivatives position (or flips one to the other side, which opens one);
orders that reduce or close are allowed, so the user can always get out of risk. Spot is not concerned.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.errors import ConflictError, InvalidInputError
from bastion.protection.models import CoolingOffActivation, CoolingOffRefusal

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
                raise CoolingOffError("reduceOnly: an order opening a hedge-mode leg cannot be reduce-only")
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


# --------------------------------------------------------------------------------------------- storage
# Activations are only ever inserted: the period in force is the latest end among them, so "cannot be
# shortened" holds even against a bug that tried to rewrite a row.






def active_until(session: Session, user_id: str, now: datetime) -> datetime | None:
    end: datetime | None = session.scalar(
        select(func.max(CoolingOffActivation.ends_at)).where(CoolingOffActivation.user_id == user_id)
    )
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return end if end is not None and end > now else None


def activate(
    session: Session,
    request_id: str,
    user_id: str,
    period: Period,
    custom_days: int | None,
    channel: Channel,
    now: datetime,
) -> CoolingOffActivation:
    """Switch the period on (or extend it). Idempotent by `request_id`; the caller commits.

    Serialised per user by the database write lock (SQLite) or by the unique request id plus the append-only
    rule (PostgreSQL): two concurrent extensions both end at or after the running period, never before it.
    """
    try:
        days = period_days(period, custom_days)
    except CoolingOffError as exc:
        raise InvalidInputError("custom_days", str(exc)) from None
    existing = session.scalar(
        select(CoolingOffActivation).where(CoolingOffActivation.request_id == request_id)
    )
    if existing is not None:
        if (existing.user_id, existing.period, existing.days) != (user_id, period.value, days):
            raise ConflictError(f"request_id: {request_id} was used for a different activation")
        return existing
    current = active_until(session, user_id, now)
    try:
        end = new_end(now, days, current)
    except CoolingOffError as exc:
        raise ConflictError(str(exc)) from None
    row = CoolingOffActivation(
        request_id=request_id,
        user_id=user_id,
        period=period.value,
        days=days,
        channel=channel.value,
        started_at=now,
        ends_at=end,
    )
    session.add(row)
    session.flush()
    return row


def check_order(
    session: Session,
    user_id: str,
    channel: Channel,
    inst_type: InstType,
    inst_id: str,
    effect: OrderEffect,
    now: datetime,
) -> PrecheckDecision:
    """Decide an order against the database; a refusal is recorded (the caller commits). Spot and reducing
    orders skip the database entirely: they are allowed whatever the period. (The service decides from
    `cooling_off_cache` instead and records refusals with `record_refusal`.)"""
    if effect not in RISK_INCREASING:
        return precheck(effect, None, now)
    decision = precheck(effect, active_until(session, user_id, now), now)
    if not decision.allowed:
        record_refusal(session, user_id, channel, inst_type, inst_id, effect, now)
    return decision


def record_refusal(
    session: Session,
    user_id: str,
    channel: Channel,
    inst_type: InstType,
    inst_id: str,
    effect: OrderEffect,
    at: datetime,
) -> None:
    """Count a refused order for the monthly report (the caller commits)."""
    session.add(
        CoolingOffRefusal(
            user_id=user_id,
            at=at,
            channel=channel.value,
            inst_type=inst_type.value,
            inst_id=inst_id,
            effect=effect.value,
        )
    )


@dataclass(frozen=True, slots=True)
class CoolingOffMonth:
    activations: int
    users: int
    orders_refused: int
    refused_by_channel: dict[str, int]
    durations: dict[str, int]  # "1d", "7d", "30d", "custom"


def monthly(session: Session, start: datetime, end: datetime) -> CoolingOffMonth:
    acts = session.execute(
        select(CoolingOffActivation.user_id, CoolingOffActivation.period).where(
            CoolingOffActivation.started_at >= start, CoolingOffActivation.started_at < end
        )
    ).all()
    refusals = session.execute(
        select(CoolingOffRefusal.channel).where(CoolingOffRefusal.at >= start, CoolingOffRefusal.at < end)
    ).scalars()
    by_channel: dict[str, int] = {}
    for ch in refusals:
        by_channel[ch] = by_channel.get(ch, 0) + 1
    durations: dict[str, int] = {}
    for _, period in acts:
        durations[period] = durations.get(period, 0) + 1
    return CoolingOffMonth(
        len(acts), len({u for u, _ in acts}), sum(by_channel.values()), by_channel, durations
    )
