"""Order precheck service time: the rules alone, the real route handler on its cooling-off cache (in-process
version file, or Redis), the database reads the cache saves, and the loopback HTTP round trip for scale.
Prints p50/p99/mean in microseconds.

    .venv/bin/python bench/precheck.py [--n 5000]

PostgreSQL (BASTION_TEST_POSTGRES_URL) and Redis (BASTION_TEST_REDIS_URL) rows are skipped when unreachable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import BackgroundTasks, FastAPI, Request

from bastion.db.migrate import upgrade
from bastion.db.session import make_engine, make_sessionmaker
from bastion.protection import cooling_off as co
from bastion.protection.settings import CoolingOffSettings
from bastion.service.app import create_app
from bastion.service.routers import protection_user as route
from bastion.service.testing import ServerThread
from bastion.settings import Settings

PG = os.environ.get("BASTION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/bastion_test")
REDIS = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
USERS = 1000  # every tenth in a cooling-off period


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _time(n: int, call: Callable[[int], object]) -> list[float]:
    out = []
    for k in range(n):
        t = time.perf_counter()
        call(k)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def _seed(url: str) -> None:
    factory = make_sessionmaker(make_engine(url))
    now = datetime.now(UTC)
    with factory() as s:
        for i in range(0, USERS, 10):
            co.activate(s, f"b{i}", f"user{i}", co.Period.MONTH, None, co.Channel.WEB, now)
        s.commit()


def _body(k: int) -> route.PrecheckBody:
    return route.PrecheckBody(
        userId=f"user{k % USERS}",
        channel=co.Channel.API,
        instType=co.InstType.SWAP,
        instId="BTC-USDT-SWAP",
        side=co.OrderSide.BUY,
        sz=Decimal(1),
    )


def _handler_rows(label: str, app: FastAPI, n: int) -> list[tuple[str, str, list[float]]]:
    """The real route function, called in-process (no HTTP, no body parsing): the service time."""
    request = Request({"type": "http", "app": app})
    bodies = [_body(k) for k in range(USERS)]
    for k in range(USERS):  # warm the cache: one database read per user
        route.precheck(bodies[k], request, BackgroundTasks())
    allowed = [b for k, b in enumerate(bodies) if k % 10]
    refused = [b for k, b in enumerate(bodies) if not k % 10]
    return [
        (label, "handler, cached 'no period' (allowed)",
         _time(n, lambda k: route.precheck(allowed[k % len(allowed)], request, BackgroundTasks()))),
        (label, "handler, cached period (refused)",
         _time(n, lambda k: route.precheck(refused[k % len(refused)], request, BackgroundTasks()))),
    ]  # fmt: skip


def _database_rows(label: str, url: str, n: int) -> list[tuple[str, str, list[float]]]:
    """What each precheck cost before the cache: a session and one query (the refusal row not included)."""
    factory = make_sessionmaker(make_engine(url))

    def read(k: int) -> None:
        with factory() as s:
            co.active_until(s, f"user{k % USERS}", datetime.now(UTC))

    return [(label, "database read (what a cache miss costs)", _time(n, read))]


def _http_row(label: str, app: FastAPI, n: int) -> tuple[str, str, list[float]]:
    from bastion.access import credentials

    # an order gateway's credential (orders:precheck), as in production
    with app.state.sessionmaker() as s:
        issued = credentials.create(s, f"bench-gateway-{os.urandom(3).hex()}", ["orders:precheck"], datetime.now(UTC))
        s.commit()
    auth = {"Authorization": f"Bearer {issued.token}"}
    with ServerThread(app) as base, httpx.Client(base_url=base, headers=auth) as c:
        body = _body(1).model_dump(mode="json")
        c.post("/v1/orders/precheck", json=body).raise_for_status()
        return (
            label,
            "HTTP round trip, loopback (allowed)",
            _time(n, lambda k: c.post("/v1/orders/precheck", json=body).raise_for_status()),
        )


@contextmanager
def _postgres() -> Iterator[str | None]:
    server = sa.make_url(PG).set(database="postgres")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"bastion_b_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"postgres skipped: {exc}")
        admin.dispose()
        yield None
        return
    try:
        yield sa.make_url(PG).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _redis_prefix() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:
        print(f"redis skipped: {exc}")
        return None
    return f"bastion_bench_{uuid.uuid4().hex[:8]}:"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    n = args.n
    rows: list[tuple[str, str, list[float]]] = []

    def rules(k: int) -> None:
        e = co.classify_order(co.InstType.SWAP, co.OrderSide.BUY, co.PosSide.NET, Decimal(1), False, Decimal(0))
        co.precheck(e, None, datetime.now(UTC))

    rows.append(("-", "rules only (no cache, no database)", _time(n, rules)))
    prefix = _redis_prefix()
    with tempfile.TemporaryDirectory() as tmp, _postgres() as pg:
        targets = [("sqlite", f"sqlite:///{tmp}/bench.sqlite")] + ([("postgres", pg)] if pg else [])
        for db, url in targets:
            upgrade(url)
            _seed(url)
            rows += _database_rows(db, url, n)
            versions = [("file", None)] + ([("redis", REDIS)] if prefix else [])
            for kind, redis_url in versions:
                settings = Settings(
                    database_url=url,
                    data_dir=Path(tmp) / f"{db}-{kind}",
                    redis_url=redis_url,
                    cooling_off=CoolingOffSettings(redis_prefix=prefix or ""),
                )
                rows += _handler_rows(f"{db}+{kind}", create_app(settings), n)
                rows.append(_http_row(f"{db}+{kind}", create_app(settings), n // 2))
    if prefix:
        import redis

        client = redis.Redis.from_url(REDIS)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    print(f"{'setup':16} {'path':42} {'n':>6} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}")
    for label, path, xs in rows:
        p50, p99, mean = _pct(xs, 0.5), _pct(xs, 0.99), statistics.mean(xs)
        print(f"{label:16} {path:42} {len(xs):6d} {p50:8.1f} {p99:8.1f} {mean:8.1f}")


if __name__ == "__main__":
    main()
