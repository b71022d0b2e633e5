"""The service foundation: migrations on both databases, the live server, errors that name the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, Field

from bastion.db.migrate import current_heads, script_heads, upgrade
from bastion.db.session import make_engine

BASTION = str(Path(sys.executable).parent / "bastion")


def test_every_domain_branch_is_at_its_head(db_url: str) -> None:
    assert current_heads(db_url) == script_heads()
    upgrade(db_url)  # idempotent
    assert current_heads(db_url) == script_heads()


def test_branches_share_one_root() -> None:
    from alembic.script import ScriptDirectory

    from bastion.db.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    bases = scripts.get_bases()
    assert bases == ["base_0001"], "every domain branch must start from the common base revision"
    for head in scripts.get_heads():
        labels = {lbl for rev in scripts.iterate_revisions(head, "base") for lbl in rev.branch_labels}
        assert labels, f"head {head} belongs to no labelled domain branch"


def test_models_match_migrations(db_url: str) -> None:
    """What the models declare is what the migrations built (a domain forgot no column or index)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from bastion.models import metadata
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/x.sqlite")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_health_and_openapi(http: httpx.Client) -> None:
    r = http.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    spec = http.get("/openapi.json").json()
    assert spec["info"]["title"] == "Bastion"


class Item(BaseModel):
    name: str
    amount: int = Field(gt=0)


def test_validation_error_names_field_and_row(settings) -> None:  # type: ignore[no-untyped-def]
    """A router added on the fly: a bad row in a list body comes back as 422 naming row and field."""
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread

    router = APIRouter()

    @router.post("/_items")
    def post_items(items: list[Item]) -> dict[str, int]:
        return {"n": len(items)}

    app = create_app(settings)
    app.include_router(router)
    with ServerThread(app) as base, httpx.Client(base_url=base) as client:
        r = client.post("/_items", json=[{"name": "a", "amount": 1}, {"name": "b", "amount": -5}])
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == "amount" and detail["row"] == 1
    assert "row 1, amount" in r.json()["message"]


def test_cli_db_upgrade(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/cli.sqlite"
    out = subprocess.run(
        [BASTION, "db", "upgrade", "--url", url],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert current_heads(url) == script_heads()


@pytest.mark.slow
def test_bastion_serve_runs_migrations_and_serves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The real command line: `bastion serve` migrates a fresh database and answers over HTTP."""
    import os
    import time

    from bastion.service.testing import free_port

    port = free_port()
    env = dict(os.environ, BASTION_DATA_DIR=str(tmp_path / "data"))
    env.pop("BASTION_DATABASE_URL", None)
    proc = subprocess.Popen(
        [BASTION, "serve", "--port", str(port), "--workers", "1"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else "no output"
                    raise AssertionError(output) from None
                time.sleep(0.1)
        assert r.json()["status"] == "ok"
        assert current_heads(f"sqlite:///{tmp_path}/data/bastion.sqlite") == script_heads()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.redis
def test_redis_fixture_gives_a_private_prefix(redis_url: str, redis_prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{redis_prefix}probe", b"1", ex=60)
        assert client.get(f"{redis_prefix}probe") == b"1"
        assert redis_prefix.startswith("bastion_t_")
    finally:
        client.close()


def test_a_failing_shutdown_hook_does_not_cost_the_others_their_final_write(settings) -> None:  # type: ignore[no-untyped-def]
    """Shutdown hooks (batched writes flushed before the engine goes) run whatever the one before did: one that
    raises is logged, the ones after it still run, and the engine is still disposed."""
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread

    app = create_app(settings)
    ran: list[str] = []

    async def broken() -> None:
        ran.append("broken")
        raise RuntimeError("the database refused the final batch")

    async def after() -> None:
        ran.append("after")

    app.state.shutdown_hooks.insert(0, broken)
    app.state.shutdown_hooks.append(after)
    disposed: list[bool] = []
    engine = app.state.engine
    real_dispose = engine.dispose

    def dispose(*args: object, **kwargs: object) -> None:
        disposed.append(True)
        real_dispose()

    engine.dispose = dispose
    with ServerThread(app) as base, httpx.Client(base_url=base) as client:
        assert client.get("/healthz").status_code == 200
    assert ran == ["broken", "after"]
    assert disposed == [True]
