"""The real commands in subprocesses: `bastion serve` making and printing the bootstrap admin credential once,
its banner, its refusal of a non-loopback host while that is the only credential; `bastion tokens ...` and
`bastion users token` against the served database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bastion.service.testing import free_port
from serve_support import serving

BIN = Path(sys.executable).parent / "bastion"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    out.update(
        BASTION_DATA_DIR=str(tmp_path / "data"),
        BASTION_SECRET_KEY="serve-test-secret-0123456789abcdef012345",
        BASTION_KEYS_SWEEP_INTERVAL_SECONDS="0",
    )
    return out


def bastion(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def served(env: dict[str, str], *args: str) -> Iterator[tuple[str, list[str]]]:
    """`bastion serve` until the block ends; yields its URL and the stderr lines printed until it listened."""
    log_dir = Path(env["BASTION_DATA_DIR"]).parent / "serve-logs"
    with serving([env], log_dir, *args) as started:
        # everything printed before uvicorn listened is in the log already
        yield started[0].url, started[0].output().splitlines()


def test_first_serve_makes_the_admin_credential_once_and_stays_on_loopback(env: dict[str, str]) -> None:
    with served(env) as (base, lines):
        text = "\n".join(lines)
        tokens = re.findall(r"token \(shown once[^:]*\): (bst_\S+)", text)
        assert len(tokens) == 1, text
        token = tokens[0]
        # the banner: URL, database, authentication mode, user-session mode
        assert base in text and "database:" in text and "authentication: on" in text and "user sessions:" in text
        assert httpx.get(f"{base}/v1/risk/reviews").status_code == 401
        ok = httpx.get(f"{base}/v1/risk/reviews", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
    listed = bastion(env, "tokens", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["scopes"], r["bootstrap"]) for r in rows] == [("bootstrap-admin", ["*"], True)]
    assert token not in listed.stdout and token not in (
        Path(env["BASTION_DATA_DIR"]) / "bastion.sqlite"
    ).read_bytes().decode("latin-1")

    # a second start prints no new token; a non-loopback host is refused while only that credential exists
    with served(env) as (_, again):
        assert "shown once" not in "\n".join(again)
    refused = bastion(env, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2
    assert "refusing --host 0.0.0.0" in refused.stderr and "bastion tokens create" in refused.stderr
    assert "Traceback" not in refused.stderr

    # with a named credential, it may listen beyond loopback
    made = bastion(env, "tokens", "create", "--name", "wallet-service", "--scopes", "risk:write,events:write", "--json")
    assert made.returncode == 0, made.stderr
    wallet = json.loads(made.stdout)
    assert wallet["name"] == "wallet-service" and wallet["scopes"] == ["events:write", "risk:write"]
    with served(env, "--host", "0.0.0.0") as (base, lines):
        assert "1 named credential(s), 1 bootstrap admin" in "\n".join(lines)
        auth = {"Authorization": f"Bearer {wallet['token']}"}
        login = {"event_id": "l1", "user_id": "u1", "at": "2026-03-01T00:00:00Z", "ip": "203.0.113.7",
                 "device_fingerprint": "d1"}  # fmt: skip
        assert httpx.post(f"{base}/v1/events/logins", json=login, headers=auth).status_code == 200
        assert httpx.get(f"{base}/v1/risk/reviews", headers=auth).status_code == 403  # not an analyst
        # revoked from another process: refused within the cache time (2 s by default)
        assert bastion(env, "tokens", "revoke", "wallet-service").returncode == 0
        deadline = time.monotonic() + 10
        while httpx.post(f"{base}/v1/events/logins", json=login, headers=auth).status_code != 401:
            assert time.monotonic() < deadline, "a revoked credential still works"
            time.sleep(0.3)
    listed = json.loads(bastion(env, "tokens", "list", "--all", "--json").stdout)
    assert {r["name"]: r["revoked_at"] is not None for r in listed} == {
        "bootstrap-admin": False,
        "wallet-service": True,
    }


def test_operator_token_from_the_environment_needs_no_bootstrap(env: dict[str, str]) -> None:
    env = {**env, "BASTION_OPERATOR_TOKEN": "an-existing-setup-token-0123456789"}
    with served(env) as (base, lines):
        assert "shown once" not in "\n".join(lines) and "BASTION_OPERATOR_TOKEN" in "\n".join(lines)
        headers = {"Authorization": "Bearer an-existing-setup-token-0123456789"}
        assert httpx.get(f"{base}/v1/risk/reviews", headers=headers).status_code == 200


def test_users_token_logs_a_user_in_against_the_served_data_dir(env: dict[str, str]) -> None:
    r = bastion(env, "users", "token", "--uid", "alice", "--ttl", "5m")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    with served(env) as (base, _):
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/v1/cooling-off/alice", headers=headers).json()["active"] is False
        assert httpx.get(f"{base}/v1/cooling-off/bob", headers=headers).status_code == 404
    for bad in (["--ttl", "forever"], ["--ttl", "90d"]):
        r = bastion(env, "users", "token", "--uid", "alice", *bad)
        assert r.returncode == 2 and r.stderr.startswith("error: --ttl") and "Traceback" not in r.stderr


def test_tokens_create_refuses_bad_input_in_one_line(env: dict[str, str]) -> None:
    r = bastion(env, "tokens", "create", "--name", "x", "--scopes", "risk:write,root")
    assert r.returncode == 2 and "unknown root" in r.stderr and "Traceback" not in r.stderr
    r = bastion(env, "tokens", "create", "--name", "Has Spaces", "--scopes", "risk:write")
    assert r.returncode == 2 and "name" in r.stderr
    assert bastion(env, "tokens", "create", "--name", "a", "--scopes", "risk:write").returncode == 0
    again = bastion(env, "tokens", "create", "--name", "a", "--scopes", "risk:write")
    assert again.returncode == 2 and "exists" in again.stderr
    bad_keys = bastion({**env, "BASTION_USER_SESSION_KEYS": "/nonexistent/login.jwks"}, "serve", "--port", "1")
    assert bad_keys.returncode == 2 and "BASTION_USER_SESSION_KEYS" in bad_keys.stderr
    assert "Traceback" not in bad_keys.stderr
    scopes = bastion(env, "tokens", "scopes")
    assert "risk:write" in scopes.stdout and "keys:admin" in scopes.stdout
