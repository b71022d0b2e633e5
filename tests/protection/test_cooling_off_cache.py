"""The precheck's cooling-off cache: fast, and never a stale "allowed" once an activation was acknowledged.

Each test tries to get an "allowed" out of a process that cached "no period" before another process (or
another thread) activated one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from auth_support import OPERATOR, OPERATOR_TOKEN, user_headers
from bastion.protection import cooling_off as co
from bastion.protection.cooling_off_cache import CoolingOffCache, FileVersion, RedisVersion
from bastion.protection.settings import CoolingOffSettings
from bastion.service.app import create_app
from bastion.service.testing import ServerThread
from bastion.settings import Settings

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _activate(factory: sessionmaker[Session], user: str, now: datetime = NOW, days: int = 7) -> datetime:
    with factory() as s:
        row = co.activate(s, f"req-{user}-{now.timestamp()}", user, co.Period.CUSTOM, days, co.Channel.WEB, now)
        s.commit()
        return row.ends_at


def test_no_period_is_cached_until_an_activation_bumps_the_version(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    cache = CoolingOffCache(session_factory, FileVersion(tmp_path / "v"))
    assert cache.active_until("alice", NOW) is None
    assert cache.active_until("alice", NOW) is None
    assert (cache.hits, cache.misses) == (1, 1)
    # Another process's activation: committed, then announced through the shared file, never told to us.
    other = CoolingOffCache(session_factory, FileVersion(tmp_path / "v"))
    end = _activate(session_factory, "alice")
    other.activated("alice", end)
    assert cache.active_until("alice", NOW) == end
    # In a period: answered from memory until the end, with no version check and no database.
    cache.version = _Unreadable()
    misses = cache.misses
    assert cache.active_until("alice", end - timedelta(seconds=1)) == end
    assert cache.misses == misses
    # After the end the database is asked again (and the period is over).
    assert cache.active_until("alice", end + timedelta(seconds=1)) is None
    assert cache.misses == misses + 1


class _Unreadable:
    def current(self) -> None:
        return None

    def bump(self) -> None:
        raise OSError("cannot announce")


def test_unknown_version_caches_nothing_negative(session_factory: sessionmaker[Session]) -> None:
    cache = CoolingOffCache(session_factory, _Unreadable())
    for _ in range(3):
        assert cache.active_until("bob", NOW) is None
    assert (cache.hits, cache.misses) == (0, 3)
    end = _activate(session_factory, "bob")
    assert cache.active_until("bob", NOW) == end


def test_activation_racing_a_read_cannot_leave_a_stale_allowed(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """The worst interleaving: a precheck reads "no period" from the database, then, before it stores that
    answer, an activation commits and is announced. The stored answer must not be served afterwards."""
    version = FileVersion(tmp_path / "v")
    raced: list[datetime] = []

    def racing_sessions() -> Session:
        session = session_factory()
        close = session.close

        def close_then_activate() -> None:
            close()
            if not raced:  # the database was read; now the activation lands, before the cache stores
                end = _activate(session_factory, "carol")
                version.bump()
                raced.append(end)

        session.close = close_then_activate  # type: ignore[method-assign]
        return session

    cache = CoolingOffCache(racing_sessions, version)
    assert cache.active_until("carol", NOW) is None  # decided before the activation: fine
    assert raced
    assert cache.active_until("carol", NOW) == raced[0]


def test_the_no_period_answer_also_ages_out(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    clock = [0.0]
    cache = CoolingOffCache(session_factory, FileVersion(tmp_path / "v"), max_age_seconds=5, clock=lambda: clock[0])
    cache.active_until("dan", NOW)
    clock[0] = 4.9
    cache.active_until("dan", NOW)
    clock[0] = 5.0
    cache.active_until("dan", NOW)
    assert (cache.hits, cache.misses) == (1, 2)


# --------------------------------------------------------------------------------------- through the service
AsUser = Callable[[str], dict[str, str]]


def _order(user: str) -> dict[str, str]:
    return {"userId": user, "channel": "api", "instType": "SWAP", "instId": "BTC-USDT-SWAP", "side": "buy", "sz": "1"}


def _session_keys(tmp_path: Path) -> Path:
    """The public half of a development session key, as the instances' configured login-service key."""
    from bastion.access.sessions import dev_key

    path = tmp_path / "login-service.jwk"
    path.write_text(json.dumps(dev_key(tmp_path / "login").as_dict(private=False)))
    return path


@contextmanager
def _two_instances(
    db_url: str, tmp_path: Path, redis: str | None, prefix: str, shared_dir: bool
) -> Iterator[tuple[httpx.Client, httpx.Client, Callable[[], CoolingOffCache], AsUser]]:
    from bastion.access.sessions import dev_key, issue

    def as_user(uid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue(dev_key(tmp_path / 'login'), uid)}"}

    def settings(name: str) -> Settings:
        return Settings(
            database_url=db_url,
            data_dir=tmp_path / ("data" if shared_dir else name),
            redis_url=redis,
            operator_token=OPERATOR_TOKEN,  # type: ignore[arg-type]
            # both instances trust the same login service (here: one development key)
            user_session_keys=_session_keys(tmp_path),
            cooling_off=CoolingOffSettings(redis_prefix=prefix),
        )

    app_a, app_b = create_app(settings("a")), create_app(settings("b"))
    with (
        ServerThread(app_a) as url_a,
        ServerThread(app_b) as url_b,
        httpx.Client(headers=OPERATOR, base_url=url_a, timeout=15) as a,
        httpx.Client(headers=OPERATOR, base_url=url_b, timeout=15) as b,
    ):
        yield a, b, lambda: app_b.state.cooling_off_cache, as_user


def _activate_on_a_then_precheck_on_b(
    a: httpx.Client, b: httpx.Client, cache_b: Callable[[], CoolingOffCache], as_user: AsUser, users: int
) -> None:
    for i in range(users):
        user = f"u{i}-{uuid.uuid4().hex[:6]}"
        assert b.post("/v1/orders/precheck", json=_order(user)).json()["allowed"] is True
        hits = cache_b().hits
        assert b.post("/v1/orders/precheck", json=_order(user)).json()["allowed"] is True
        assert cache_b().hits == hits + 1  # B really answers "no period" from its cache
        r = a.post("/v1/cooling-off", json={"request_id": f"r-{user}", "period": "1d"}, headers=as_user(user))
        assert r.status_code == 200 and r.json()["active"]
        refused = b.post("/v1/orders/precheck", json=_order(user)).json()
        assert refused["allowed"] is False and refused["coolingOffUntil"] is not None, (i, refused)


@pytest.mark.redis
def test_activation_on_one_instance_refuses_at_once_on_another_through_redis(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    # Separate data dirs: only Redis connects the two instances.
    with _two_instances(db_url, tmp_path, redis_url, f"{redis_prefix}co:", shared_dir=False) as (
        a,
        b,
        cache_b,
        as_user,
    ):
        _activate_on_a_then_precheck_on_b(a, b, cache_b, as_user, users=10)
        assert isinstance(cache_b().version, RedisVersion)


def test_activation_on_one_worker_refuses_at_once_on_another_without_redis(db_url: str, tmp_path: Path) -> None:
    """`bastion serve --workers N` without Redis: the workers share the data dir's version file."""
    with _two_instances(db_url, tmp_path, None, "", shared_dir=True) as (a, b, cache_b, as_user):
        _activate_on_a_then_precheck_on_b(a, b, cache_b, as_user, users=5)
        assert isinstance(cache_b().version, FileVersion)


def test_refusal_is_recorded_and_redis_down_falls_back_to_the_database(
    db_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    _activate(session_factory, "erin", now=datetime.now(UTC))
    # Nothing listens on port 1: every Redis call fails fast, so every precheck reads the database.
    settings = Settings(
        database_url=db_url, data_dir=tmp_path / "d", redis_url="redis://127.0.0.1:1/0",
        operator_token=OPERATOR_TOKEN,  # type: ignore[arg-type]
    )  # fmt: skip
    app = create_app(settings)
    with ServerThread(app) as url, httpx.Client(headers=OPERATOR, base_url=url, timeout=15) as c:
        assert c.post("/v1/orders/precheck", json=_order("frank")).json()["allowed"] is True
        assert c.post("/v1/orders/precheck", json=_order("frank")).json()["allowed"] is True
        assert app.state.cooling_off_cache.hits == 0
        assert c.post("/v1/orders/precheck", json=_order("erin")).json()["allowed"] is False
        # Not announced, so not acknowledged: the client must retry.
        r = c.post(
            "/v1/cooling-off", json={"request_id": "r-g", "period": "7d"}, headers=user_headers(settings, "gail")
        )
        assert r.status_code == 503
    deadline = time.monotonic() + 5
    while True:
        with session_factory() as s:
            month = co.monthly(s, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
        if month.orders_refused == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert month.orders_refused == 1 and month.refused_by_channel == {"api": 1}
