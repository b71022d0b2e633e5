"""Attacks on signed-request authentication through the running service, one property at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from keys_support import PASSPHRASE, Service, build_app, sign_headers
from pydantic import SecretStr
from sqlalchemy import select

from auth_support import OPERATOR
from bastion.keys.models import ApiKeyRejection
from bastion.service.okx_auth import keys_runtime
from bastion.service.testing import ServerThread

CONFIG = "/api/v5/account/config"


def code(r: httpx.Response) -> str:
    return str(r.json()["code"])


@pytest.fixture
def http(service: Service) -> httpx.Client:
    with httpx.Client(headers=OPERATOR, base_url=service.url, timeout=10) as client:
        yield client  # type: ignore[misc]


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ("OK-ACCESS-KEY", "50103"),
        ("OK-ACCESS-PASSPHRASE", "50104"),
        ("OK-ACCESS-SIGN", "50106"),
        ("OK-ACCESS-TIMESTAMP", "50107"),
    ],
)
def test_missing_headers(service: Service, http: httpx.Client, drop: str, expected: str) -> None:
    key = service.key("u1")
    headers = sign_headers(key, "GET", CONFIG)
    del headers[drop]
    r = http.get(CONFIG, headers=headers)
    assert (r.status_code, code(r)) == (401, expected)


def test_malformed_and_unknown_keys_and_timestamps(service: Service, http: httpx.Client) -> None:
    key = service.key("u1")
    h = sign_headers(key, "GET", CONFIG)
    assert code(http.get(CONFIG, headers={**h, "OK-ACCESS-KEY": "not-a-key"})) == "50111"
    assert code(http.get(CONFIG, headers={**h, "OK-ACCESS-KEY": "00000000-0000-4000-8000-000000000000"})) == "50119"
    assert code(http.get(CONFIG, headers={**h, "OK-ACCESS-TIMESTAMP": "1700000000000"})) == "50112"


def test_tampered_body_query_path_and_method(service: Service, http: httpx.Client) -> None:
    key = service.key("u1", "trade")
    body = '{"instId":"BTC-USDT","sz":"1"}'
    h = sign_headers(key, "POST", "/test-probe/trade", body)
    assert code(http.post("/test-probe/trade", content='{"instId":"BTC-USDT","sz":"100"}', headers=h)) == "50113"
    assert code(http.post("/test-probe/trade?sz=100", content=body, headers=h)) == "50113"
    h2 = sign_headers(key, "GET", "/v1/keys?limit=1")
    assert code(http.get("/v1/keys?limit=2", headers=h2)) == "50113"
    assert code(http.get(CONFIG, headers=h2)) == "50113"  # signature for one route used on another
    h3 = sign_headers(key, "POST", "/test-probe/trade", body)
    assert code(http.post("/test-probe/trade", content=body, headers=h3)) == "0"  # the untampered one passes


def test_replay_within_the_window_is_refused(service: Service, http: httpx.Client) -> None:
    key = service.key("u1", "trade")
    body = '{"instId":"BTC-USDT","side":"buy","sz":"1"}'
    h = sign_headers(key, "POST", "/test-probe/trade", body)
    assert code(http.post("/test-probe/trade", content=body, headers=h)) == "0"
    # The same bytes again, well inside the 30 s window: a captured order must not execute twice.
    r = http.post("/test-probe/trade", content=body, headers=h)
    assert (r.status_code, code(r)) == (401, "50114")
    # A fresh signature (new timestamp) for the same order is a new request and passes.
    h_new = sign_headers(key, "POST", "/test-probe/trade", body, at=datetime.now(UTC) + timedelta(milliseconds=5))
    assert code(http.post("/test-probe/trade", content=body, headers=h_new)) == "0"


def test_clock_skew_boundary_with_the_service_clock_fixed(service: Service, http: httpx.Client) -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    service.runtime.clock = lambda: now
    key = service.key("u1", now=now)
    edge = timedelta(seconds=30)
    ms = timedelta(milliseconds=1)
    for at in (now - edge, now + edge):
        assert code(http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG, at=at))) == "0"
    for at in (now - edge - ms, now + edge + ms):
        assert code(http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG, at=at))) == "50102"


def test_passphrase_is_not_an_oracle_without_the_secret(service: Service, http: httpx.Client) -> None:
    # Someone holding the key id but not the secret learns nothing about passphrase guesses: the signature
    # is checked first, so right and wrong passphrases both get 50113.
    key = service.key("u1")
    forged = "F" * 32
    for guess in (PASSPHRASE, "Wrong12345"):
        h = sign_headers(key, "GET", CONFIG, passphrase=guess, secret=forged)
        assert code(http.get(CONFIG, headers=h)) == "50113"


def _from(address: str, url: str) -> httpx.Client:
    """A client whose connections come from `address` (a loopback address other than 127.0.0.1 can stand
    for a proxy or a client on another host)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(headers=OPERATOR, base_url=url, transport=transport, timeout=10)


def test_spoofed_forwarded_for_is_ignored(service: Service) -> None:
    key = service.key("u1", ips=("203.0.113.7",))
    with _from("127.0.0.2", service.url) as http:
        for spoof in ("203.0.113.7", "203.0.113.7, 203.0.113.7"):
            h = sign_headers(key, "GET", CONFIG, at=datetime.now(UTC) + timedelta(milliseconds=len(spoof)))
            r = http.get(CONFIG, headers={**h, "X-Forwarded-For": spoof, "Forwarded": "for=203.0.113.7"})
            assert code(r) == "50110" and "127.0.0.2" in r.json()["msg"]


def test_spoofed_forwarded_for_from_loopback_is_ignored(service: Service) -> None:
    # the default peer of a local process: no proxy is configured, so no forwarding header is believed
    key = service.key("u1", ips=("203.0.113.7",))
    with _from("127.0.0.1", service.url) as http:
        h = sign_headers(key, "GET", CONFIG)
        r = http.get(CONFIG, headers={**h, "X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7"})
        assert code(r) == "50110" and "127.0.0.1" in r.json()["msg"]


def test_forwarded_for_from_a_trusted_proxy_is_believed(keys_settings) -> None:  # type: ignore[no-untyped-def]
    app = build_app(keys_settings.model_copy(update={"trusted_proxies": "127.0.0.2"}))
    with ServerThread(app) as url, _from("127.0.0.2", url) as http:
        svc = Service(app, url, keys_runtime(app))
        key = svc.key("u1", ips=("203.0.113.7",))
        h = sign_headers(key, "GET", CONFIG)
        assert code(http.get(CONFIG, headers={**h, "X-Forwarded-For": "203.0.113.7"})) == "0"
        # A client-supplied left part cannot help: the proxy appends the real peer on the right.
        h = sign_headers(key, "GET", CONFIG, at=datetime.now(UTC) + timedelta(milliseconds=3))
        assert code(http.get(CONFIG, headers={**h, "X-Forwarded-For": "203.0.113.7, 198.51.100.9"})) == "50110"


def test_one_user_cannot_reach_another_users_keys(service: Service, http: httpx.Client) -> None:
    alice = service.key("alice", "read")
    bob = service.key("bob", "trade")
    listed = http.get("/v1/keys", headers=sign_headers(alice, "GET", "/v1/keys")).json()["data"]
    assert [k["apiKey"] for k in listed] == [alice.key_id]
    # The back office addresses keys by owner: naming bob's key under alice finds nothing, changes nothing.
    assert http.delete(f"/v1/users/alice/keys/{bob.key_id}").status_code == 404
    assert http.put(f"/v1/users/alice/keys/{bob.key_id}/ips", json={"ips": ["1.2.3.4"]}).status_code == 404
    assert code(http.get(CONFIG, headers=sign_headers(bob, "GET", CONFIG))) == "0"


def test_refusals_are_recorded_with_their_code(service: Service, http: httpx.Client) -> None:
    key = service.key("u1")
    http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG, passphrase="Wrong12345"))
    http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG, secret="A" * 32))
    http.get(CONFIG)
    service.runtime.authenticator.flush()  # refusals are written in batches
    with service.app.state.sessionmaker() as s:
        rows = s.scalars(select(ApiKeyRejection).order_by(ApiKeyRejection.id)).all()
    assert [(r.code, r.key_id, r.ip, r.path) for r in rows] == [
        ("50105", key.key_id, "127.0.0.1", CONFIG),
        ("50113", key.key_id, "127.0.0.1", CONFIG),
        ("50103", "", "127.0.0.1", CONFIG),
    ]


def test_operator_routes_need_the_operator_token(keys_settings) -> None:  # type: ignore[no-untyped-def]
    app = build_app(keys_settings.model_copy(update={"operator_token": SecretStr("op-token-123")}))
    with ServerThread(app) as url, httpx.Client(headers=OPERATOR, base_url=url) as http:
        body = {"label": "x", "perms": ["read"], "passphrase": PASSPHRASE}
        assert http.post("/v1/users/u1/keys", json=body).status_code == 401
        r = http.post("/v1/users/u1/keys", json=body, headers={"Authorization": "Bearer op-token-123"})
        assert r.status_code == 201 and len(r.json()["secret"]) == 32
