"""Key lifecycle on real databases: withdraw keys and TOTP, what the sweeper picks, Fast API, metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from keys_support import PASSPHRASE, TOTP_SEEDS, Service, build_app, sign_headers
from sqlalchemy import func, select

from auth_support import OPERATOR, user_headers
from bastion.keys import fast_api, lifecycle, metrics
from bastion.keys.errors import FastApiDenied, KeyInputError
from bastion.keys.models import ApiKey, ApiKeyEvent
from bastion.protection.models import TotpCredential
from bastion.service.okx_auth import keys_runtime
from bastion.service.testing import ServerThread

T0 = datetime(2025, 6, 1, tzinfo=UTC)
CONFIG = "/api/v5/account/config"


def _count_keys(service: Service) -> int:
    with service.app.state.sessionmaker() as s:
        return int(s.scalar(select(func.count()).select_from(ApiKey)) or 0)


def test_withdraw_key_needs_a_valid_totp_code(service: Service) -> None:
    TOTP_SEEDS["w-user"] = pyotp.random_base32()
    body: dict[str, Any] = {"label": "w", "perms": ["withdraw"], "passphrase": PASSPHRASE}
    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        for code in (None, "", "000000", "12345a"):
            r = http.post("/v1/users/w-user/keys", json={**body, "totp_code": code})
            assert r.status_code == 403, r.text
        # A valid code for another user does not do either.
        TOTP_SEEDS["other"] = pyotp.random_base32()
        other_code = pyotp.TOTP(TOTP_SEEDS["other"]).now()
        assert http.post("/v1/users/w-user/keys", json={**body, "totp_code": other_code}).status_code == 403
        assert _count_keys(service) == 0  # a refused create writes nothing
        good = pyotp.TOTP(TOTP_SEEDS["w-user"]).now()
        r = http.post("/v1/users/w-user/keys", json={**body, "totp_code": good})
        assert r.status_code == 201 and r.json()["perms"] == ["read", "withdraw"]
        # Read and trade keys need no code.
        assert http.post("/v1/users/w-user/keys", json={**body, "perms": ["trade"]}).status_code == 201


def test_bad_input_names_the_field(service: Service) -> None:
    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        base = {"label": "x", "passphrase": PASSPHRASE}
        r = http.post("/v1/users/u/keys", json={**base, "ips": ["10.0.0.1", "nope"]})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "ips[1]"
        r = http.post("/v1/users/u/keys", json={**base, "perms": ["read", "admin"]})
        assert r.status_code == 422 and "perms[1]" in r.json()["message"]
        r = http.post("/v1/users/u/keys", json={**base, "ips": [f"10.0.0.{i}" for i in range(21)]})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "ips"
        r = http.post("/v1/users/u/keys", json={**base, "passphrase": "abcdefgh"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "passphrase"
    assert _count_keys(service) == 0


def test_update_ips_then_the_new_binding_holds(service: Service) -> None:
    key = service.key("u1")
    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        r = http.put(f"/v1/users/u1/keys/{key.key_id}/ips", json={"ips": ["198.51.100.0/24"]})
        assert r.status_code == 200 and r.json()["ips"] == ["198.51.100.0/24"]
        assert http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG)).json()["code"] == "50110"
        r = http.put(f"/v1/users/u1/keys/{key.key_id}/ips", json={"ips": ["127.0.0.0/8"]})
        assert r.status_code == 200
        h = sign_headers(key, "GET", CONFIG, at=datetime.now(UTC) + timedelta(milliseconds=2))
        assert http.get(CONFIG, headers=h).json()["code"] == "0"


def test_sweep_deletes_exactly_the_idle_unbound_dangerous_keys(service: Service) -> None:
    now = T0 + timedelta(days=60)
    day = timedelta(days=1)
    made = {
        # name: (perms, ips, created, last used) -> swept?
        "trade_idle_15d": ("trade", (), now - 30 * day, now - 15 * day, True),
        "withdraw_never_used_14d": ("trade,withdraw", (), now - 14 * day, None, True),
        "trade_used_13d": ("trade", (), now - 30 * day, now - 13 * day, False),
        "trade_new_13d": ("trade", (), now - 13 * day, None, False),
        "trade_ip_bound_idle": ("trade", ("203.0.113.9",), now - 90 * day, None, False),
        "read_idle": ("read", (), now - 90 * day, None, False),
        "trade_just_under_14d": ("trade", (), now - 14 * day + timedelta(seconds=1), None, False),
    }
    TOTP_SEEDS["sweep-user"] = pyotp.random_base32()
    ids: dict[str, str] = {}
    for name, (perms, ips, created, used, _) in made.items():
        code = pyotp.TOTP(TOTP_SEEDS["sweep-user"]).at(created) if "withdraw" in perms else None
        k = service.key("sweep-user", perms, ips, now=created, totp_code=code, label=name)
        ids[name] = k.key_id
        if used is not None:
            with service.app.state.sessionmaker() as s:
                s.get(ApiKey, k.key_id).last_used_at = used  # type: ignore[union-attr]
                s.commit()
    revoked = service.key("sweep-user", "trade", now=now - 90 * day)
    with service.app.state.sessionmaker() as s:
        lifecycle.revoke(s, service.runtime.vault, "sweep-user", revoked.key_id, now - 80 * day, actor="user")
        s.commit()
    expected = {ids[n] for n, v in made.items() if v[4]}

    with service.app.state.sessionmaker() as s:
        dry = lifecycle.sweep(s, service.runtime.vault, now, dry_run=True)
        s.commit()
    assert {k.key_id for k in dry.keys} == expected
    # Closed at once: on SQLite every transaction is BEGIN IMMEDIATE, so a session left for the garbage
    # collector holds the write lock and the sweep below waits behind it (a CI run timed out that way).
    with service.app.state.sessionmaker() as s:
        assert {k.key_id for k in lifecycle.list_keys(s, "sweep-user")} == set(ids.values())  # dry run deleted nothing

    service.runtime.clock = lambda: now
    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        r = http.post("/v1/keys/sweep")
    assert r.status_code == 200 and {k["key_id"] for k in r.json()["keys"]} == expected
    with service.app.state.sessionmaker() as s:
        left = {k.key_id for k in lifecycle.list_keys(s, "sweep-user")}
        events = s.scalars(select(ApiKeyEvent).where(ApiKeyEvent.event == "swept")).all()
        wiped = s.scalars(select(ApiKey).where(ApiKey.id.in_(expected))).all()
    assert left == set(ids.values()) - expected
    assert {e.key_id for e in events} == expected and {e.actor for e in events} == {"sweeper"}
    assert all(k.secret_sealed is None and k.passphrase_hash is None for k in wiped)
    # Sweeping again finds nothing new.
    with service.app.state.sessionmaker() as s:
        assert lifecycle.sweep(s, service.runtime.vault, now).count == 0


def test_swept_key_stops_authenticating(service: Service) -> None:
    key = service.key("u1", "trade", now=T0)
    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        assert http.get(CONFIG, headers=sign_headers(key, "GET", CONFIG)).json()["code"] == "0"
        # Its use just now keeps it alive; 14 days later it is idle.
        service.runtime.clock = lambda: datetime.now(UTC) + timedelta(days=14, minutes=1)
        assert http.post("/v1/keys/sweep").json()["count"] == 1
        service.runtime.clock = lambda: datetime.now(UTC)
        h = sign_headers(key, "GET", CONFIG, at=datetime.now(UTC) + timedelta(milliseconds=2))
        assert http.get(CONFIG, headers=h).json()["code"] == "50119"


def test_scheduled_sweeper_runs_in_the_service(keys_settings: Any) -> None:
    app = build_app(keys_settings.model_copy(update={"keys_sweep_interval_seconds": 0.05}))
    runtime = keys_runtime(app)
    runtime.clock = lambda: T0  # nothing is idle yet
    svc = Service(app, "", runtime)
    key = svc.key("u1", "trade", now=T0 - timedelta(days=1))
    with ServerThread(app):
        time.sleep(0.3)  # several sweeps at T0: the key survives
        with app.state.sessionmaker() as s:
            assert [k.key_id for k in lifecycle.list_keys(s, "u1")] == [key.key_id]
        runtime.clock = lambda: T0 + timedelta(days=14)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with app.state.sessionmaker() as s:
                if not lifecycle.list_keys(s, "u1"):
                    break
            time.sleep(0.05)
    with app.state.sessionmaker() as s:
        assert lifecycle.list_keys(s, "u1") == []
        assert s.scalar(select(func.count()).select_from(ApiKeyEvent).where(ApiKeyEvent.event == "swept")) == 1


def test_fast_api_flow_end_to_end(service: Service) -> None:
    from okx import Account

    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        app = http.post(
            "/v1/fast-api/apps",
            json={"name": "GridBot", "redirect_uri": "https://gridbot.example/cb", "ips": ["127.0.0.1"]},
        ).json()
        cid, csecret = app["client_id"], app["client_secret"]
        # the user consents in their own session: the user is the session's, never a field of the body
        consent = {"client_id": cid, "redirect_uri": "https://gridbot.example/cb"}
        user = user_headers(service.app.state.settings, "fa-user")
        # Withdraw can never be granted, whatever the app or user asks.
        r = http.post(
            "/v1/fast-api/authorize", json={**consent, "perms": ["trade", "withdraw"], "state": "s"}, headers=user
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
        r = http.post(
            "/v1/fast-api/authorize", json={**consent, "redirect_uri": "https://evil.example/cb"}, headers=user
        )
        assert r.status_code == 400
        r = http.post("/v1/fast-api/authorize", json={**consent, "perms": ["trade"], "state": "xyz"}, headers=user)
        grant = r.json()
        assert (
            grant["redirect_to"].startswith("https://gridbot.example/cb?code=") and "state=xyz" in grant["redirect_to"]
        )
        token = {
            "grant_type": "authorization_code",
            "client_id": cid,
            "client_secret": csecret,
            "code": grant["code"],
            "redirect_uri": "https://gridbot.example/cb",
        }
        assert http.post("/v1/fast-api/token", json={**token, "client_secret": "guess"}).status_code == 401
        r = http.post("/v1/fast-api/token", json=token)
        assert r.status_code == 200, r.text
        issued = r.json()
        assert issued["perms"] == ["read", "trade"] and issued["ips"] == ["127.0.0.1"]
        assert issued["scope"] == "fast_api"
        # The code works once.
        again = http.post("/v1/fast-api/token", json=token)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        # The key works with the real SDK, from the app's registered IP.
        client = Account.AccountAPI(
            issued["api_key"], issued["secret_key"], issued["passphrase"], flag="0", domain=service.url
        )
        assert client.get_account_config()["data"][0]["perm"] == "read_only,trade"
        # The user cannot widen the app's binding.
        r = http.put(f"/v1/users/fa-user/keys/{issued['api_key']}/ips", json={"ips": ["198.51.100.1"]})
        assert r.status_code == 422
        # A second consent replaces the first key: one per user and app.
        grant2 = http.post("/v1/fast-api/authorize", json={**consent, "perms": ["read"]}, headers=user).json()
        issued2 = http.post("/v1/fast-api/token", json={**token, "code": grant2["code"]}).json()
        assert client.get_account_config()["code"] == "50119"
        keys = http.get("/v1/users/fa-user/keys").json()
        assert [(k["key_id"], k["source"], k["app_id"]) for k in keys] == [(issued2["api_key"], "fast_api", cid)]


def test_fast_api_token_only_from_the_apps_servers_and_codes_expire(service: Service) -> None:
    vault = service.runtime.vault
    with service.app.state.sessionmaker() as s:
        app = fast_api.register_app(
            s, name="Remote", redirect_uri="https://r.example/cb", ips=["203.0.113.0/24"], now=T0
        )
        read_only = fast_api.register_app(
            s,
            name="Reader",
            redirect_uri="https://q.example/cb",
            ips=["127.0.0.1"],
            max_permission="read",
            now=T0,
        )
        with pytest.raises(FastApiDenied, match="read only"):
            fast_api.authorize(
                s,
                user_id="u",
                client_id=read_only.client_id,
                scope="fast_api",
                permissions=["trade"],
                redirect_uri="https://q.example/cb",
                state="",
                now=T0,
            )
        with pytest.raises(KeyInputError, match="withdraw"):
            fast_api.register_app(
                s,
                name="W",
                redirect_uri="https://w.example/cb",
                ips=["1.2.3.4"],
                max_permission="withdraw",
                now=T0,
            )
        grant = fast_api.authorize(
            s,
            user_id="u",
            client_id=app.client_id,
            scope="fast_api",
            permissions=["read"],
            redirect_uri="https://r.example/cb",
            state="",
            now=T0,
        )
        s.commit()
        args: dict[str, Any] = dict(
            client_id=app.client_id,
            client_secret=app.client_secret,
            code=grant.code,
            redirect_uri="https://r.example/cb",
        )
        with pytest.raises(FastApiDenied, match="registered servers"):
            fast_api.exchange_code(s, vault, client_ip="127.0.0.1", now=T0, **args)
        with pytest.raises(FastApiDenied, match="expired"):
            fast_api.exchange_code(s, vault, client_ip="203.0.113.5", now=T0 + timedelta(minutes=5), **args)
        issued = fast_api.exchange_code(s, vault, client_ip="203.0.113.5", now=T0 + timedelta(minutes=4), **args)
        assert issued.ips == "203.0.113.0/24"


def test_monthly_metrics(service: Service) -> None:
    june, july = T0, T0 + timedelta(days=30)
    vault = service.runtime.vault
    service.key("m1", "read", now=june + timedelta(days=1))
    service.key("m1", "trade", now=june + timedelta(days=2))
    service.key("m2", "trade", now=june - timedelta(days=20))  # before the month; swept in it
    service.key("m3", "read", now=july + timedelta(days=1))  # after the month
    with service.app.state.sessionmaker() as s:
        app = fast_api.register_app(s, name="A", redirect_uri="https://a.example/cb", ips=["127.0.0.1"], now=june)
        g = fast_api.authorize(
            s,
            user_id="m4",
            client_id=app.client_id,
            scope="fast_api",
            permissions=["trade"],
            redirect_uri="https://a.example/cb",
            state="",
            now=june + timedelta(days=3),
        )
        fast_api.exchange_code(
            s,
            vault,
            client_id=app.client_id,
            client_secret=app.client_secret or "",
            code=g.code,
            redirect_uri="https://a.example/cb",
            client_ip="127.0.0.1",
            now=june + timedelta(days=3),
        )
        assert lifecycle.sweep(s, vault, june + timedelta(days=5)).count == 1
        s.commit()
    service.runtime.clock = lambda: june + timedelta(days=10)
    k = service.key("m5", "read", now=june)
    with httpx.Client(headers=OPERATOR, base_url=service.url) as http:
        at = june + timedelta(days=10)
        http.get(CONFIG, headers=sign_headers(k, "GET", CONFIG, at=at, passphrase="Wrong12345"))
        http.get(CONFIG, headers=sign_headers(k, "GET", CONFIG, at=at - timedelta(minutes=5)))
        http.get(CONFIG, headers=sign_headers(k, "GET", CONFIG, at=at - timedelta(minutes=6)))
    service.runtime.authenticator.flush()  # refusals are written in batches
    with service.app.state.sessionmaker() as s:
        m = metrics.monthly(s, june, july)
    assert (m.created_direct, m.created_fast_api, m.created) == (3, 1, 4)
    assert (m.bound_to_apps, m.live_bound_to_apps_at_end, m.swept) == (1, 1, 1)
    assert m.rejections_by_code == {"50102": 2, "50105": 1} and m.rejections == 3
    assert m.rejections_by_reason == {"timestamp_expired": 2, "passphrase_wrong": 1}


def test_withdraw_key_with_the_account_protection_totp(keys_settings: Any) -> None:
    """The service's own second factor: bastion.protection.totp (enrolled, confirmed, one use per code)."""
    from bastion.protection import totp
    from bastion.service.app import create_app

    app = create_app(keys_settings)
    runtime = keys_runtime(app)
    now = datetime.now(UTC).replace(microsecond=0)
    runtime.clock = lambda: now
    secret_key = keys_settings.secret_key_bytes()
    with app.state.sessionmaker() as s:
        seed = totp.enroll(s, secret_key, "p-user", "p-user@example", now=now - timedelta(minutes=5)).secret
        assert (
            totp.confirm(
                s, secret_key, "p-user", pyotp.TOTP(seed).at(now - timedelta(minutes=5)), now=now - timedelta(minutes=5)
            )
            == totp.Check.ok
        )
        s.commit()
    body: dict[str, Any] = {"label": "w", "perms": ["withdraw"], "passphrase": PASSPHRASE}
    with ServerThread(app) as url, httpx.Client(headers=OPERATOR, base_url=url) as http:
        good = pyotp.TOTP(seed).at(now)
        assert http.post("/v1/users/p-user/keys", json={**body, "totp_code": "000000"}).status_code == 403
        assert http.post("/v1/users/nobody/keys", json={**body, "totp_code": good}).status_code == 403
        assert http.post("/v1/users/p-user/keys", json={**body, "totp_code": good}).status_code == 201
        # The same code cannot make a second withdraw key.
        assert http.post("/v1/users/p-user/keys", json={**body, "totp_code": good}).status_code == 403
    with app.state.sessionmaker() as s:
        row = s.get(TotpCredential, "p-user")
        assert row is not None and row.last_step > 0
