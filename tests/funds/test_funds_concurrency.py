"""Several processes book into one pool at once: nothing is lost, nothing is booked twice, the ledger balances.

Outcomes are small against a large seed so no pool state change depends on the order the workers happen to
run in: the final balance must be exactly seed + the sum of every distinct liquidation's outcome.
"""

from __future__ import annotations

import multiprocessing
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from bastion.funds.ledger import LiquidationIn, PoolKey, book_liquidations, check_ledger, inject, pool_balance
from bastion.funds.liquidation import PositionSide, liquidation_outcome
from bastion.funds.models import FundPool, Liquidation

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POOL = PoolKey("SWAP", "BTC-USDT", "USDT")
SEED = D(1_000_000_000)


def _liquidations(worker: int, workers: int, count: int, shared: int) -> list[LiquidationIn]:
    rng = random.Random(worker)
    items = []
    for j in range(count):
        bk = D(rng.randint(90_00, 110_00)) / 100
        fill = bk + D(rng.randint(-500, 500)) / 100
        items.append(
            LiquidationIn(
                id=f"w{worker}-{j}", pool=POOL, inst_id="BTC-USDT-SWAP",
                pos_side=PositionSide.LONG if j % 2 else PositionSide.SHORT, sz=D(rng.randint(1, 1000)) / 1000,
                bk_px=bk, fill_px=fill, ts=T0 + timedelta(minutes=j * workers + worker),
            )
        )  # fmt: skip
    # Every worker also sends the same `shared` liquidations: each must be booked exactly once.
    for j in range(shared):
        items.insert(
            (j * 7) % len(items),
            LiquidationIn(
                id=f"shared-{j}", pool=POOL, inst_id="BTC-USDT-SWAP", pos_side=PositionSide.LONG, sz=D("0.5"),
                bk_px=D(100), fill_px=D(100) + D(j % 11 - 5), ts=T0 + timedelta(minutes=j * workers),
            ),
        )  # fmt: skip
    return items


def _work(url: str, worker: int, workers: int, count: int, shared: int, batch: int) -> None:
    from bastion.db.session import make_engine, make_sessionmaker

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    items = _liquidations(worker, workers, count, shared)
    for start in range(0, len(items), batch):
        with factory() as s:
            book_liquidations(s, items[start : start + batch], now=T0)
            s.commit()
    engine.dispose()


def _run(url: str, workers: int, count: int, shared: int, batch: int) -> None:
    from bastion.db.session import make_engine, make_sessionmaker

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        inject(s, "seed", POOL, SEED, T0 - timedelta(days=1))
        s.commit()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_work, args=(url, w, workers, count, shared, batch)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * workers

    expected = SEED
    distinct = {}
    for w in range(workers):
        for item in _liquidations(w, workers, count, shared):
            distinct[item.id] = item
    for item in distinct.values():
        expected += liquidation_outcome(item.pos_side, item.sz, item.bk_px, item.fill_px).amount
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Liquidation)) == len(distinct)
        pool_id = s.scalars(select(FundPool.id)).one()
        assert pool_balance(s, pool_id) == expected
        check = check_ledger(s)
        assert check.balanced, check.problems[:5]
        assert check.entries == len(distinct) + 1
    engine.dispose()


def test_parallel_workers_into_one_pool_single_bookings(db_url: str) -> None:
    """Batches of one: the workers interleave at every booking."""
    _run(db_url, workers=2, count=100, shared=10, batch=1)


# Only on PostgreSQL (SQLite serialises writers on the file anyway): the fixture is asked for its postgres
# case alone, so nothing is skipped; in CI an unreachable server fails it (see conftest).
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_tens_of_thousands_from_four_processes_on_postgres(db_url: str) -> None:
    assert db_url.startswith("postgresql")
    _run(db_url, workers=4, count=5_000, shared=200, batch=1000)
