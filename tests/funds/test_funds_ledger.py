"""The fund ledger against real databases (SQLite and PostgreSQL): booking, idempotency, ADL, balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from bastion.errors import ConflictError, InvalidInputError
from bastion.funds.ledger import (
    ADL,
    LOSS,
    SURPLUS,
    LiquidationIn,
    PoolKey,
    book_liquidations,
    check_ledger,
    inject,
)
from bastion.funds.liquidation import PositionSide
from bastion.funds.models import FundEntry, FundPool, FundPosting, Liquidation, PoolEvent

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BTC = PoolKey("SWAP", "BTC-USDT", "USDT")
ETH = PoolKey("SWAP", "ETH-USDT", "USDT")


def liq(i: int, fill: str, bk: str = "100", sz: str = "1", side: PositionSide = PositionSide.LONG,
        pool: PoolKey = BTC, at: datetime | None = None) -> LiquidationIn:  # fmt: skip
    return LiquidationIn(
        id=f"L{i}",
        pool=pool,
        inst_id=f"{pool.inst_family}-SWAP",
        pos_side=side,
        sz=D(sz),
        bk_px=D(bk),
        fill_px=D(fill),
        ts=at or T0 + timedelta(minutes=i),
    )


def test_books_surplus_and_loss_with_running_balance(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        inject(s, "seed", BTC, D(1000), T0)
        out = book_liquidations(
            s, [liq(1, "101.5"), liq(2, "97.25", sz="4"), liq(3, "99", side=PositionSide.SHORT)]
        )
        s.commit()
    assert [(b.type, b.outcome, b.balance) for b in out] == [
        (SURPLUS, D("1.5"), D("1001.5")),
        (LOSS, D("-11"), D("990.5")),
        (SURPLUS, D("1"), D("991.5")),
    ]
    with session_factory() as s:
        check = check_ledger(s)
        assert check.balanced, check.problems
        assert check.entries == 4 and check.postings_total == 0


def test_replay_is_idempotent_and_a_changed_payload_conflicts(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        first = book_liquidations(s, [liq(1, "90")])
        s.commit()
    with session_factory() as s:
        again = book_liquidations(s, [liq(1, "90"), liq(1, "90")])
        s.commit()
        assert all(b.replayed for b in again)
        assert again[0].balance == first[0].balance and again[0].seq == first[0].seq
        assert s.scalar(select(func.count()).select_from(FundEntry)) == 1
    with session_factory() as s, pytest.raises(ConflictError, match="different payload"):
        book_liquidations(s, [liq(1, "91")])


def test_a_bad_row_writes_nothing(session_factory) -> None:  # type: ignore[no-untyped-def]
    rows = [liq(1, "101"), liq(2, "102"), liq(3, "-5")]
    with session_factory() as s, pytest.raises(InvalidInputError) as err:
        book_liquidations(s, rows)
    assert err.value.row == 2 and err.value.field == "fill_price"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(FundPool)) == 0
        assert s.scalar(select(func.count()).select_from(Liquidation)) == 0
    same_id_other_payload = [liq(1, "101"), liq(1, "102")]
    with session_factory() as s, pytest.raises(InvalidInputError) as err:
        book_liquidations(s, same_id_other_payload)
    assert err.value.row == 1 and err.value.field == "id"


def test_loss_the_fund_cannot_cover_goes_to_adl(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        inject(s, "seed", BTC, D(50), T0)
        out = book_liquidations(s, [liq(1, "40")])  # a 60 loss on a 50 fund
        s.commit()
    assert out[0].type == ADL and out[0].amount == 0 and out[0].balance == 50 and out[0].state == "adl"
    with session_factory() as s:
        events = s.scalars(select(PoolEvent)).all()
        assert [e.kind for e in events] == ["bal_adl_start"]
        # The counterparties, not the fund, absorbed the 60.
        adl_total = s.scalar(
            select(func.count()).select_from(FundPosting).where(FundPosting.account == "adl:USDT")
        )
        assert adl_total == 1
        assert check_ledger(s).balanced


def test_drawdown_of_30_percent_in_8_hours_triggers_adl_then_ends(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        inject(s, "seed", BTC, D(1000), T0)
        # Losses of 100 each: 900 (10%), 800 (20%: warning), 700 (30%: ADL).
        out = book_liquidations(s, [liq(i, "0.01", bk="100.01", sz="1") for i in range(1, 4)])
        s.commit()
    assert [b.state for b in out] == ["normal", "warning", "adl"]
    with session_factory() as s:
        # In ADL, a loss the fund could pay is still routed to the counterparties.
        out = book_liquidations(s, [liq(4, "99", at=T0 + timedelta(minutes=10))])
        assert out[0].type == ADL and out[0].balance == D(700)
        # Nine hours later the 1000 peak has left the window; the cooldown is over: ADL ends.
        out = book_liquidations(s, [liq(5, "101", at=T0 + timedelta(hours=9))])
        s.commit()
        assert out[0].state == "normal"
        kinds = [e.kind for e in s.scalars(select(PoolEvent).order_by(PoolEvent.id))]
        assert kinds == ["warning", "rate_adl_start", "adl_end"]
        start = s.scalars(select(PoolEvent).where(PoolEvent.kind == "rate_adl_start")).one()
        assert start.max_bal == D(1000) and start.dec_rate == D("0.3")
        assert check_ledger(s).balanced


def test_late_events_keep_the_pool_clock_monotonic(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        book_liquidations(s, [liq(1, "101", at=T0 + timedelta(hours=1)), liq(2, "101", at=T0)])
        s.commit()
        ts = [e.ts for e in s.scalars(select(FundEntry).order_by(FundEntry.seq))]
        assert ts == sorted(ts) and ts[1] == T0 + timedelta(hours=1)
        assert s.get(Liquidation, "L2").ts == T0  # the liquidation keeps its own time


def test_injection_is_idempotent(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        a = inject(s, "inj-1", ETH, D("250.5"), T0)
        b = inject(s, "inj-1", ETH, D("250.5"), T0)
        assert not a.replayed and b.replayed and b.balance == D("250.5")
        with pytest.raises(ConflictError):
            inject(s, "inj-1", ETH, D("1"), T0)
        with pytest.raises(InvalidInputError, match="amount"):
            inject(s, "inj-2", ETH, D("-1"), T0)
