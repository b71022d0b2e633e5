"""End to end: `bastion serve` (two worker processes, Redis) and a key made with `bastion keys create`,
used by python-okx and ccxt; then `bastion keys sweep` against the same database."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ccxt
import pytest
from okx import Account

from serve_support import serving


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BASTION_DATABASE_URL": db_url,
        "BASTION_DATA_DIR": str(tmp_path / "data"),
        "BASTION_SECRET_KEY": "serve-test-secret-0123456789abcdef012345",
        "BASTION_KEYS_RATE_LIMIT_PER_KEY": "6/30 seconds",
        "BASTION_KEYS_SWEEP_INTERVAL_SECONDS": "0",
    }


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    """`bastion keys ...` in process (a subprocess per call costs seconds of imports on a busy machine)."""
    from typer.testing import CliRunner

    from bastion.cli import app

    result = CliRunner().invoke(app, ["keys", *args], env=env)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


@pytest.fixture
def served(env: dict[str, str], redis_url: str) -> Iterator[str]:
    env = {**env, "BASTION_REDIS_URL": redis_url}
    with serving([env], Path(env["BASTION_DATA_DIR"]).parent / "serve-logs", "--workers", "2") as started:
        yield started[0].url


@pytest.mark.redis
@pytest.mark.slow
def test_cli_key_works_with_real_clients_against_bastion_serve(served: str, env: dict[str, str]) -> None:
    made = json.loads(
        cli(
            env,
            "create",
            "--user",
            "cli-user",
            "--perms",
            "read,trade",
            "--passphrase",
            "Passphrase123!",
            "--label",
            "desk",
            "--json",
        )
    )
    assert len(made["secret"]) == 32 and made["perms"] == ["read", "trade"]
    okx = Account.AccountAPI(made["key_id"], made["secret"], "Passphrase123!", flag="0", domain=served)
    ex = ccxt.okx({"apiKey": made["key_id"], "secret": made["secret"], "password": "Passphrase123!"})
    ex.urls["api"] = {"rest": served}
    assert okx.get_account_config()["data"][0]["perm"] == "read_only,trade"
    assert ex.fetch_accounts()[0]["id"] == "cli-user"
    # Two worker processes, one budget (6 per 30 s per key, in Redis): 2 used above, 4 more pass.
    codes = [okx.get_account_config()["code"] for _ in range(6)]
    assert codes == ["0"] * 4 + ["50011"] * 2
    with pytest.raises(ccxt.RateLimitExceeded):
        ex.fetch_accounts()


def test_cli_create_list_sweep_revoke(env: dict[str, str]) -> None:
    from bastion.db.migrate import upgrade

    upgrade(env["BASTION_DATABASE_URL"])
    made = json.loads(
        cli(env, "create", "--user", "u9", "--perms", "trade", "--passphrase", "Passphrase123!", "--json")
    )
    bound = json.loads(
        cli(
            env,
            "create",
            "--user",
            "u9",
            "--perms",
            "trade",
            "--ip",
            "203.0.113.7",
            "--ip",
            "10.0.0.0/9",  # with the address above, at most a /8 in total: IP-bound
            "--passphrase",
            "Passphrase123!",
            "--json",
        )
    )
    assert bound["ips"] == ["203.0.113.7", "10.0.0.0/9"]
    err = cli(env, "create", "--user", "u9", "--perms", "withdraw", "--passphrase", "Passphrase123!", code=2)
    assert "TOTP" in err
    assert "ips[0]" in cli(env, "create", "--user", "u9", "--ip", "1.2.3", "--passphrase", "Passphrase123!", code=2)
    listed = json.loads(cli(env, "list", "--user", "u9", "--json"))
    assert {k["key_id"] for k in listed} == {made["key_id"], bound["key_id"]}
    # Nothing is 14 days idle yet: the sweep deletes nothing.
    assert json.loads(cli(env, "sweep", "--json"))["count"] == 0
    # Age the unbound key by 15 days in the database, as if nobody had used it since.
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.keys.models import ApiKey

    engine = make_engine(env["BASTION_DATABASE_URL"])
    with make_sessionmaker(engine)() as s:
        for k in s.query(ApiKey).all():
            k.created_at = datetime.now(UTC) - timedelta(days=15)
        s.commit()
    engine.dispose()
    dry = json.loads(cli(env, "sweep", "--dry-run", "--json"))
    assert dry["dry_run"] and [k["key_id"] for k in dry["keys"]] == [made["key_id"]]
    assert len(json.loads(cli(env, "list", "--user", "u9", "--json"))) == 2
    assert "deleted 1 idle unbound key(s)" in cli(env, "sweep")
    assert [k["key_id"] for k in json.loads(cli(env, "list", "--user", "u9", "--json"))] == [bound["key_id"]]
    cli(env, "revoke", "--user", "u9", "--key", bound["key_id"])
    assert json.loads(cli(env, "list", "--user", "u9", "--json")) == []
