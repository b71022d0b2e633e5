"""Rate limits per key and per user per route: in memory, and in Redis shared by two service instances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from keys_support import Service, build_app, sign_headers
from limits.storage import RedisStorage

from auth_support import OPERATOR
from bastion.keys.lifecycle import IssuedKey
from bastion.service.okx_auth import keys_runtime
from bastion.service.testing import ServerThread

CONFIG = "/api/v5/account/config"
_tick = [0]


def call(http: httpx.Client, key: IssuedKey, path: str = CONFIG) -> str:
    # A distinct timestamp per call, so no two requests are byte-identical (that would be a replay).
    _tick[0] += 1
    at = datetime.now(UTC) + timedelta(milliseconds=_tick[0] % 1000)
    return str(http.get(path, headers=sign_headers(key, "GET", path, at=at)).json()["code"])


def test_in_memory_limits_per_key_per_user_and_per_route(keys_settings: Any) -> None:
    app = build_app(
        keys_settings.model_copy(
            update={"keys_rate_limit_per_key": "3/30 seconds", "keys_rate_limit_per_user": "4/30 seconds"}
        )
    )
    with ServerThread(app) as url, httpx.Client(headers=OPERATOR, base_url=url) as http:
        svc = Service(app, url, keys_runtime(app))
        assert svc.runtime.limits.in_memory  # this process's own counters (keys/ratelimit.py MemoryCounters)
        k1, k2, other_user = svc.key("u1"), svc.key("u1"), svc.key("u2")
        assert [call(http, k1) for _ in range(4)] == ["0", "0", "0", "50011"]  # the key's own budget
        assert [call(http, k2) for _ in range(2)] == ["0", "50011"]  # the user's budget is shared by keys
        assert call(http, k1, "/v1/keys") == "0"  # another route has its own budget
        assert call(http, other_user) == "0"  # another user is unaffected
        r = http.get(CONFIG, headers=sign_headers(k1, "GET", CONFIG, at=datetime.now(UTC) - timedelta(seconds=1)))
        assert r.status_code == 429 and r.json() == {"code": "50011", "msg": "Too Many Requests", "data": []}


@pytest.mark.redis
def test_two_service_instances_share_limits_and_replay_guard_in_redis(keys_settings: Any, redis_url: str) -> None:
    settings = keys_settings.model_copy(update={"redis_url": redis_url, "keys_rate_limit_per_key": "4/30 seconds"})
    app_a, app_b = build_app(settings), build_app(settings)
    with ServerThread(app_a) as url_a, ServerThread(app_b) as url_b:
        a, b = httpx.Client(headers=OPERATOR, base_url=url_a), httpx.Client(headers=OPERATOR, base_url=url_b)
        svc = Service(app_a, url_a, keys_runtime(app_a))
        assert isinstance(svc.runtime.limits.storage, RedisStorage)
        key = svc.key("u-redis")
        # Alternate between the instances: four requests in all pass, the fifth is refused wherever it lands.
        assert [call(a, key), call(b, key), call(a, key), call(b, key)] == ["0"] * 4
        assert call(a, key) == "50011" and call(b, key) == "50011"
        # A request accepted by one instance cannot be replayed against the other.
        other = svc.key("u-redis-2")
        h = sign_headers(other, "GET", "/v1/keys")
        assert a.get("/v1/keys", headers=h).json()["code"] == "0"
        assert b.get("/v1/keys", headers=h).json()["code"] == "50114"
        a.close()
        b.close()


def test_without_redis_each_instance_counts_alone(keys_settings: Any) -> None:
    # The control for the test above: two in-memory instances do NOT share, which is why production sets
    # BASTION_REDIS_URL when it runs more than one process.
    settings = keys_settings.model_copy(update={"keys_rate_limit_per_key": "2/30 seconds"})
    app_a, app_b = build_app(settings), build_app(settings)
    with ServerThread(app_a) as url_a, ServerThread(app_b) as url_b:
        a, b = httpx.Client(headers=OPERATOR, base_url=url_a), httpx.Client(headers=OPERATOR, base_url=url_b)
        key = Service(app_a, url_a, keys_runtime(app_a)).key("u-mem")
        assert [call(a, key), call(a, key), call(a, key)] == ["0", "0", "50011"]
        assert call(b, key) == "0"
        a.close()
        b.close()
