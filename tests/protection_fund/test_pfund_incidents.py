"""Incidents: opened, affected users recorded, paid from the fund exactly once under retries and concurrent
payers (threads over real HTTP, and processes on the database), on SQLite and PostgreSQL; each step audited;
users see their own case and no one else's."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from pfund_support import user_headers
from sqlalchemy import func, select

from bastion.errors import ConflictError
from bastion.protection_fund import incidents, ledger
from bastion.protection_fund.incidents import Affected, IncidentKind
from bastion.protection_fund.models import PfundAudit, PfundEntry

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _seed(live: Any, amount: str = "1000000") -> None:
    r = live.http.post(
        "/v1/pfund/contributions",
        json={
            "ref": "seed",
            "ccy": "USDT",
            "amount": amount,
            "source": "treasury",
            "ts": T0.isoformat(),
            "actor": "cfo",
        },
    )
    assert r.status_code == 200, r.text


def _open(live: Any, ref: str = "inc-1") -> int:
    r = live.http.post(
        "/v1/pfund/incidents",
        json={"ref": ref, "kind": "hack", "title": "Hot wallet breach", "occurred_at": T0.isoformat(), "actor": "ciso"},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def test_workflow_over_http(live: Any) -> None:
    _seed(live, "1000")
    iid = _open(live)
    again = live.http.post(
        "/v1/pfund/incidents",
        json={
            "ref": "inc-1",
            "kind": "hack",
            "title": "Hot wallet breach",
            "occurred_at": T0.isoformat(),
            "actor": "ciso",
        },
    ).json()
    assert again["id"] == iid and again["created"] is False
    users = [
        {"user_id": "alice", "ccy": "USDT", "amount": "120.5"},
        {"user_id": "bob", "ccy": "usdt", "amount": "79.5"},
    ]
    r = live.http.post(f"/v1/pfund/incidents/{iid}/affected", json={"actor": "ciso", "users": users})
    assert r.json() == {"recorded": 2, "already_recorded": 0}
    r = live.http.post(f"/v1/pfund/incidents/{iid}/affected", json={"actor": "ciso", "users": users})
    assert r.json() == {"recorded": 0, "already_recorded": 2}
    # the same user with another amount: refused, naming the row
    r = live.http.post(
        f"/v1/pfund/incidents/{iid}/affected",
        json={
            "actor": "ciso",
            "users": [
                {"user_id": "carol", "ccy": "USDT", "amount": "1"},
                {"user_id": "bob", "ccy": "USDT", "amount": "80"},
            ],
        },
    )
    assert r.status_code == 409 and "row 1, amount" in r.json()["message"]
    # all or nothing: carol was not recorded either
    assert {c["user_id"] for c in live.http.get(f"/v1/pfund/incidents/{iid}").json()["claims"]} == {"alice", "bob"}
    assert live.http.post(f"/v1/pfund/incidents/{iid}/close", json={"actor": "ciso"}).status_code == 409

    paid = live.http.post(f"/v1/pfund/incidents/{iid}/payouts", json={"actor": "cfo"}).json()
    assert paid["total_by_ccy"] == {"USDT": "200"} and paid["already_paid"] == 0
    retry = live.http.post(f"/v1/pfund/incidents/{iid}/payouts", json={"actor": "cfo"}).json()
    assert retry["paid"] == [] and retry["already_paid"] == 2
    assert live.http.post(f"/v1/pfund/incidents/{iid}/close", json={"actor": "ciso"}).json()["state"] == "closed"
    r = live.http.post(f"/v1/pfund/incidents/{iid}/affected", json={"actor": "ciso", "users": users[:1]})
    assert r.status_code == 409

    detail = live.http.get(f"/v1/pfund/incidents/{iid}").json()
    assert [a["action"] for a in detail["audit"]] == [
        "opened",
        "affected_recorded",
        "affected_recorded",
        "paid",
        "paid",
        "payout_run",
        "closed",
    ]
    # the audit names the credential that acted (the bootstrap operator token here), the body only who for
    from bastion.access.gate import ENV_CREDENTIAL

    assert {a["actor"] for a in detail["audit"]} == {f"{ENV_CREDENTIAL} for ciso", f"{ENV_CREDENTIAL} for cfo"}
    fund = live.anon.get("/v1/public/protection-fund").json()
    assert fund["balances"] == [{"ccy": "USDT", "balance": "800", "price_usd": None, "usd": None}]
    assert live.http.get("/v1/pfund/ledger/check").json()["balanced"] is True

    # the user sees their own case, from their own credential
    path = "/v1/pfund/my-cases"
    mine = live.anon.get(path, headers=user_headers(live.app, "alice", "GET", path)).json()["cases"]
    assert len(mine) == 1
    assert mine[0]["claim"]["amount"] == "120.5" and mine[0]["claim"]["state"] == "paid"
    assert mine[0]["incident"]["title"] == "Hot wallet breach"
    assert [e["action"] for e in mine[0]["events"]] == ["affected_recorded", "paid"]
    assert "bob" not in str(mine)
    nobody = live.anon.get(path, headers=user_headers(live.app, "mallory", "GET", path)).json()
    assert nobody == {"cases": []}
    assert live.anon.get(path).status_code == 401


def test_operator_routes_need_the_operator(live: Any) -> None:
    body = {"ref": "x", "ccy": "USDT", "amount": "1", "source": "s", "ts": T0.isoformat(), "actor": "a"}
    assert live.anon.post("/v1/pfund/contributions", json=body).status_code == 401
    assert live.anon.post("/v1/pfund/incidents/1/payouts", json={"actor": "a"}).status_code == 401
    assert live.anon.get("/v1/pfund/incidents/1").status_code == 401
    assert live.anon.get("/v1/public/protection-fund").status_code == 200
    assert live.anon.get("/v1/public/funds/disclosures").status_code == 200


def test_bad_input_is_a_4xx_naming_the_field(live: Any) -> None:
    body = {"ref": "x", "ccy": "USDT", "amount": "1.000000001", "source": "s", "ts": T0.isoformat(), "actor": "a"}
    r = live.http.post("/v1/pfund/contributions", json=body)
    assert r.status_code == 422 and "amount" in r.json()["message"]
    transfer = {k: v for k, v in body.items() if k != "source"}
    transfer |= {"amount": "5", "direction": "out", "counterparty": "c"}
    assert live.http.post("/v1/pfund/transfers", json={**transfer, "source": "s"}).status_code == 422  # unknown field
    r = live.http.post("/v1/pfund/transfers", json=transfer)
    assert r.status_code == 409 and "holds 0 USDT" in r.json()["message"]
    iid = _open(live)
    r = live.http.post(
        f"/v1/pfund/incidents/{iid}/affected",
        json={
            "actor": "a",
            "users": [{"user_id": "u", "ccy": "USDT", "amount": "1"}, {"user_id": "v", "ccy": "USDT", "amount": "-1"}],
        },
    )
    assert r.status_code == 422 and r.json()["detail"][0]["row"] == 1
    assert live.http.post("/v1/pfund/incidents/999/payouts", json={"actor": "a"}).status_code == 404
    r = live.http.post(
        "/v1/pfund/incidents",
        json={"ref": "future", "kind": "hack", "title": "t", "occurred_at": "2999-01-01T00:00:00Z", "actor": "a"},
    )
    assert r.status_code == 422 and "occurred_at" in r.json()["message"]


def test_insufficient_fund_pays_nothing(live: Any) -> None:
    _seed(live, "100")
    iid = _open(live)
    users = [{"user_id": f"u{i}", "ccy": "USDT", "amount": "30"} for i in range(4)]
    live.http.post(f"/v1/pfund/incidents/{iid}/affected", json={"actor": "a", "users": users})
    r = live.http.post(f"/v1/pfund/incidents/{iid}/payouts", json={"actor": "a"})
    assert r.status_code == 409 and "need 120" in r.json()["message"]
    states = Counter(c["state"] for c in live.http.get(f"/v1/pfund/incidents/{iid}").json()["claims"])
    assert states == {"recorded": 4}
    live.http.post(
        "/v1/pfund/contributions",
        json={"ref": "top-up", "ccy": "USDT", "amount": "20", "source": "treasury", "ts": T0.isoformat(), "actor": "a"},
    )
    assert live.http.post(f"/v1/pfund/incidents/{iid}/payouts", json={"actor": "a"}).json()["total_by_ccy"] == {
        "USDT": "120"
    }


def test_concurrent_payers_over_http_pay_each_claim_once(live: Any) -> None:
    _seed(live)
    iid = _open(live)
    users = [{"user_id": f"user-{i}", "ccy": "USDT", "amount": f"{i + 1}.25"} for i in range(60)]
    users += [{"user_id": f"user-{i}", "ccy": "BTC", "amount": "0.001"} for i in range(5)]
    live.http.post(
        "/v1/pfund/contributions",
        json={"ref": "seed-btc", "ccy": "BTC", "amount": "1", "source": "treasury", "ts": T0.isoformat(), "actor": "a"},
    )
    assert (
        live.http.post(f"/v1/pfund/incidents/{iid}/affected", json={"actor": "ciso", "users": users}).status_code == 200
    )

    def pay(worker: int) -> list[int]:
        got: list[int] = []
        for _ in range(3):  # each payer retries, as a client that lost the answer would
            r = live.http.post(f"/v1/pfund/incidents/{iid}/payouts", json={"actor": f"payer-{worker}"})
            assert r.status_code == 200, r.text
            got += [p["claim_id"] for p in r.json()["paid"]]
        return got

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(pay, range(8)))
    paid = Counter(c for got in results for c in got)
    assert len(paid) == 65 and set(paid.values()) == {1}
    expected_usdt = D(1_000_000) - sum(D(f"{i + 1}.25") for i in range(60))
    fund = {b["ccy"]: D(b["balance"]) for b in live.anon.get("/v1/public/protection-fund").json()["balances"]}
    assert fund == {"USDT": expected_usdt, "BTC": D("0.995")}
    assert live.http.get("/v1/pfund/ledger/check").json()["balanced"] is True
    audit = live.http.get(f"/v1/pfund/incidents/{iid}").json()["audit"]
    assert sum(1 for a in audit if a["action"] == "paid") == 65


def _pay_in_process(url: str, incident_id: int, worker: int) -> None:
    from bastion.db.session import make_engine, make_sessionmaker

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    for _ in range(3):
        with sessions() as s:
            incidents.pay_incident(s, incident_id, f"proc-{worker}", T0 + timedelta(days=1))
            s.commit()
    engine.dispose()


def test_concurrent_processes_pay_each_claim_once(db_url: str, session_factory: Any) -> None:
    with session_factory() as s:
        ledger.contribute(s, "seed", "USDT", D(10_000), "treasury", T0, "cfo")
        incident, _ = incidents.open_incident(
            s, "inc", IncidentKind.EXCHANGE_FAILURE, "Matching engine fault", "", T0, "ciso", T0
        )
        incidents.record_affected(s, incident.id, [Affected(f"u{i}", "USDT", D(i + 1)) for i in range(40)], "ciso", T0)
        s.commit()
        iid = incident.id
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_pay_in_process, args=(db_url, iid, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 4
    with session_factory() as s:
        payouts = s.scalar(select(func.count()).select_from(PfundEntry).where(PfundEntry.kind == "payout"))
        assert payouts == 40
        assert ledger.balances(s) == {"USDT": D(10_000) - sum(D(i + 1) for i in range(40))}
        assert s.scalar(select(func.count()).select_from(PfundAudit).where(PfundAudit.action == "paid")) == 40
        assert ledger.check_ledger(s).balanced


def test_reused_incident_ref_with_other_facts_is_a_conflict(session_factory: Any) -> None:
    with session_factory() as s:
        incidents.open_incident(s, "inc", IncidentKind.HACK, "A", "", T0, "ciso", T0)
        with pytest.raises(ConflictError):
            incidents.open_incident(s, "inc", IncidentKind.HACK, "B", "", T0, "ciso", T0)
