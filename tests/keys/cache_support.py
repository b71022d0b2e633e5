"""Helpers for the key-cache tests on real service processes (test_keys_cache_bound, test_keys_cache_review):
the processes' environment, keys made through the operator API, and requests signed by hand."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from auth_support import OPERATOR_TOKEN
from bastion.keys import authcache, signing

CONFIG = "/api/v5/account/config"
PASSPHRASE = "Passphrase123!"
BOUND = authcache.TRUST_SECONDS


def service_env(db_url: str, tmp_path: Path, *, secret_key: str, rate_limit: str, **extra: str) -> dict[str, str]:
    """The environment of a `bastion serve` on `db_url`; processes given the same one share the vault key.
    Without BASTION_REDIS_URL in `extra`, the processes run without Redis (the database alone)."""
    env = {
        **os.environ,
        "BASTION_DATABASE_URL": db_url,
        "BASTION_DATA_DIR": str(tmp_path / "data"),
        "BASTION_SECRET_KEY": secret_key,
        "BASTION_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "BASTION_KEYS_RATE_LIMIT_PER_KEY": rate_limit,
        "BASTION_KEYS_RATE_LIMIT_PER_USER": rate_limit,
        "BASTION_KEYS_SWEEP_INTERVAL_SECONDS": "0",
        **extra,
    }
    if "BASTION_REDIS_URL" not in extra:
        env.pop("BASTION_REDIS_URL", None)
    return env


_tick = [0]
_tick_lock = threading.Lock()  # the review tests sign from several threads at once


def signed(key: dict[str, Any], *, passphrase: str = PASSPHRASE) -> tuple[str, dict[str, str]]:
    """A signed GET of CONFIG for `key`. A fresh timestamp per request: the replay guard refuses a
    byte-identical one (and that is not what the tests wait for). Within one millisecond two requests would be
    identical: the query string differs too."""
    with _tick_lock:
        _tick[0] += 1
        n = _tick[0]
    path = f"{CONFIG}?n={n}"
    ts = signing.format_timestamp(datetime.now(UTC))
    return path, {
        "OK-ACCESS-KEY": key["key_id"],
        "OK-ACCESS-SIGN": signing.sign(key["secret"], ts, "GET", path),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": passphrase,
    }


def answer_code(http: httpx.Client, key: dict[str, Any]) -> str:
    """The OKX `code` the service answers a signed request for `key` with ("0": accepted)."""
    path, headers = signed(key)
    return str(http.get(path, headers=headers).json()["code"])


def make_key(http: httpx.Client, user: str, label: str = "cache-test") -> dict[str, Any]:
    """A read key for `user`, made through the operator API (`http` carries the operator's headers)."""
    r = http.post(f"/v1/users/{user}/keys", json={"label": label, "perms": ["read"], "passphrase": PASSPHRASE})
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made
