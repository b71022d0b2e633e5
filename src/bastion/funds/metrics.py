"""Monthly report figures of the fund, read back from the ledger (never from counters kept on the side)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.funds.ledger import ADL, INJECTION, LOSS, SURPLUS
from bastion.funds.models import AdlFill, FundEntry, FundPool, FundPosting, Liquidation, PoolEvent
from bastion.funds.pool_state import PoolPolicy, WindowPeak, drawdown
from bastion.funds.settings import default_policy


@dataclass(frozen=True, slots=True)
class PoolMonth:
    inst_type: str
    inst_family: str
    ccy: str
    balance_end: Decimal
    triggers: int  # bankruptcy losses the fund paid
    surplus_in: Decimal
    injections_in: Decimal
    losses_out: Decimal
    adl_liquidations: int  # losses closed against opposing positions instead (ADL events)
    adl_absorbed: Decimal  # shortfall the deleveraged positions took instead of the fund
    adl_unabsorbed: Decimal  # shortfall of ADL events no known position was left to take (clearing account)
    adl_positions: int  # position reductions (one position reduced for two liquidations counts twice)
    adl_size_closed: Decimal  # base quantity closed on opposing positions
    adl_starts: int
    worst_drawdown_8h: Decimal
    state_end: str

    @property
    def inflows(self) -> Decimal:
        return self.surplus_in + self.injections_in


@dataclass(frozen=True, slots=True)
class FundMonth:
    start: datetime
    end: datetime
    pools: list[PoolMonth]
    balance_by_ccy: dict[str, Decimal]
    triggers: int
    adl_starts: int
    adl_events: int
    adl_positions: int
    worst_drawdown_8h: Decimal


def monthly(session: Session, start: datetime, end: datetime, policy: PoolPolicy | None = None) -> FundMonth:
    """Figures for [start, end): per pool and in total (balances summed per settlement currency)."""
    policy = policy or default_policy()
    pools: list[PoolMonth] = []
    for pool in session.scalars(select(FundPool).order_by(FundPool.id)):
        pools.append(_pool_month(session, pool, start, end, policy))
    by_ccy: dict[str, Decimal] = {}
    for p in pools:
        by_ccy[p.ccy] = by_ccy.get(p.ccy, Decimal(0)) + p.balance_end
    return FundMonth(
        start,
        end,
        pools,
        by_ccy,
        sum(p.triggers for p in pools),
        sum(p.adl_starts for p in pools),
        sum(p.adl_liquidations for p in pools),
        sum(p.adl_positions for p in pools),
        max((p.worst_drawdown_8h for p in pools), default=Decimal(0)),
    )


def _pool_month(session: Session, pool: FundPool, start: datetime, end: datetime, policy: PoolPolicy) -> PoolMonth:
    """One pool's month: its entries replayed up to `end` (the 8-hour peak needs the ones before `start`)."""
    tracker = WindowPeak(policy.window)
    balance = Decimal(0)
    state = "normal"
    triggers = adl_count = 0
    surplus = injections = losses = adl_absorbed = Decimal(0)
    worst = Decimal(0)
    rows = session.execute(
        select(
            FundEntry.id,
            FundEntry.ts,
            FundEntry.type,
            FundEntry.amount,
            FundEntry.balance,
            FundEntry.state,
        )
        .where(FundEntry.pool_id == pool.id, FundEntry.ts < end)
        .order_by(FundEntry.seq)
    ).all()
    absorbed, shortfall = _adl_absorbed(session, pool, [r.id for r in rows if r.type == ADL and r.ts >= start])
    fills = (
        session.execute(
            select(AdlFill.size_closed).where(AdlFill.pool_id == pool.id, AdlFill.ts >= start, AdlFill.ts < end)
        )
        .scalars()
        .all()
    )
    for r in rows:
        peak = tracker.push(r.ts, r.balance)
        balance, state = r.balance, r.state
        if r.ts < start:
            continue
        worst = max(worst, drawdown(r.balance, peak))
        if r.type == LOSS:
            triggers += 1
            losses -= r.amount
        elif r.type == SURPLUS:
            surplus += r.amount
        elif r.type == INJECTION:
            injections += r.amount
        elif r.type == ADL:
            adl_count += 1
            adl_absorbed -= absorbed.get(r.id, Decimal(0))
    starts = len(
        session.scalars(
            select(PoolEvent.id).where(
                PoolEvent.pool_id == pool.id,
                PoolEvent.kind.in_(("rate_adl_start", "bal_adl_start")),
                PoolEvent.ts >= start,
                PoolEvent.ts < end,
            )
        ).all()
    )
    return PoolMonth(
        pool.inst_type,
        pool.inst_family,
        pool.ccy,
        balance,
        triggers,
        surplus,
        injections,
        losses,
        adl_count,
        adl_absorbed,
        shortfall - adl_absorbed,
        len(fills),
        sum(fills, Decimal(0)),
        starts,
        worst,
        state,
    )


def _adl_absorbed(session: Session, pool: FundPool, adl_ids: list[int]) -> tuple[dict[int, Decimal], Decimal]:
    """What the pool's ADL account absorbed of each ADL entry, and the liquidations' shortfall in all."""
    absorbed: dict[int, Decimal] = {}
    shortfall = Decimal(0)
    for chunk in (adl_ids[i : i + 500] for i in range(0, len(adl_ids), 500)):
        for entry_id, amount in session.execute(
            select(FundPosting.entry_id, FundPosting.amount).where(
                FundPosting.account == f"adl:{pool.ccy}", FundPosting.entry_id.in_(chunk)
            )
        ):
            absorbed[entry_id] = amount
        shortfall -= sum(
            session.scalars(select(Liquidation.outcome).where(Liquidation.entry_id.in_(chunk))), Decimal(0)
        )
    return absorbed, shortfall
