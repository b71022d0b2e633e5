"""The protection routes take "now" from the app's protection clock: the wall clock unless code in the process
replaced it (the month simulator, tests), and nothing a request carries changes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from auth_support import OPERATOR, user_headers
from bastion.protection import cooling_off, deposits
from bastion.service.deps import InProcessOverrides, protection_clock, wall_clock
from bastion.sim.clock import SimClock

# A month ago, whenever the test runs: a 7-day period started then is over by the wall clock.
SIM = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)


@contextmanager
def _served(settings: Any, overrides: InProcessOverrides | None) -> Iterator[tuple[FastAPI, httpx.Client]]:
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread

    app = create_app(settings, overrides=overrides)
    with ServerThread(app) as base_url, httpx.Client(headers=OPERATOR, base_url=base_url, timeout=15) as client:
        yield app, client
    app.state.engine.dispose()


@pytest.fixture
def service(settings: Any) -> Iterator[tuple[FastAPI, httpx.Client, SimClock]]:
    """An app created with a protection clock the test moves (unset, it reads the wall clock)."""
    clock = SimClock()
    with _served(settings, InProcessOverrides(protection_clock=clock)) as (app, client):
        yield app, client, clock


@pytest.fixture
def wall_service(settings: Any) -> Iterator[tuple[FastAPI, httpx.Client]]:
    """An app created as production creates it: no clock handed in."""
    with _served(settings, None) as served:
        yield served


def _as(app: FastAPI, uid: str) -> dict[str, str]:
    """The user's session for the app's service (signed with the development key of its data dir)."""
    return user_headers(app.state.settings, uid)


def _order(user: str) -> dict[str, str]:
    return {"userId": user, "channel": "app", "instType": "SWAP", "instId": "BTC-USDT-SWAP", "side": "buy", "sz": "1"}


def _creds(app: FastAPI) -> Any:
    from bastion.sim.credentials import SimCredentials

    return SimCredentials.create(app.state.sessionmaker, app.state.settings.data_dir)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_protection_routes_honour_the_injected_clock(service: tuple[FastAPI, httpx.Client, SimClock]) -> None:
    app, http, clock = service
    clock.set(SIM)
    r = http.post("/v1/cooling-off", json={"request_id": "c1", "period": "7d"}, headers=_as(app, "ann"))
    assert r.status_code == 200 and _at(r.json()["ends_at"]) == SIM + timedelta(days=7)
    clock.set(SIM + timedelta(days=3))
    refused = http.post("/v1/orders/precheck", json=_order("ann")).json()
    assert refused["allowed"] is False and _at(refused["coolingOffUntil"]) == SIM + timedelta(days=7)
    assert http.get("/v1/cooling-off/ann", headers=_as(app, "ann")).json()["active"] is True
    clock.set(SIM + timedelta(days=8))  # the period is over at the simulated time
    assert http.post("/v1/orders/precheck", json=_order("ann")).json()["allowed"] is True

    # A mistaken deposit: opened by the user's check and walked by support at the simulated times.
    obs = {"chain": "XRP", "txid": "T1", "token": "XRP", "to_address": "rEx", "amount": "500", "usd_value": "300",
           "observed_at": SIM.isoformat()}  # fmt: skip
    assert http.post("/v1/deposits/observed", json=obs).status_code == 200
    clock.set(SIM + timedelta(hours=1))
    case = http.post("/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": "T1"}, headers=_as(app, "bo")).json()
    assert _at(case["case"]["opened_at"]) == SIM + timedelta(hours=1)
    for hours, state in ((2, "investigating"), (5, "recoverable"), (6, "credited"), (6, "closed")):
        clock.set(SIM + timedelta(hours=hours))
        r = http.post(f"/v1/deposits/cases/{case['case']['id']}/transition", json={"state": state, "actor": "s1"})
        assert r.status_code == 200, r.text
    assert _at(r.json()["resolved_at"]) == _at(r.json()["closed_at"]) == SIM + timedelta(hours=6)

    # TOTP (account-protection routes): a code for the simulated time is accepted, not one for the wall clock.
    secret = http.post("/v1/users/cy/totp/enroll", json={"account_name": "cy"}, headers=_as(app, "cy")).json()["secret"]
    wall_code = pyotp.TOTP(secret).at(datetime.now(UTC))
    assert (
        http.post("/v1/users/cy/totp/confirm", json={"code": wall_code}, headers=_as(app, "cy")).json()["ok"] is False
    )
    sim_code = pyotp.TOTP(secret).at(clock())
    assert http.post("/v1/users/cy/totp/confirm", json={"code": sim_code}, headers=_as(app, "cy")).json()["ok"] is True

    # What was stored carries the simulated stamps: the month's figures are the simulated month's.
    for _ in range(100):  # the refusal is written right after the answer
        with app.state.sessionmaker() as s:
            co = cooling_off.monthly(s, SIM - timedelta(days=1), SIM + timedelta(days=10))
            dep = deposits.monthly(s, SIM - timedelta(days=1), SIM + timedelta(days=10))
        if co.orders_refused:
            break
        time.sleep(0.05)
    assert (co.activations, co.orders_refused) == (1, 1)
    assert dep.cases == 1 and dep.manual_recovered == 1 and dep.median_hours_to_resolution == 5


def test_without_injection_the_routes_use_the_wall_clock(wall_service: tuple[FastAPI, httpx.Client]) -> None:
    app, http = wall_service
    assert protection_clock(app) is wall_clock
    before = datetime.now(UTC)
    r = http.post("/v1/cooling-off", json={"request_id": "w1", "period": "1d"}, headers=_as(app, "dee")).json()
    after = datetime.now(UTC)
    assert before + timedelta(days=1) <= _at(r["ends_at"]) <= after + timedelta(days=1)
    # Nothing in a request moves the clock (no header or field is read for it).
    spoof = {"X-Bastion-Now": SIM.isoformat(), "Date": "Mon, 01 Jan 2001 00:00:00 GMT"}
    r = http.post("/v1/cooling-off", json={"request_id": "w3", "period": "1d"}, headers={**spoof, **_as(app, "fay")})
    assert _at(r.json()["ends_at"]) >= before + timedelta(days=1)
    wall = datetime.now(UTC)
    obs = {"chain": "XRP", "txid": "T9", "token": "XRP", "to_address": "rEx", "amount": "5", "usd_value": "3",
           "observed_at": wall.isoformat()}  # fmt: skip
    http.post("/v1/deposits/observed", json=obs)
    case = http.post("/v1/deposits/mistaken/check", json={"chain": "XRP", "txid": "T9"}, headers=_as(app, "gus")).json()
    assert abs(_at(case["case"]["opened_at"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_clock_moved_back_reads_the_wall_clock(service: tuple[FastAPI, httpx.Client, SimClock]) -> None:
    """A period started at the simulated time a month ago is over once the clock is back on the wall clock."""
    app, http, clock = service
    clock.set(SIM)
    assert http.post("/v1/cooling-off", json={"request_id": "w2", "period": "7d"}, headers=_as(app, "eli")).json()[
        "active"
    ]
    assert http.post("/v1/orders/precheck", json=_order("eli")).json()["allowed"] is False
    clock.set(None)
    assert http.post("/v1/orders/precheck", json=_order("eli")).json()["allowed"] is True
    assert http.get("/v1/cooling-off/eli", headers=_as(app, "eli")).json()["active"] is False


def test_simulated_month_over_the_routes_matches_ground_truth(
    service: tuple[FastAPI, httpx.Client, SimClock],
) -> None:
    """`user_protection.send`, the month simulator's delivery: the same figures as the domain replay's."""
    from bastion.sim.user_protection import send, simulate

    app, http, clock = service
    month = simulate(seed=3, users=120)
    clock.set(month.start)
    sent = send(http, month, clock.set, creds=_creds(app))
    t = month.truth
    assert sent.refused == t.refused > 0 and sent.automatic == t.auto_returned
    for _ in range(200):  # refusals are written right after the answer
        with app.state.sessionmaker() as s:
            c = cooling_off.monthly(s, month.start, month.end)
            d = deposits.monthly(s, month.start, month.end)
        if c.orders_refused == t.refused:
            break
        time.sleep(0.05)
    assert c.activations == t.activations and c.durations == t.durations and c.orders_refused == t.refused
    assert d.by_reason == t.cases_by_reason
    assert (d.manual_recovered, d.manual_value_usd) == (t.manual_recovered, t.manual_value)
    assert (d.automatic_returned, d.automatic_value_usd) == (t.auto_returned, t.auto_value)
    assert d.unrecoverable == t.unrecoverable
