"""Auto-deleveraging queue: which opposing positions are closed first when the fund cannot pay.

Ranking follows the exchanges' published rule: profitable positions rank by profit ratio times effective
leverage (the most profitable, most leveraged go first); losing ones by profit ratio divided by effective
leverage, behind every profitable one. The queue is published as a rank and a 1-5 indicator (the "lights"
exchanges show next to a position: 5 means the top 20% of the queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bastion.funds.liquidation import PositionSide


@dataclass(frozen=True, slots=True)
class OpenPosition:
    position_id: str
    user_id: str
    side: PositionSide
    size: Decimal  # base quantity, > 0
    entry_price: Decimal
    mark_price: Decimal
    margin: Decimal  # collateral assigned to the position, > 0

    @property
    def unrealized_pnl(self) -> Decimal:
        sign = 1 if self.side is PositionSide.LONG else -1
        return sign * (self.mark_price - self.entry_price) * self.size

    @property
    def profit_ratio(self) -> Decimal:
        """Unrealised profit over the cost of the position."""
        return self.unrealized_pnl / (self.entry_price * self.size)

    @property
    def effective_leverage(self) -> Decimal:
        """Mark value over equity (margin plus unrealised profit). A position at or below zero equity is
        being liquidated itself; it gets an effectively infinite leverage via a huge number."""
        equity = self.margin + self.unrealized_pnl
        notional = self.mark_price * self.size
        if equity <= 0:
            return Decimal("1e18")
        return notional / equity


@dataclass(frozen=True, slots=True)
class QueueEntry:
    rank: int  # 1 = deleveraged first
    score: Decimal
    indicator: int  # 1..5, 5 = top fifth of the queue
    position: OpenPosition


def adl_score(position: OpenPosition) -> Decimal:
    ratio = position.profit_ratio
    leverage = position.effective_leverage
    return ratio * leverage if ratio > 0 else ratio / leverage


def adl_queue(positions: Iterable[OpenPosition], liquidated_side: PositionSide) -> list[QueueEntry]:
    """The ranked queue of positions opposite `liquidated_side` (a liquidated long is matched by shorts).

    Ties break on position id so the published queue is deterministic.
    """
    opposing = [p for p in positions if p.side is not liquidated_side and p.size > 0]
    ordered = sorted(opposing, key=lambda p: (-adl_score(p), p.position_id))
    n = len(ordered)
    return [
        QueueEntry(rank=i + 1, score=adl_score(p), indicator=5 - (5 * i) // n, position=p)
        for i, p in enumerate(ordered)
    ]


def deleverage(queue: Sequence[QueueEntry], size: Decimal) -> list[tuple[QueueEntry, Decimal]]:
    """Walk the queue taking `size` off the top positions; returns (entry, size closed) pairs."""
    left = size
    taken: list[tuple[QueueEntry, Decimal]] = []
    for entry in queue:
        if left <= 0:
            break
        cut = min(left, entry.position.size)
        taken.append((entry, cut))
        left -= cut
    return taken
