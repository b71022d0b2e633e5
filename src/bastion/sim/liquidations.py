"""A seeded month of liquidations across insurance-fund pools, with a crash day that drives one pool into ADL.

The crash pool also has a book of open positions on both sides, so that ADL closes real positions. The ground
truth is computed here from what was generated, by a plain reference model of the fund (brute-force 8-hour
peak, brute-force ranking of the ADL queue, no database), so a test can replay the month through the service
and compare its metrics.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from bastion.funds.adl import OpenPosition
from bastion.funds.ledger import LiquidationIn, PoolKey
from bastion.funds.liquidation import PositionSide

BTC = PoolKey("SWAP", "BTC-USDT", "USDT")
ETH = PoolKey("SWAP", "ETH-USDT", "USDT")
SOL = PoolKey("FUTURES", "SOL-USDT", "USDT")
OPENING = {BTC: Decimal(2_000_000), ETH: Decimal(400_000), SOL: Decimal(150_000)}
PRICE = {BTC: 65_000, ETH: 3_200, SOL: 140}
WINDOW = timedelta(hours=8)
WARNING, ADL_LEVEL, COOLDOWN = Decimal("0.20"), Decimal("0.30"), timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Injection:
    id: str
    pool: PoolKey
    amount: Decimal
    ts: datetime


@dataclass
class PoolTruth:
    balance: Decimal = Decimal(0)
    triggers: int = 0
    surplus_in: Decimal = Decimal(0)
    injections_in: Decimal = Decimal(0)
    losses_out: Decimal = Decimal(0)
    adl_liquidations: int = 0
    adl_positions: int = 0  # position reductions
    adl_size_closed: Decimal = Decimal(0)
    adl_absorbed: Decimal = Decimal(0)
    adl_unabsorbed: Decimal = Decimal(0)
    adl_starts: int = 0
    worst_drawdown: Decimal = Decimal(0)
    history: list[tuple[datetime, Decimal]] = field(default_factory=list)


@dataclass
class LiquidationMonth:
    start: datetime
    end: datetime
    crash_pool: PoolKey
    crash_day: datetime
    injections: list[Injection]
    liquidations: list[LiquidationIn]
    truth: dict[PoolKey, PoolTruth]
    positions: dict[PoolKey, list[OpenPosition]] = field(default_factory=dict)


def _peak(history: list[tuple[datetime, Decimal]], now: datetime) -> Decimal:
    """Brute force: the highest balance in force at any time in (now - 8h, now]."""
    start = now - WINDOW
    carried = [b for t, b in history if t <= start][-1:]
    return max([b for t, b in history if t > start] + carried)


def _ranked(book: dict[str, OpenPosition], liquidated: PositionSide) -> list[OpenPosition]:
    """The published rule, by hand: profit ratio times effective leverage (losers: divided), ties by id."""

    def score(p: OpenPosition) -> Decimal:
        pnl = (p.mark_price - p.entry_price) * p.size * (1 if p.side is PositionSide.LONG else -1)
        ratio = pnl / (p.entry_price * p.size)
        equity = p.margin + pnl
        leverage = p.mark_price * p.size / equity if equity > 0 else Decimal("1e18")
        return ratio * leverage if ratio > 0 else ratio / leverage

    return sorted(
        (p for p in book.values() if p.side is not liquidated and p.size > 0),
        key=lambda p: (-score(p), p.position_id),
    )


def _reference_adl(t: PoolTruth, book: dict[str, OpenPosition], liq: LiquidationIn, shortfall: Decimal) -> None:
    needed = left = liq.sz * liq.ct_val
    for p in _ranked(book, liq.pos_side):
        if left == 0:
            break
        cut = min(left, p.size)
        book[p.position_id] = OpenPosition(
            p.position_id, p.user_id, p.side, p.size - cut, p.entry_price, p.mark_price, p.margin
        )
        left -= cut
        t.adl_positions += 1
        t.adl_size_closed += cut
    absorbed = (
        shortfall
        if left == 0
        else (shortfall * (needed - left) / needed).quantize(Decimal("0.00000001"), rounding=ROUND_FLOOR)
    )
    t.adl_absorbed += absorbed
    t.adl_unabsorbed += shortfall - absorbed


def _reference(month: LiquidationMonth) -> None:
    """Run the fund's published rules over the month, by hand, to get the expected figures."""
    events: list[tuple[datetime, int, object]] = [(i.ts, 0, i) for i in month.injections]
    events += [(liq.ts, 1, liq) for liq in month.liquidations]
    events.sort(key=lambda e: (e[0], e[1]))
    state: dict[PoolKey, str] = {}
    last_trigger: dict[PoolKey, datetime] = {}
    books = {pool: {p.position_id: p for p in ps} for pool, ps in month.positions.items()}
    for ts, _, ev in events:
        pool = ev.pool  # type: ignore[attr-defined]
        t = month.truth.setdefault(pool, PoolTruth())
        st = state.get(pool, "normal")
        uncovered = False
        if isinstance(ev, Injection):
            t.balance += ev.amount
            t.injections_in += ev.amount
        else:
            assert isinstance(ev, LiquidationIn)
            sign = 1 if ev.pos_side is PositionSide.LONG else -1
            outcome = sign * (ev.fill_px - ev.bk_px) * ev.sz
            if outcome >= 0:
                t.balance += outcome
                t.surplus_in += outcome
            elif st != "adl" and -outcome <= t.balance:
                t.balance += outcome
                t.losses_out -= outcome
                t.triggers += 1
            else:
                t.adl_liquidations += 1
                uncovered = -outcome > t.balance
                _reference_adl(t, books.setdefault(pool, {}), ev, -outcome)
        t.history.append((ts, t.balance))
        peak = _peak(t.history, ts)
        dd = (peak - t.balance) / peak if peak > 0 and t.balance < peak else Decimal(0)
        t.worst_drawdown = max(t.worst_drawdown, dd)
        if uncovered or dd >= ADL_LEVEL:
            if st != "adl":
                t.adl_starts += 1
            last_trigger[pool] = ts
            st = "adl"
        elif st == "adl":
            if ts - last_trigger[pool] >= COOLDOWN and dd < WARNING:
                st = "normal"
        else:
            st = "warning" if dd >= WARNING else "normal"
        state[pool] = st


def simulate(seed: int = 7, per_day: int = 100, start: datetime | None = None, days: int = 30) -> LiquidationMonth:
    """`per_day` ordinary liquidations a day over three pools; on the crash day the ETH pool takes a burst of
    deep bankruptcy losses within three hours, more than 30% of its balance."""
    rng = random.Random(seed)
    start = start or datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=days)
    crash_day = start + timedelta(days=rng.randint(days // 3, 2 * days // 3))
    injections = [Injection(f"opening-{p.inst_family}", p, OPENING[p], start) for p in OPENING]
    liquidations: list[LiquidationIn] = []
    pools = list(OPENING)
    n = 0
    for day in range(days):
        for _ in range(per_day):
            pool = rng.choices(pools, weights=[5, 3, 2])[0]
            at = start + timedelta(days=day, seconds=rng.randint(1, 86_399))
            mark = Decimal(PRICE[pool]) * (1 + Decimal(rng.randint(-800, 800)) / 10_000)
            bk = mark.quantize(Decimal("0.01"))
            # Most liquidations fill a little better than bankruptcy (the fund earns), some worse.
            move = Decimal(rng.randint(-30, 120)) / 10_000
            side = rng.choice([PositionSide.LONG, PositionSide.SHORT])
            fill = (bk * (1 + move) if side is PositionSide.LONG else bk * (1 - move)).quantize(Decimal("0.01"))
            sz = Decimal(rng.randint(1, 5000)) / 1000 * Decimal(65_000 // PRICE[pool] or 1)
            n += 1
            liquidations.append(_liq(n, pool, side, sz.quantize(Decimal("0.001")), bk, fill, at))
    # The crash: longs liquidated far below bankruptcy in quick succession, after 10:00.
    crash_start = crash_day + timedelta(hours=10)
    eth_price = Decimal(PRICE[ETH])
    for k in range(40):
        at = crash_start + timedelta(minutes=4 * k, seconds=rng.randint(0, 200))
        bk = (eth_price * (1 - Decimal(k) / 200)).quantize(Decimal("0.01"))
        fill = (bk * Decimal("0.96")).quantize(Decimal("0.01"))
        n += 1
        liquidations.append(_liq(n, ETH, PositionSide.LONG, Decimal(rng.randint(200, 400)), bk, fill, at))
    liquidations.sort(key=lambda x: x.ts)
    month = LiquidationMonth(start, end, ETH, crash_day, injections, liquidations, {}, {ETH: _book(rng, ETH)})
    _reference(month)
    return month


def _book(rng: random.Random, pool: PoolKey, per_side: int = 40) -> list[OpenPosition]:
    """Open positions on both sides around the pool's price, at leverages from 2x to 50x: enough for the
    crash day's ADL to go deep into the queue and still fill."""
    price = Decimal(PRICE[pool])
    out = []
    for side in (PositionSide.LONG, PositionSide.SHORT):
        for k in range(per_side):
            size = Decimal(rng.randint(50, 800))
            entry = (price * (1 + Decimal(rng.randint(-1500, 1500)) / 10_000)).quantize(Decimal("0.01"))
            margin = (entry * size / rng.randint(2, 50)).quantize(Decimal("0.01"))
            out.append(OpenPosition(f"{pool.inst_family}-{side.value}-{k:03d}", f"trader-{rng.randrange(10_000):04d}",
                                    side, size, entry, price, margin))  # fmt: skip
    return out


def _liq(
    n: int, pool: PoolKey, side: PositionSide, sz: Decimal, bk: Decimal, fill: Decimal, at: datetime
) -> LiquidationIn:
    return LiquidationIn(
        id=f"liq-{n:07d}",
        pool=pool,
        inst_id=f"{pool.inst_family}-{pool.inst_type}",
        pos_side=side,
        sz=sz,
        bk_px=bk,
        fill_px=fill,
        ts=at,
    )
