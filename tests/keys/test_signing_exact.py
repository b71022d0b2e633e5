"""Attacks on signing and key policy that used to work, tried against the running service:

- a signature over `/v1/keys` accepted for `/v1/%6beys`, and over `?a=1&b=2` for `?a=1%26b%3D2` (now 50113:
  the signature covers the request target exactly as sent);
- unlimited passphrase guessing by someone holding a key's secret (now: wrong passphrases count against the
  key, which is frozen for a while with OKX's 50100, right passphrase or not, in every worker);
- an allowlist of `0.0.0.0/1` + `128.0.0.0/1` counted as "IP-bound" and escaping the 14-day sweep (now: an
  allowlist covering more than a /8 in total binds nothing);
- an operator's IP change audited as done by the user (now the audit names the operator).

Requests whose target must reach the server byte for byte go through `http.client`, which sends the target
as given (httpx normalizes percent-encoding).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from keys_support import Service, build_app, sign_headers
from pydantic import SecretStr
from sqlalchemy import select

from auth_support import bearer, named_credential
from bastion.keys import ratelimit
from bastion.keys.models import ApiKey, ApiKeyEvent, ApiKeyRejection
from bastion.service.okx_auth import keys_runtime
from bastion.service.testing import ServerThread

CONFIG = "/api/v5/account/config"
TOKEN = "signing-exact-operator-token"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


def raw_get(base: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """GET with the request target sent exactly as written."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.request("GET", target, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_encoded_path_or_query_is_not_the_signed_one(service: Service) -> None:
    key = service.key("exact-1")
    # the path: signed as /v1/keys, sent as /v1/%6beys (the router decodes it to the same route)
    for sent in ("/v1/%6beys", "/v1/%6Beys", "/%761/keys"):
        status, body = raw_get(service.url, sent, sign_headers(key, "GET", "/v1/keys"))
        assert (status, body.get("code")) == (401, "50113"), (sent, body)
    # the query: signed as ?a=1&b=2, sent with the separator and the equals sign encoded, and the reverse
    for signed, sent in (
        (f"{CONFIG}?a=1&b=2", f"{CONFIG}?a=1%26b%3D2"),
        (f"{CONFIG}?a=1%26b%3D2", f"{CONFIG}?a=1&b=2"),
        (f"{CONFIG}?label=a b", f"{CONFIG}?label=a%20b"),
    ):
        status, body = raw_get(service.url, sent, sign_headers(key, "GET", signed))
        assert (status, body.get("code")) == (401, "50113"), (signed, sent, body)
    # what was signed, sent as signed (encoded or not), passes: the rule is "exactly as sent", not "never encoded"
    for target in ("/v1/keys", "/v1/%6beys", f"{CONFIG}?a=1%26b%3D2", f"{CONFIG}?a=1&b=2"):
        status, body = raw_get(service.url, target, sign_headers(key, "GET", target))
        assert (status, body.get("code")) == (200, "0"), (target, body)
    service.runtime.authenticator.flush()  # refusals are written in batches
    with service.app.state.sessionmaker() as s:
        refused = s.scalars(select(ApiKeyRejection.path).where(ApiKeyRejection.code == "50113")).all()
    assert "/v1/%6beys" in refused


@pytest.fixture
def fast_lock(monkeypatch: pytest.MonkeyPatch) -> timedelta:
    """The freeze shortened so a test can see it end."""
    lock = timedelta(seconds=3)
    monkeypatch.setattr(ratelimit, "PASSPHRASE_LOCK", lock)
    return lock


def test_passphrase_guessing_freezes_the_key(service: Service, fast_lock: timedelta) -> None:
    import time

    key = service.key("guess-1")
    other = service.key("guess-1", label="second key")
    with httpx.Client(base_url=service.url, timeout=10) as http:
        assert http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG)).json()["code"] == "0"
        codes = [
            http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG, passphrase=f"Guess{i}abc!")).json()["code"]
            for i in range(ratelimit.PASSPHRASE_MAX_FAILURES)
        ]
        assert codes == ["50105"] * ratelimit.PASSPHRASE_MAX_FAILURES
        frozen_at = time.monotonic()
        # frozen: the RIGHT passphrase is refused too, with OKX's frozen-key answer; more guesses learn nothing
        r = http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG))
        assert (r.status_code, r.json()["code"]) == (401, "50100"), r.text
        assert http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG, passphrase="Guess9abc!")).json()[
            "code"
        ] == "50100"
        # the user's other key is not frozen
        assert http.get(CONFIG, headers=sign_headers(other, "GET", CONFIG)).json()["code"] == "0"
        # a wrong SIGNATURE never counts (only the secret's holder can try passphrases at all)
        time.sleep(max(0.0, fast_lock.total_seconds() - (time.monotonic() - frozen_at)) + 0.5)
        assert http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG)).json()["code"] == "0"
        for _ in range(ratelimit.PASSPHRASE_MAX_FAILURES + 2):
            h = sign_headers(key, "GET", CONFIG, secret="0" * 32, passphrase="Wrong123abc")
            assert http.get(CONFIG, headers=h).json()["code"] == "50113"
        assert http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG)).json()["code"] == "0"
    service.runtime.authenticator.flush()  # refusals are written in batches
    with service.app.state.sessionmaker() as s:
        codes_seen = s.scalars(select(ApiKeyRejection.code).where(ApiKeyRejection.key_id == key.key_id)).all()
    assert codes_seen.count("50105") == ratelimit.PASSPHRASE_MAX_FAILURES and codes_seen.count("50100") == 2


def test_the_freeze_holds_in_every_worker(keys_settings: Any, redis_url: str) -> None:
    """With Redis, wrong passphrases sent to one worker freeze the key in the other too."""
    settings = keys_settings.model_copy(update={"redis_url": redis_url})
    with ExitStack() as stack:
        apps = [build_app(settings), build_app(settings)]
        urls = [stack.enter_context(ServerThread(app)) for app in apps]
        a, b = (Service(app, url, keys_runtime(app)) for app, url in zip(apps, urls, strict=True))
        key = a.key("guess-2")
        with httpx.Client(timeout=10) as http:
            for i in range(ratelimit.PASSPHRASE_MAX_FAILURES):
                worker = (a, b)[i % 2]
                h = sign_headers(key, "GET", CONFIG, passphrase=f"Guess{i}abc!")
                assert http.get(worker.url + CONFIG, headers=h).json()["code"] == "50105"
            for worker in (a, b):
                assert http.get(worker.url + CONFIG, headers=sign_headers(key, "GET", CONFIG)).json()["code"] == (
                    "50100"
                )
        for worker in (a, b):
            worker.runtime.limits.storage.clear(f"bastion-keys/frozen/{key.key_id}")


@pytest.fixture
def operator_service(keys_settings: Any) -> Iterator[Service]:
    settings = keys_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    app = build_app(settings)
    with ServerThread(app) as url:
        yield Service(app, url, keys_runtime(app))


def test_a_split_allowlist_is_not_ip_bound_for_the_sweep(operator_service: Service) -> None:
    service = operator_service
    old = service.runtime.clock() - timedelta(days=15)
    allowlists = {
        "split-internet": ("0.0.0.0/1", "128.0.0.0/1"),
        "two-slash-8": ("10.0.0.0/8", "11.0.0.0/8"),
        "v6-half": ("::/1",),
        "one-slash-8": ("10.0.0.0/8",),
        "office": ("203.0.113.0/24", "198.51.100.7"),
        "v6-site": ("2001:db8::/48",),
        "none": (),
    }
    keys = {name: service.key(f"sweep-{name}", "trade", ips=ips, now=old) for name, ips in allowlists.items()}
    with httpx.Client(base_url=service.url, timeout=10) as http:
        r = http.post("/v1/keys/sweep", headers=OPERATOR)
    assert r.status_code == 200, r.text
    swept = {k["key_id"] for k in r.json()["keys"]}
    assert swept == {keys[n].key_id for n in ("split-internet", "two-slash-8", "v6-half", "none")}


def test_operator_ip_change_is_audited_as_the_operator(operator_service: Service) -> None:
    """The back office's changes name the operator credential that made them, never the user."""
    service = operator_service
    alice = bearer(named_credential(service.app.state.settings.database_url, "alice-backoffice", ["keys:admin"]))
    key = service.key("audit-1", "trade", ips=("203.0.113.5",))
    with httpx.Client(base_url=service.url, timeout=10) as http:
        r = http.put(f"/v1/users/audit-1/keys/{key.key_id}/ips", json={"ips": ["203.0.113.6"]}, headers=alice)
        assert r.status_code == 200, r.text
        r = http.delete(f"/v1/users/audit-1/keys/{key.key_id}", headers=alice)
        assert r.status_code == 204, r.text
    with service.app.state.sessionmaker() as s:
        trail = select(ApiKeyEvent.event, ApiKeyEvent.actor).where(ApiKeyEvent.key_id == key.key_id)
        events = s.execute(trail.order_by(ApiKeyEvent.id)).all()
        assert s.get(ApiKey, key.key_id) is not None
    assert [tuple(e) for e in events] == [
        ("created", "user"),
        ("ips_updated", "operator:alice-backoffice"),
        ("revoked", "operator:alice-backoffice"),
    ]
    with service.app.state.sessionmaker() as s:
        assert s.get(ApiKey, key.key_id).revoke_reason == "operator"  # type: ignore[union-attr]
