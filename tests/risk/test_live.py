"""The in-memory decision state (`bastion.risk.state.memory`) and the batched writer (`bastion.risk.hotpath`):
the state a worker builds from the commit log equals what the database says (the oracle, `oracle.py`), after a
restart too; two workers on one database see each other's events and decisions before deciding; retries across
workers stay idempotent; every answered decision is stored."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from auth_support import OPERATOR
from bastion.risk.schemas import WithdrawalRequest, normalize_address
from bastion.risk.state.config import RiskRuntime, load_lists
from bastion.risk.state.memory import LiveState, load_address, load_user
from bastion.service.app import create_app
from bastion.service.testing import ServerThread
from bastion.sim.risk_traffic import month, replay
from risk import oracle
from risk.oracle import compute

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def eid(prefix: str) -> str:
    return f"{prefix}-live-{next(_ids)}"


@pytest.fixture
def two_workers(settings: Any) -> Iterator[tuple[Any, Any, httpx.Client, httpx.Client]]:
    """Two service processes' worth of state: two apps (each its own engine, cache and writer) on one database."""
    with ExitStack() as stack:
        apps = [create_app(settings), create_app(settings)]
        urls = [stack.enter_context(ServerThread(app)) for app in apps]
        clients = [stack.enter_context(httpx.Client(headers=OPERATOR, base_url=u, timeout=30)) for u in urls]
        yield apps[0], apps[1], clients[0], clients[1]


def _probe(user: str, address: str, device: str | None, at: datetime, usd: str = "40") -> WithdrawalRequest:
    return WithdrawalRequest(
        event_id=eid("probe"),
        user_id=user,
        at=at,
        asset="USDT",
        amount=Decimal(usd),
        amount_usd=Decimal(usd),
        address=address,
        balance_usd=Decimal("3000"),
        ip="198.51.100.9",  # type: ignore[arg-type]
        device_fingerprint=device,
    )


def _db_features(app: Any, req: WithdrawalRequest) -> tuple[dict[str, Any], set[str]]:
    with app.state.sessionmaker() as s:
        assert req.at is not None
        return compute(s, req, req.at, load_lists(s))


def _fresh_features(app: Any, req: WithdrawalRequest) -> tuple[dict[str, Any], set[str]]:
    """What a newly started worker computes: the user and destination loaded from the database."""
    assert req.at is not None
    st = LiveState()
    with app.state.sessionmaker() as s:
        lists = load_lists(s)
        conn = s.connection()
        st.install_user(load_user(conn, req.user_id, req.at - timedelta(hours=25)))
        st.install_address(load_address(conn, normalize_address(req.address), req.at - timedelta(hours=25)))
    return st.features(req, req.at, lists)


def test_state_built_from_the_log_equals_the_database_and_a_restart(settings: Any) -> None:
    """A replayed week through one worker; then, for every user and destination it saw, a probe at several
    times gets the same decision (score, rules, features, answer) from the hot path as from the oracle on the
    same history, and the features of the next instant agree three ways: the worker's memory (built
    incrementally from the commit log), a fresh load (a restarted worker) and the oracle's database query."""
    traffic = month(seed=5, users=30, days=5, ato_rate=0.15, phishing_rate=0.15)
    app = create_app(settings)
    with ServerThread(app) as url, httpx.Client(headers=OPERATOR, base_url=url, timeout=30) as http:
        rep = replay(traffic, http)
        assert rep.attacks > 0
        hp = app.state.risk_hot_path
        seen = [(e.body["user_id"], e.body["address"], e.body.get("device_fingerprint")) for e in traffic.withdrawals()]
        probes = sorted(set(seen))[:60]
        compared = 0
        decided: dict[str, int] = {}
        for when in (traffic.end - timedelta(hours=12), traffic.end, traffic.end + timedelta(hours=20)):
            for user, address, device in probes:
                req = _probe(user, address, device, when).model_copy(update={"event_id": eid("sync")})
                # the oracle's decision on the same history, not kept (rolled back)
                with app.state.sessionmaker() as s:
                    want = oracle.evaluate(s, RiskRuntime(cache_seconds=0), req).model_dump(mode="json")
                    s.rollback()
                # the worker's own state, brought up to date the way a request would
                r = http.post("/v1/withdrawals/evaluate", json=req.model_dump(mode="json"))
                assert r.status_code == 200, r.text
                got = r.json()
                assert {**got, "decision_id": 0} == {**want, "decision_id": 0}, (user, address, when)
                decided[got["decision"]] = decided.get(got["decision"], 0) + 1
                # the probe decision itself is now part of the history: compare on the next instant
                later = _probe(user, address, device, when + timedelta(seconds=1))
                mem = hp.state.features(later, later.at, hp.runtime.lists)
                db = _db_features(app, later)
                fresh = _fresh_features(app, later)
                assert mem == db, (user, address, when)
                assert fresh == db, (user, address, when)
                compared += 1
        assert compared == 3 * len(probes)
        assert len(decided) > 1, decided  # the comparison saw more than one kind of decision
        assert hp.stats["decisions"] >= len(traffic.withdrawals())


def test_two_workers_see_each_others_changes_before_deciding(two_workers: Any) -> None:
    a_app, b_app, a, b = two_workers
    user, t = "alice", T0

    def post(c: httpx.Client, route: str, body: dict[str, Any]) -> dict[str, Any]:
        r = c.post(route, json={"event_id": eid(route.rsplit("/", 1)[-1]), "user_id": user, **body})
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def withdraw(c: httpx.Client, at: datetime, usd: int = 100, address: str = "TBook1") -> dict[str, Any]:
        return post(
            c,
            "/v1/withdrawals/evaluate",
            {
                "at": at.isoformat(),
                "asset": "USDT",
                "amount": str(usd),
                "amount_usd": str(usd),
                "address": address,
                "balance_usd": "100000",
                "ip": "198.51.100.7",
                "device_fingerprint": "dev-home",
            },
        )

    login = {"ip": "198.51.100.7", "device_fingerprint": "dev-home", "asn": 64500, "country": "DE"}
    post(a, "/v1/events/logins", {"at": (t - timedelta(days=30)).isoformat(), **login})
    book = "/v1/events/address-book"
    post(a, book, {"at": (t - timedelta(days=29)).isoformat(), "action": "add", "address": "TBook1"})
    # Both workers hold the user in memory from here on.
    assert withdraw(a, t)["decision"] == "allow"
    assert withdraw(b, t + timedelta(minutes=1))["features"]["withdrawals_24h_count"] == 2

    # A credential change recorded by A: B's very next decision holds for the 24 h lock.
    post(a, "/v1/events/credential-changes", {"at": (t + timedelta(minutes=2)).isoformat(), "kind": "password"})
    d = withdraw(b, t + timedelta(minutes=3))
    assert "credential_change_24h" in {r["id"] for r in d["rules"]}
    assert d["features"]["withdrawals_24h_count"] == 3

    # A login from a new ASN recorded by B reaches A; an address added through B is in A's book.
    post(b, "/v1/events/logins", {"at": (t + timedelta(minutes=4)).isoformat(), **login, "asn": 9009})
    post(b, book, {"at": (t + timedelta(minutes=5)).isoformat(), "action": "add", "address": "TNew"})
    d = withdraw(a, t + timedelta(minutes=6), address="TNew")
    assert d["features"]["login_new_asn_24h"] is True
    assert d["features"]["address_in_book"] is True and d["features"]["address_age_hours"] == pytest.approx(1 / 60)
    assert d["features"]["withdrawals_24h_count"] == 4

    # An analyst's outcome through one worker changes the other's velocity (rejected amounts do not count).
    held = d if d["decision"] == "review" else withdraw(a, t + timedelta(minutes=7), usd=99000, address="TNew")
    assert held["decision"] in ("review", "block")
    if held["decision"] == "review":
        r = b.post(f"/v1/risk/reviews/{held['decision_id']}", json={"action": "reject", "analyst": "x"})
        assert r.status_code == 200, r.text
    final = withdraw(a, t + timedelta(minutes=8))
    probe = _probe(user, "TBook1", "dev-home", t + timedelta(minutes=9))
    for app in (a_app, b_app):
        hp = app.state.risk_hot_path
        if user not in hp.state.users:
            continue
        # Bring each worker's memory up to date, then compare it with the database.
        r = (a if app is a_app else b).post(
            "/v1/withdrawals/evaluate", json={**probe.model_dump(mode="json"), "event_id": eid("sync")}
        )
        assert r.status_code == 200
        later = _probe(user, "TBook1", "dev-home", t + timedelta(minutes=10))
        assert hp.state.features(later, later.at, hp.runtime.lists) == _db_features(app, later)
    assert final["features"]["withdrawals_24h_count"] >= 5


def test_concurrent_withdrawals_through_two_workers_are_all_counted(two_workers: Any) -> None:
    _, _, a, b = two_workers
    n = 24

    def one(i: int) -> dict[str, Any]:
        c = a if i % 2 else b
        r = c.post(
            "/v1/withdrawals/evaluate",
            json={
                "event_id": eid("conc"),
                "user_id": "bob",
                "at": (T0 + timedelta(seconds=i)).isoformat(),
                "asset": "USDT",
                "amount": "10",
                "amount_usd": "10",
                "address": "TDest",
            },
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(one, range(n)))
    assert len({o["decision_id"] for o in outs}) == n
    # Every answered decision is stored, and the next one (either worker) counts them all.
    last = a.post(
        "/v1/withdrawals/evaluate",
        json={
            "event_id": eid("conc"),
            "user_id": "bob",
            "at": (T0 + timedelta(minutes=5)).isoformat(),
            "asset": "USDT",
            "amount": "10",
            "amount_usd": "10",
            "address": "TDest",
        },
    ).json()
    assert last["features"]["withdrawals_24h_count"] == n + 1
    assert last["features"]["withdrawals_24h_usd"] == pytest.approx(10 * (n + 1))
    for o in outs:
        stored = b.get(f"/v1/risk/decisions/{o['decision_id']}")
        assert stored.status_code == 200 and stored.json()["event_id"] == o["event_id"]


def test_retries_across_workers_are_idempotent(two_workers: Any) -> None:
    _, _, a, b = two_workers
    body = {
        "event_id": eid("retry"),
        "user_id": "carol",
        "at": T0.isoformat(),
        "asset": "USDT",
        "amount": "10",
        "amount_usd": "10",
        "address": "TDest",
    }

    def send(i: int) -> httpx.Response:
        return (a if i % 2 else b).post("/v1/withdrawals/evaluate", json=body)

    with ThreadPoolExecutor(6) as pool:
        rs = list(pool.map(send, range(6)))
    assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
    outs = [r.json() for r in rs]
    assert len({o["decision_id"] for o in outs}) == 1
    assert sum(not o["duplicate"] for o in outs) == 1
    assert len({(o["decision"], o["score"]) for o in outs}) == 1
    # the same id with another body, on either worker: a conflict
    for c in (a, b):
        r = c.post("/v1/withdrawals/evaluate", json={**body, "amount": "11"})
        assert r.status_code == 409, r.text
    # and the retry did not count as a second withdrawal
    nxt = a.post("/v1/withdrawals/evaluate", json={**body, "event_id": eid("retry")}).json()
    assert nxt["features"]["withdrawals_24h_count"] == 2


def test_evaluate_requires_the_operator_token_when_set(settings: Any) -> None:
    settings.operator_token = SecretStr("s3cret-operator-token")
    app = create_app(settings)
    body = {"event_id": eid("tok"), "user_id": "dan", "asset": "USDT", "amount": "1", "amount_usd": "1", "address": "T"}
    with ServerThread(app) as url, httpx.Client(headers=OPERATOR, base_url=url, timeout=30) as http:
        assert http.post("/v1/withdrawals/evaluate", json=body).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert http.post("/v1/withdrawals/evaluate", json=body, headers=bad).status_code == 401
        ok = {"Authorization": "Bearer s3cret-operator-token"}
        r = http.post("/v1/withdrawals/evaluate", json=body, headers=ok)
        assert r.status_code == 200 and r.json()["decision_id"] > 0
