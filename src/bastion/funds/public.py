"""Read side of the fund: OKX-shaped balance history, pool state and ADL queue, position snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bastion.errors import InvalidInputError, NotFoundError
from bastion.funds.adl import OpenPosition, QueueEntry, adl_queue
from bastion.funds.ledger import ENTRY_TYPES, PoolKey, lock_or_create_pools, pool_balance, position_from_row
from bastion.funds.liquidation import PositionSide
from bastion.funds.models import AdlFill, AdlPosition, FundEntry, FundPool, PoolEvent
from bastion.funds.pool_state import PoolPolicy
from bastion.funds.settings import default_policy


def find_pool(session: Session, key: PoolKey) -> FundPool:
    pool = session.scalar(
        select(FundPool).where(
            FundPool.inst_type == key.inst_type,
            FundPool.inst_family == key.inst_family,
            FundPool.ccy == key.ccy,
        )
    )
    if pool is None:
        raise NotFoundError(f"instFamily: no insurance-fund pool {key}")
    return pool


def history(
    session: Session,
    inst_type: str,
    kind: str | None,
    inst_family: str | None,
    ccy: str | None,
    before: datetime | None,
    after: datetime | None,
    limit: int,
) -> list[tuple[FundPool, Decimal, list[FundEntry], list[PoolEvent]]]:
    """Per pool of `inst_type`: current balance and its latest entries (newest first) within the filters.
    `kind == "adl"` lists the ADL state changes instead, as OKX does."""
    if kind is not None and kind not in ENTRY_TYPES:
        raise InvalidInputError("type", f"must be one of {', '.join(ENTRY_TYPES)}")
    q = select(FundPool).where(FundPool.inst_type == inst_type)
    if inst_family:
        q = q.where(FundPool.inst_family == inst_family)
    if ccy:
        q = q.where(FundPool.ccy == ccy)
    out = []
    for pool in session.scalars(q.order_by(FundPool.id)):
        entries: list[FundEntry] = []
        events: list[PoolEvent] = []
        if kind == "adl":
            eq = select(PoolEvent).where(PoolEvent.pool_id == pool.id, PoolEvent.kind.like("%adl%"))
            if before:
                eq = eq.where(PoolEvent.ts < before)
            if after:
                eq = eq.where(PoolEvent.ts > after)
            events = list(session.scalars(eq.order_by(PoolEvent.id.desc()).limit(limit)))
        else:
            fq = select(FundEntry).where(FundEntry.pool_id == pool.id)
            if kind:
                fq = fq.where(FundEntry.type == kind)
            if before:
                fq = fq.where(FundEntry.ts < before)
            if after:
                fq = fq.where(FundEntry.ts > after)
            entries = list(session.scalars(fq.order_by(FundEntry.seq.desc()).limit(limit)))
        out.append((pool, pool_balance(session, pool.id), entries, events))
    return out


@dataclass(frozen=True, slots=True)
class AdlStatus:
    pool: FundPool
    balance: Decimal
    last_event: PoolEvent | None
    queue_long: list[QueueEntry]  # positions deleveraged when a short is liquidated
    queue_short: list[QueueEntry]
    deleveraged: list[AdlFill]  # latest position reductions, newest first


def adl_status(session: Session, key: PoolKey, top: int = 50) -> AdlStatus:
    pool = find_pool(session, key)
    positions = [
        position_from_row(p)
        for p in session.scalars(select(AdlPosition).where(AdlPosition.pool_id == pool.id))
    ]
    last = session.scalar(
        select(PoolEvent).where(PoolEvent.pool_id == pool.id).order_by(PoolEvent.id.desc()).limit(1)
    )
    return AdlStatus(
        pool,
        pool_balance(session, pool.id),
        last,
        adl_queue(positions, PositionSide.SHORT)[:top],
        adl_queue(positions, PositionSide.LONG)[:top],
        list(
            session.scalars(
                select(AdlFill).where(AdlFill.pool_id == pool.id).order_by(AdlFill.id.desc()).limit(top)
            )
        ),
    )


def replace_positions(
    session: Session,
    key: PoolKey,
    positions: list[OpenPosition],
    at: datetime,
    policy: PoolPolicy | None = None,
) -> int:
    """The exchange's current open positions for a pool's underlying replace the previous snapshot."""
    for row, p in enumerate(positions):
        for name in ("size", "entry_price", "mark_price", "margin"):
            value = getattr(p, name)
            if not value.is_finite() or value <= 0:
                raise InvalidInputError(name, "must be a positive number", row)
    run = lock_or_create_pools(session, [key], policy or default_policy(), at)[key]
    session.execute(delete(AdlPosition).where(AdlPosition.pool_id == run.pool.id))
    session.add_all(
        AdlPosition(
            pool_id=run.pool.id,
            position_id=p.position_id,
            user_id=p.user_id,
            pos_side=p.side.value,
            sz=p.size,
            avg_px=p.entry_price,
            mark_px=p.mark_price,
            margin=p.margin,
            updated_at=at,
        )
        for p in positions
    )
    session.flush()
    return len(positions)
