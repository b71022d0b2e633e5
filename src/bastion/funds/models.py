"""Tables of the fund ledger. Entries are only ever inserted; a pool's balance is the running `balance` of
its latest entry, and each entry's two postings sum to zero (double entry)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import ExactDecimal, UtcDateTime


class FundPool(Base):
    """One insurance-fund pool, split as exchanges split them: product, underlying, settlement currency.

    The row is the lock every booking into the pool takes (SELECT ... FOR UPDATE); it carries the pool's
    state, never its balance.
    """

    __tablename__ = "fund_pools"
    __table_args__ = (UniqueConstraint("inst_type", "inst_family", "ccy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inst_type: Mapped[str] = mapped_column(String(16))
    inst_family: Mapped[str] = mapped_column(String(64))
    ccy: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="normal")
    last_adl_trigger_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FundEntry(Base):
    """One booking into a pool (OKX's insurance-fund `details` row): what changed and the balance after."""

    __tablename__ = "fund_entries"
    __table_args__ = (
        UniqueConstraint("pool_id", "seq"),
        Index("ix_fund_entries_pool_ts", "pool_id", "ts"),
        Index("ix_fund_entries_type_ts", "type", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("fund_pools.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per pool, in booking order
    type: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)  # change to the pool (0 for an ADL-closed loss)
    balance: Mapped[Decimal] = mapped_column(ExactDecimal)  # pool balance after this entry
    state: Mapped[str] = mapped_column(String(16))  # pool state after this entry
    # Never decreases within a pool: the event time, held at the previous entry's when events arrive late,
    # so the 8-hour window is well defined.
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    booked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ref: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    liquidation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class FundPosting(Base):
    """Double entry: each fund entry moves `amount` between two accounts; postings of an entry sum to zero.

    Accounts: `pool:<id>`, `liquidations:<ccy>` (the liquidation engine's clearing account),
    `treasury:<ccy>` (capital injections), `adl:<ccy>` (opposing positions closed by auto-deleveraging).
    """

    __tablename__ = "fund_postings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("fund_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    ccy: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)


class Liquidation(Base):
    """A liquidation as the exchange reported it, with what it left the fund. The id makes it idempotent."""

    __tablename__ = "fund_liquidations"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("fund_pools.id"), index=True)
    inst_id: Mapped[str] = mapped_column(String(64))
    pos_side: Mapped[str] = mapped_column(String(8))
    sz: Mapped[Decimal] = mapped_column(ExactDecimal)
    bk_px: Mapped[Decimal] = mapped_column(ExactDecimal)
    fill_px: Mapped[Decimal] = mapped_column(ExactDecimal)
    ct_type: Mapped[str] = mapped_column(String(8))
    ct_val: Mapped[Decimal] = mapped_column(ExactDecimal)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[Decimal] = mapped_column(ExactDecimal)  # + surplus, - shortfall, rounded to the fund unit
    entry_id: Mapped[int] = mapped_column(ForeignKey("fund_entries.id"))
    fingerprint: Mapped[str] = mapped_column(String(64))  # of the payload: same id, other payload = conflict


class PoolEvent(Base):
    """State changes of a pool: warning, ADL start (by rate or balance), ADL end, with the numbers behind."""

    __tablename__ = "fund_pool_events"
    __table_args__ = (Index("ix_fund_pool_events_pool_ts", "pool_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("fund_pools.id"))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(32))  # warning | rate_adl_start | bal_adl_start | adl_end
    state_before: Mapped[str] = mapped_column(String(16))
    state_after: Mapped[str] = mapped_column(String(16))
    balance: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_bal: Mapped[Decimal] = mapped_column(ExactDecimal)  # the 8-hour peak at the time
    dec_rate: Mapped[Decimal] = mapped_column(ExactDecimal)  # drawdown from that peak
    liquidation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    queue: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)  # top of the ADL queue


class AdlPosition(Base):
    """Open positions the exchange reports for a pool's underlying, from which the ADL queue is ranked."""

    __tablename__ = "fund_adl_positions"
    __table_args__ = (UniqueConstraint("pool_id", "position_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("fund_pools.id"), index=True)
    position_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    pos_side: Mapped[str] = mapped_column(String(8))
    sz: Mapped[Decimal] = mapped_column(ExactDecimal)
    avg_px: Mapped[Decimal] = mapped_column(ExactDecimal)
    mark_px: Mapped[Decimal] = mapped_column(ExactDecimal)
    margin: Mapped[Decimal] = mapped_column(ExactDecimal)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AdlFill(Base):
    """Audit of auto-deleveraging: one opposing position reduced to close one liquidation in ADL.

    Written with the liquidation's ADL entry, in queue order; the user id is for the exchange's own records
    and is never published."""

    __tablename__ = "fund_adl_fills"
    __table_args__ = (
        UniqueConstraint("liquidation_id", "position_id"),
        Index("ix_fund_adl_fills_pool_ts", "pool_id", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("fund_entries.id"), index=True)  # the ADL entry
    pool_id: Mapped[int] = mapped_column(ForeignKey("fund_pools.id"))
    liquidation_id: Mapped[str] = mapped_column(String(128))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    rank: Mapped[int] = mapped_column(Integer)  # place in the queue when it was deleveraged, 1 = first
    position_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    pos_side: Mapped[str] = mapped_column(String(8))
    size_before: Mapped[Decimal] = mapped_column(ExactDecimal)
    size_closed: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)  # the liquidated position's bankruptcy price
