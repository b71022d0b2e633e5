"""A held deposit is released by the user's originator information or by their proof of owning the sending wallet
(signed by an independent wallet library), kept held by a wrong signature, returned at its deadline (time
injected); withdrawals to a self-hosted wallet above the threshold or to another exchange are held until the rule
is met, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from travel_rule_support import T0, Side, make_lei, make_settings, seed_prices

from auth_support import OPERATOR
from bastion.notify.models import OutboxRow
from bastion.service.app import create_app
from bastion.service.testing import ServerThread, free_port
from bastion.travel_rule.models import TravelRuleAudit, TravelRuleDeposit

_n = itertools.count(1000)

ORIGINATOR = {"originatorPersons": [{"naturalPerson": {"name": [{"nameIdentifier": [
    {"primaryIdentifier": "Sender", "secondaryIdentifier": "Sam", "nameIdentifierType": "LEGL"}]}],
    "geographicAddress": [{"addressType": "HOME", "townName": "Lisbon", "country": "PT"}]}}],
    "accountNumber": ["0x" + "5e" * 20]}  # fmt: skip


def _sign(account: Any, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def _deposit(c: httpx.Client, user: str, frm: str, amount: str, to: str = "0x" + "a1" * 20) -> dict[str, Any]:
    body = {"deposit_id": f"dep-{next(_n)}", "user_id": user, "chain": "ethereum", "asset": "ETH", "amount": amount,
            "txid": f"0x{next(_n):064x}", "to_address": to, "from_address": frm}  # fmt: skip
    r = c.post("/v1/travel-rule/deposits", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_originator_information_releases_a_held_deposit_and_is_sealed(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    with a.client() as c:
        small = _deposit(c, "erin", "0x" + "5e" * 20, "0.2")  # EUR 600: under the EU's EUR 1,000 for unknown sources
        assert small["status"] == "cleared" and small["rule"] == "eu_unknown_in"
        dep = _deposit(c, "erin", "0x" + "5e" * 20, "0.5")  # EUR 1,500
        assert dep["status"] == "held" and float(dep["value"]) == 1500 and dep["currency"] == "EUR"
        path = f"/v1/account/travel-rule/deposits/{dep['id']}/originator"
        bad = c.post(path, json={"originatorPersons": [{"naturalPerson": {"name": [{"nameIdentifier": [
            {"primaryIdentifier": "X", "nameIdentifierType": "NICK"}]}]}}]}, headers=a.user("erin"))  # fmt: skip
        assert bad.status_code == 422 and "nameIdentifierType" in bad.json()["message"]
        assert "NICK" not in bad.text  # the error names the field, never echoes what was sent
        r = c.post(path, json=ORIGINATOR, headers=a.user("erin"))
        assert r.status_code == 200 and r.json()["status"] == "released" and r.json()["resolved_by"] == "originator"
        again = c.post(path, json=ORIGINATOR, headers=a.user("erin"))
        assert again.status_code == 409
    with a.session() as s:
        row = s.get(TravelRuleDeposit, dep["id"])
        assert row.originator_sealed and b"Sender" not in row.originator_sealed
        actions = [x.action for x in s.query(TravelRuleAudit).filter_by(subject=f"deposit:{dep['id']}")]
        assert actions == ["deposit_held", "deposit_released"]
        kinds = {o.kind for o in s.query(OutboxRow).filter(OutboxRow.dedupe_key.like(f"%:{dep['id']}"))}
        assert kinds == {"travel_rule_hold", "travel_rule_released"}


def test_a_signed_wallet_proof_releases_a_held_deposit_and_a_wrong_one_keeps_it_held(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    wallet = Account.create()
    other = Account.create()
    with a.client() as c:
        dep = _deposit(c, "frank", wallet.address, "1")
        assert dep["status"] == "held"
        user = a.user("frank")
        ch = c.post("/v1/account/travel-rule/wallets/challenge",
                    json={"chain": "ethereum", "address": wallet.address}, headers=user)  # fmt: skip
        assert ch.status_code == 200 and "frank" in ch.json()["message"]
        message = ch.json()["message"]
        for wrong in (_sign(other, message), _sign(wallet, message + " (altered)"), "0xnot-a-signature"):
            r = c.post("/v1/account/travel-rule/wallets/proof", headers=user,
                       json={"chain": "ethereum", "address": wallet.address, "signature": wrong})  # fmt: skip
            assert r.status_code == 422 and r.json()["detail"][0]["field"] == "signature", r.text
        assert c.get("/v1/account/travel-rule/deposits", headers=user).json()[-1]["status"] == "held"
        r = c.post(
            "/v1/account/travel-rule/wallets/proof",
            headers=user,
            json={"chain": "ethereum", "address": wallet.address.lower(), "signature": _sign(wallet, message)},
        )
        assert r.status_code == 200, r.text
        assert r.json()["scheme"] == "eip191" and r.json()["released_deposits"] == [dep["id"]]
        # From now on the user's deposits from that wallet clear on arrival.
        assert _deposit(c, "frank", wallet.address, "2")["status"] == "cleared"
    with a.session() as s:
        actions = [x.action for x in s.query(TravelRuleAudit).filter(TravelRuleAudit.action.like("wallet_%"))]
        assert actions.count("wallet_proof_refused") >= 3 and "wallet_proven" in actions


def test_the_deadline_returns_a_deposit_nothing_came_for(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    with a.client() as c:
        dep = _deposit(c, "gina", "0x" + "6f" * 20, "3")
        assert dep["status"] == "held"
        assert dep["id"] not in c.post("/v1/compliance/travel-rule/sweep", json={}).json()["returned"]
        a.clock[0] = T0 + timedelta(days=14, minutes=1)  # injected, not slept
        try:
            assert dep["id"] in c.post("/v1/compliance/travel-rule/sweep", json={}).json()["returned"]
        finally:
            a.clock[0] = T0
        mine = {d["id"]: d for d in c.get("/v1/account/travel-rule/deposits", headers=a.user("gina")).json()}
        assert mine[dep["id"]]["status"] == "returned" and mine[dep["id"]]["resolved_by"] == "deadline"


# ------------------------------------------------------------------------------------------- withdrawals
@pytest.fixture
def eu_service(db_url: str, tmp_path: Path) -> Any:
    port = free_port()
    # the rules, prices and VASP addresses cached for the test's length (a proof invalidates the cache)
    settings = make_settings(db_url, tmp_path / "data", "Gamma Exchange", make_lei("529900GAMMA0000000"), port, 3600)
    app = create_app(settings)
    seed_prices(app)
    from bastion.travel_rule import directory

    with app.state.sessionmaker() as s:
        directory.add(s, name="Delta", lei=make_lei("529900DELTA0000000"), endpoint="http://127.0.0.1:9",
                      jwk={"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
                      jurisdiction="EU", addresses=[("ethereum", "0x" + "de" * 20)], by="test")  # fmt: skip
        s.commit()
    with ServerThread(app, port=port) as url:
        yield app, url, settings
    app.state.engine.dispose()


def _withdraw(c: httpx.Client, user: str, address: str, amount: str, usd: str) -> dict[str, Any]:
    body = {"event_id": f"wd-{next(_n)}", "user_id": user, "asset": "ETH", "amount": amount, "amount_usd": usd,
            "address": address, "chain": "ethereum"}  # fmt: skip
    r = c.post("/v1/withdrawals/evaluate", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_withdrawals_are_held_until_the_rule_is_met(eu_service: Any) -> None:
    from auth_support import user_headers

    app, url, settings = eu_service
    wallet = Account.create()
    with httpx.Client(base_url=url, timeout=20, headers=OPERATOR) as c:
        # Under EUR 1,000 to a self-hosted wallet: not the Travel Rule's business (and no look-up: `screen` says so).
        small = _withdraw(c, "hana", wallet.address, "0.3", "990")
        assert small["decision"] != "hold" and small["holds"] == []
        from bastion.risk.schemas import WithdrawalRequest

        gate = app.state.travel_rule_gate
        probe = WithdrawalRequest.model_validate(
            {
                "event_id": "p",
                "user_id": "hana",
                "asset": "ETH",
                "amount": "0.3",
                "amount_usd": "990",
                "address": wallet.address,
            }
        )
        assert gate.screen(probe, T0) is False
        # Above it: held until the wallet is proven.
        big = _withdraw(c, "hana", wallet.address, "0.5", "1650")
        assert big["decision"] == "hold" and big["exchange_state"] == "waiting_manual_review"
        assert big["holds"] == [{"reason": "travel_rule", "missing": ["ownership_proof"],
                                 "rule": "eu_self_hosted_out", "counterparty": "self_hosted"}]  # fmt: skip
        # Another exchange (in the directory): every amount, until the beneficiary's information is approved.
        to_vasp = _withdraw(c, "hana", "0x" + "DE" * 20, "0.01", "33")
        assert to_vasp["holds"][0]["missing"] == ["beneficiary_information"]

        user = user_headers(settings, "hana")
        ch = c.post("/v1/account/travel-rule/wallets/challenge", headers=user,
                    json={"chain": "ethereum", "address": wallet.address}).json()  # fmt: skip
        r = c.post("/v1/account/travel-rule/wallets/proof", headers=user, json={
            "chain": "ethereum", "address": wallet.address, "signature": _sign(wallet, ch["message"])})  # fmt: skip
        assert r.status_code == 200, r.text
        # resubmitted as a new event: no longer held (another user's proof would not have done it)
        assert _withdraw(c, "hana", wallet.address, "0.5", "1650")["holds"] == []
        assert _withdraw(c, "ivan", wallet.address, "0.5", "1650")["decision"] == "hold"
