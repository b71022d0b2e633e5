"""Pool states and auto-deleveraging triggers, as pure rules.

A pool is NORMAL, in WARNING, or in ADL. Two things trigger ADL, after the exchanges' own rules:
- the pool cannot cover a bankruptcy loss out of its balance (OKX's `bal_adl_start`);
- its balance has fallen `adl_drawdown` (30%) or more from its peak of the last `window` (8 hours)
  (OKX's `rate_adl_start`). WARNING is the band before that, from `warning_drawdown`.
In ADL, losses are not paid by the fund: the liquidated position is closed against the ranked opposing
positions at its bankruptcy price. ADL ends once `adl_cooldown` has passed since the last trigger and the
drawdown is back under the warning level; surpluses and injections keep flowing in meanwhile.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


class PoolState(enum.StrEnum):
    NORMAL = "normal"
    WARNING = "warning"
    ADL = "adl"


class AdlTrigger(enum.StrEnum):
    """Why ADL started or ended, in OKX's `adlType` words."""

    RATE = "rate_adl_start"
    BALANCE = "bal_adl_start"
    END = "adl_end"


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """The thresholds; their values come from `bastion.funds.settings` (BASTION_FUNDS_*)."""

    warning_drawdown: Decimal
    adl_drawdown: Decimal
    window: timedelta
    adl_cooldown: timedelta

    def __post_init__(self) -> None:
        if not (0 < self.warning_drawdown <= self.adl_drawdown < 1):
            raise ValueError("need 0 < warning_drawdown <= adl_drawdown < 1")


def drawdown(balance: Decimal, peak: Decimal) -> Decimal:
    """Fraction the balance stands below the peak (0 at or above it, or when the peak is not positive)."""
    if peak <= 0 or balance >= peak:
        return Decimal(0)
    return (peak - balance) / peak


@dataclass(frozen=True, slots=True)
class Transition:
    state: PoolState
    trigger: AdlTrigger | None  # set when ADL starts or ends


def next_state(
    current: PoolState,
    balance: Decimal,
    peak: Decimal,
    now: datetime,
    last_adl_trigger_at: datetime | None,
    policy: PoolPolicy,
    uncovered_loss: bool = False,
) -> Transition:
    """The state a pool is in after a booking that left it at `balance` with its window `peak`.

    `uncovered_loss` says the booking was a loss larger than the balance (it was routed to ADL).
    """
    dd = drawdown(balance, peak)
    if uncovered_loss:
        return Transition(PoolState.ADL, AdlTrigger.BALANCE if current is not PoolState.ADL else None)
    if dd >= policy.adl_drawdown:
        return Transition(PoolState.ADL, AdlTrigger.RATE if current is not PoolState.ADL else None)
    if current is PoolState.ADL:
        cooled = last_adl_trigger_at is None or now - last_adl_trigger_at >= policy.adl_cooldown
        if not cooled or dd >= policy.warning_drawdown:
            return Transition(PoolState.ADL, None)
        return Transition(PoolState.NORMAL, AdlTrigger.END)
    if dd >= policy.warning_drawdown:
        return Transition(PoolState.WARNING, None)
    return Transition(PoolState.NORMAL, None)


def fund_covers(state: PoolState, balance: Decimal, loss: Decimal) -> bool:
    """Whether the fund itself pays a bankruptcy loss (else it goes to ADL counterparties)."""
    return state is not PoolState.ADL and loss <= balance


class WindowPeak:
    """Running maximum of a balance over a trailing time window (monotonic deque, amortised O(1)).

    A balance is a step function: each value is in force from its time until the next one arrives, so the
    value carried into the window counts as well as those set inside it.
    """

    def __init__(self, window: timedelta) -> None:
        self.window = window
        # [set at, balance, superseded at]; balances strictly decreasing from head to tail.
        self._points: deque[list] = deque()

    def push(self, at: datetime, balance: Decimal) -> Decimal:
        """Record the balance from `at` on and return the peak of the window ending at `at`."""
        if self._points:
            self._points[-1][2] = at  # the latest value always sits at the tail: it ends now
        while self._points and self._points[-1][1] <= balance:
            self._points.pop()
        self._points.append([at, balance, None])
        start = at - self.window
        while self._points[0][2] is not None and self._points[0][2] <= start:
            self._points.popleft()
        peak: Decimal = self._points[0][1]
        return peak


def worst_drawdown(points: Iterable[tuple[datetime, Decimal]], window: timedelta) -> Decimal:
    """Largest drawdown of the balance below its trailing-window peak, over a time-ordered series."""
    worst = Decimal(0)
    tracker = WindowPeak(window)
    for at, balance in points:
        peak = tracker.push(at, balance)
        worst = max(worst, drawdown(balance, peak))
    return worst
