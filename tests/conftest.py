"""Shared fixtures: real databases (SQLite and PostgreSQL), a real HTTP server, Redis.

- `db_url`: a migrated, empty database, parametrized over `sqlite` (a fresh file per test) and `postgres`
  (one database per test session, `bastion_t_<random>`, created on the server at BASTION_TEST_POSTGRES_URL,
  emptied after each test and dropped at the end, so concurrent runs by several engineers never collide).
  With CI=true an unreachable PostgreSQL FAILS the postgres cases instead of skipping them.
- `live_server`: the real app under uvicorn in a background thread on a free 127.0.0.1 port, against
  `db_url`; yields its base URL. `http`: an httpx.Client on it.
- `redis_url` / `redis_prefix`: the test Redis and a key prefix unique to this session (keys removed at end).
Domains add their own fixtures below; keep this file's existing ones stable.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get(
    "BASTION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/bastion_test"
)
REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _forget_finished_apps() -> Iterator[None]:
    """Let each test's FastAPI apps be freed when the test ends.

    FastAPI classifies every dependency and endpoint through three `lru_cache`s of 4,096 entries each
    (`fastapi.dependencies.models`); the routes that `create_app` defines as closures keep their app, and the app
    its engine and state, alive from the cache. Over the suite that kept hundreds of apps (~2 million objects),
    which made every full garbage collection slow and the interpreter take about a minute to exit after the
    summary. A production process builds one app, so this is the tests' concern only.
    """
    yield
    from fastapi.dependencies import models

    for name in ("_is_gen_callable_cached", "_is_async_gen_callable_cached", "_is_coroutine_callable_cached"):
        cached = getattr(models, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def _unavailable(what: str, why: object) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI and is unreachable: {why}")
    pytest.skip(f"{what} unreachable: {why}")


# --------------------------------------------------------------------------------------------- databases
@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file, which is much cheaper than running Alembic again."""
    from bastion.db.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """An admin URL on the test PostgreSQL server (skips, or fails in CI, when unreachable)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    # Administer through the always-present maintenance database; the named one need not exist.
    admin_url = make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False)
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    finally:
        engine.dispose()
    return admin_url


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test session; dropped at the end."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from bastion.db.migrate import upgrade

    name = f"bastion_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            # A test's server may leave a connection idle inside a transaction (a background task cut off
            # at shutdown); it would hold its locks for ever and block the TRUNCATE. The test is over:
            # end such sessions.
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            )
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            tables = conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables"
                    " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            ).scalars().all()
            if tables:
                quoted = ", ".join(f'"{t}"' for t in tables)
                conn.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a fresh SQLite file, or the session's PostgreSQL one (emptied after)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "bastion.sqlite"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_database")
    yield url
    _empty_postgres(url)


@pytest.fixture
def settings(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings for a service against `db_url`, with its own data dir and a fixed secret key; the operator
    bootstrap credential is `auth_support.OPERATOR_TOKEN` (user sessions: `auth_support.user_headers`)."""
    from auth_support import OPERATOR_TOKEN
    from bastion.settings import Settings

    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789abcdef0123456789",  # type: ignore[arg-type]
        operator_token=OPERATOR_TOKEN,  # type: ignore[arg-type]
        risk_cache_seconds=0.0,
    )


@pytest.fixture
def session_factory(db_url: str):  # type: ignore[no-untyped-def]
    """A sessionmaker on `db_url` for tests that call the domain functions directly."""
    from bastion.db.session import make_engine, make_sessionmaker

    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


# ----------------------------------------------------------------------------------------- live service
@pytest.fixture
def live_server(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real app under uvicorn on a free loopback port, against the migrated `db_url`."""
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread

    app = create_app(settings)
    with ServerThread(app) as base_url:
        yield base_url


@pytest.fixture
def http(live_server: str) -> Iterator[object]:
    """An httpx.Client on the live server sending the operator bootstrap credential (service and operator
    routes); user routes need `headers=auth_support.user_headers(settings, uid)`."""
    import httpx

    from auth_support import OPERATOR

    with httpx.Client(base_url=live_server, timeout=15, headers=OPERATOR) as client:
        yield client


# ----------------------------------------------------------------------------------------------- redis
@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test session; its keys are deleted at the end."""
    import redis

    prefix = f"bastion_t_{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
