"""Auto-deleveraging that actually deleverages, against real databases: each test tries to make it close the
wrong positions, too much, or twice."""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bastion.db.session import make_engine, make_sessionmaker
from bastion.funds import metrics
from bastion.funds.adl import OpenPosition, adl_queue
from bastion.funds.ledger import ADL, LiquidationIn, PoolKey, book_liquidations, check_ledger, inject
from bastion.funds.liquidation import ContractType, PositionSide
from bastion.funds.models import AdlFill, AdlPosition, FundPosting, PoolEvent
from bastion.funds.public import adl_status, replace_positions

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BTC = PoolKey("SWAP", "BTC-USDT", "USDT")
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


def short(pid: str, size: str, mark: str) -> OpenPosition:
    # Entry 100, margin 10 a unit: the lower the mark, the more profitable the short and the earlier it goes.
    return OpenPosition(pid, f"user-{pid}", SHORT, D(size), D(100), D(mark), D(size) * 10)


def long(pid: str, size: str, mark: str = "90") -> OpenPosition:
    return OpenPosition(pid, f"user-{pid}", LONG, D(size), D(100), D(mark), D(10))


def liq(i: int, sz: str, fill: str = "40", bk: str = "100", side: PositionSide = LONG) -> LiquidationIn:
    return LiquidationIn(f"L{i}", BTC, "BTC-USDT-SWAP", side, D(sz), D(bk), D(fill), T0 + timedelta(minutes=i))


def _walk(positions: list[OpenPosition], needed: list[D]) -> list[tuple[str, str, int, D]]:
    """Brute force: for each liquidation, rank what is left and take from the top."""
    book = {p.position_id: p for p in positions}
    fills = []
    for i, n in enumerate(needed):
        left = n
        for rank, q in enumerate(adl_queue(list(book.values()), LONG), start=1):
            if left == 0:
                break
            cut = min(left, q.position.size)
            fills.append((f"L{i}", q.position.position_id, rank, cut))
            left -= cut
            book[q.position.position_id] = replace(q.position, size=q.position.size - cut)
    return fills


@pytest.fixture
def sqlite_factory(_sqlite_template: Path, tmp_path: Path) -> Iterator[Callable[[], sessionmaker[Session]]]:
    """A fresh migrated SQLite database per call: one per hypothesis example."""
    engines = []

    def make() -> sessionmaker[Session]:
        path = tmp_path / f"h{len(engines)}.sqlite"
        shutil.copyfile(_sqlite_template, path)
        engines.append(make_engine(f"sqlite:///{path}"))
        return make_sessionmaker(engines[-1])

    yield make
    for engine in engines:
        engine.dispose()


def _into_adl(factory: sessionmaker[Session], positions: list[OpenPosition]) -> None:
    """An empty pool: the first loss cannot be covered, so the pool is in ADL from it on."""
    with factory() as s:
        replace_positions(s, BTC, positions, T0)
        s.commit()


def _sizes(s: Session) -> dict[str, D]:
    return {p.position_id: p.sz for p in s.scalars(select(AdlPosition))}


def _fills(s: Session) -> list[tuple[str, str, int, D]]:
    return [
        (f.liquidation_id, f.position_id, f.rank, f.size_closed)
        for f in s.scalars(select(AdlFill).order_by(AdlFill.id))
    ]


def test_closes_the_queue_in_rank_order_and_never_more_than_needed(session_factory) -> None:  # type: ignore[no-untyped-def]
    shorts = [short("mid", "2", "90"), short("top", "1", "80"), short("low", "5", "99")]
    _into_adl(session_factory, [*shorts, long("l1", "9")])
    with session_factory() as s:
        published = [q.position.position_id for q in adl_queue([*shorts, long("l1", "9")], LONG)]
        assert published == ["top", "mid", "low"]
        out = book_liquidations(s, [liq(1, "2.5"), liq(2, "1")])  # 60 and 60 of shortfall
        s.commit()
    assert [b.type for b in out] == [ADL, ADL] and all(b.balance == 0 for b in out)
    with session_factory() as s:
        # L1 takes all of the top position and 1.5 of the next; L2 continues down the updated queue.
        assert _fills(s) == [
            ("L1", "top", 1, D(1)),
            ("L1", "mid", 2, D("1.5")),
            ("L2", "mid", 1, D("0.5")),
            ("L2", "low", 2, D("0.5")),
        ]
        assert _sizes(s) == {"low": D("4.5"), "l1": D(9)}  # closed positions leave the snapshot
        # The queue published at ADL start is the one the first liquidation walked.
        start = s.scalars(select(PoolEvent).where(PoolEvent.kind == "bal_adl_start")).one()
        assert [q["posId"] for q in start.queue or []][:3] == ["top", "mid", "low"]
        fill = s.scalars(select(AdlFill).where(AdlFill.position_id == "top")).one()
        assert fill.price == D(100) and fill.size_before == D(1) and fill.user_id == "user-top"
        # The counterparties made the clearing account whole: 150 + 60, the pool untouched.
        adl = s.scalars(select(FundPosting.amount).where(FundPosting.account == "adl:USDT")).all()
        assert sorted(adl) == [D(-150), D(-60)]
        check = check_ledger(s)
        assert check.balanced, check.problems
        m = metrics.monthly(s, T0, T0 + timedelta(days=1))
        pool = m.pools[0]
        assert (pool.adl_liquidations, pool.adl_positions, pool.adl_size_closed) == (2, 4, D("3.5"))
        assert (pool.adl_absorbed, pool.adl_unabsorbed) == (D(210), D(0))
        assert (m.adl_events, m.adl_positions) == (2, 4)


def test_redelivery_deleverages_nothing_twice(session_factory) -> None:  # type: ignore[no-untyped-def]
    _into_adl(session_factory, [short("a", "1", "80"), short("b", "1", "90")])
    with session_factory() as s:
        book_liquidations(s, [liq(1, "1")])
        s.commit()
    for batch in ([liq(1, "1")], [liq(1, "1"), liq(1, "1"), liq(2, "0.5")]):
        with session_factory() as s:
            out = book_liquidations(s, batch)
            s.commit()
            assert out[0].replayed and out[0].type == ADL
    with session_factory() as s:
        assert _fills(s) == [("L1", "a", 1, D(1)), ("L2", "b", 1, D("0.5"))]
        assert _sizes(s) == {"b": D("0.5")}
        assert check_ledger(s).balanced


def test_too_few_positions_close_what_exists_and_absorb_only_their_share(session_factory) -> None:  # type: ignore[no-untyped-def]
    _into_adl(session_factory, [short("only", "1", "90"), long("same-side", "50")])
    with session_factory() as s:
        book_liquidations(s, [liq(1, "3", fill="99.99")])  # shortfall 0.03 over 3 units; 1 unit available
        book_liquidations(s, [liq(2, "1", fill="99")])  # nobody left at all
        s.commit()
    with session_factory() as s:
        assert _fills(s) == [("L1", "only", 1, D(1))]  # never a same-side position
        assert _sizes(s) == {"same-side": D(50)}
        adl = s.scalars(select(FundPosting.amount).where(FundPosting.account == "adl:USDT")).all()
        assert sorted(adl) == [D("-0.01"), D(0)]
        assert check_ledger(s).balanced
        pool = metrics.monthly(s, T0, T0 + timedelta(days=1)).pools[0]
        assert (pool.adl_absorbed, pool.adl_unabsorbed, pool.adl_size_closed) == (D("0.01"), D("1.02"), D(1))


def test_inverse_contracts_close_their_base_quantity(session_factory) -> None:  # type: ignore[no-untyped-def]
    _into_adl(session_factory, [short("a", "1", "80")])
    coin = LiquidationIn("I1", BTC, "BTC-USD-SWAP", LONG, D(30), D(100), D(90), T0, ContractType.INVERSE, D(10))
    with session_factory() as s:
        book_liquidations(s, [coin])  # 30 contracts of 10 USD at 100 = 3 coins; 1 available
        s.commit()
        assert _fills(s) == [("I1", "a", 1, D(1))]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    marks=st.lists(st.integers(60, 140), min_size=6, max_size=6),
    needed=st.lists(st.integers(1, 60), min_size=1, max_size=4),
)
def test_any_book_of_positions_is_walked_in_order(
    sqlite_factory: Callable[[], sessionmaker[Session]], sizes: list[int], marks: list[int], needed: list[int]
) -> None:
    """Against a brute-force walk of the ranked queue, liquidation after liquidation."""
    factory = sqlite_factory()
    positions = [short(f"p{i}", str(sz), str(marks[i])) for i, sz in enumerate(sizes)]
    _into_adl(factory, positions)
    with factory() as s:
        book_liquidations(s, [liq(i, str(n)) for i, n in enumerate(needed)])
        s.commit()
        assert _fills(s) == _walk(positions, [D(n) for n in needed])


def _worker(url: str, worker: int, count: int) -> None:
    from bastion.db.session import make_engine, make_sessionmaker

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    for j in range(count):
        with factory() as s:
            book_liquidations(s, [liq(worker * 1000 + j, "0.5")])
            s.commit()
    engine.dispose()


def test_parallel_workers_never_close_a_position_twice(db_url: str, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Two processes deleverage against one queue at once: each unit of a position is closed once."""
    positions = [short(f"p{i}", "3", str(70 + 2 * i)) for i in range(10)]  # 30 units
    _into_adl(session_factory, positions)
    with session_factory() as s:
        inject(s, "seed", BTC, D(1), T0 - timedelta(days=1))
        s.commit()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(db_url, w, 25)) for w in range(2)]  # 50 x 0.5 = 25 units
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    with session_factory() as s:
        closed = s.scalar(select(func.sum(AdlFill.size_closed)))
        assert D(closed) == D(25)
        left = sum(_sizes(s).values(), D(0))
        assert left == D(5)
        # Every liquidation is the same, so whatever the interleaving, the queue is walked as one sequence.
        walked = _walk(positions, [D("0.5")] * 50)
        assert sorted((f[1], f[2], f[3]) for f in _fills(s)) == sorted((f[1], f[2], f[3]) for f in walked)
        assert check_ledger(s).balanced
        status = adl_status(s, BTC)
        assert len(status.deleveraged) == 50 and status.pool.state == "adl"
