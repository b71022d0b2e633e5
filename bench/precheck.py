"""Order precheck service time: the cooling-off decision in-process (SQLite file and, if reachable,
PostgreSQL) and over loopback HTTP through the real service. Prints a table of p50/p99 in microseconds.

    .venv/bin/python bench/precheck.py [--n 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import sqlalchemy as sa

from bastion.db.migrate import upgrade
from bastion.db.session import make_engine, make_sessionmaker
from bastion.protection import cooling_off as co
from bastion.service.app import create_app
from bastion.service.testing import ServerThread
from bastion.settings import Settings

PG = os.environ.get(
    "BASTION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/bastion_test"
)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _seed(url: str, users: int) -> None:
    factory = make_sessionmaker(make_engine(url))
    now = datetime.now(UTC)
    with factory() as s:
        for i in range(0, users, 10):  # every tenth user in a cooling-off period
            co.activate(s, f"b{i}", f"user{i}", co.Period.MONTH, None, co.Channel.WEB, now)
        s.commit()


def _domain(url: str, n: int) -> tuple[list[float], list[float]]:
    """Service time of the decision for users not in a period (allowed) and in one (refused)."""
    factory = make_sessionmaker(make_engine(url))
    allowed, refused = [], []
    for k in range(n):
        user = f"user{k % 1000}"
        t = time.perf_counter()
        with factory() as s:
            effect = co.classify_order(
                co.InstType.SWAP, co.OrderSide.BUY, co.PosSide.NET, Decimal(1), False, Decimal(0)
            )
            d = co.check_order(
                s, user, co.Channel.API, co.InstType.SWAP, "BTC-USDT-SWAP", effect, datetime.now(UTC)
            )
            if not d.allowed:
                s.commit()
        (allowed if d.allowed else refused).append((time.perf_counter() - t) * 1e6)
    return allowed, refused


def _http(url: str, n: int, tmp: str) -> list[float]:
    app = create_app(Settings(database_url=url, data_dir=tmp))  # type: ignore[call-arg]
    out = []
    with ServerThread(app) as base, httpx.Client(base_url=base) as c:
        body = {
            "userId": "user1",
            "channel": "api",
            "instType": "SWAP",
            "instId": "BTC-USDT-SWAP",
            "side": "buy",
            "sz": "1",
        }
        for _ in range(n):
            t = time.perf_counter()
            c.post("/v1/orders/precheck", json=body).raise_for_status()
            out.append((time.perf_counter() - t) * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    rows = []
    pure = []
    for _ in range(args.n):
        t = time.perf_counter()
        e = co.classify_order(
            co.InstType.SWAP, co.OrderSide.BUY, co.PosSide.NET, Decimal(1), False, Decimal(0)
        )
        co.precheck(e, None, datetime.now(UTC))
        pure.append((time.perf_counter() - t) * 1e6)
    rows.append(("-", "rules only (no database)", pure))
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite:///{tmp}/bench.sqlite")]
        server = sa.make_url(PG).set(database="postgres")
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        name = f"bastion_b_{uuid.uuid4().hex[:8]}"
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            targets.append(
                ("postgres", sa.make_url(PG).set(database=name).render_as_string(hide_password=False))
            )
        except Exception as exc:
            print(f"postgres skipped: {exc}")
        try:
            for label, url in targets:
                upgrade(url)
                _seed(url, 1000)
                allowed, refused = _domain(url, args.n)
                rows.append((label, "decision, allowed (no period)", allowed))
                rows.append((label, "decision, refused (+ refusal row)", refused))
                rows.append((label, "HTTP round trip, loopback", _http(url, args.n // 2, tmp)))
        finally:
            if len(targets) > 1:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(f"{'db':9} {'path':36} {'n':>6} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9}")
    for label, path, xs in rows:
        p50, p99, mean = _pct(xs, 0.5), _pct(xs, 0.99), statistics.mean(xs)
        print(f"{label:9} {path:36} {len(xs):6d} {p50:9.0f} {p99:9.0f} {mean:9.0f}")


if __name__ == "__main__":
    main()
