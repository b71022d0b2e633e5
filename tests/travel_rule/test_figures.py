"""The month's Travel Rule figures equal the ground truth of a seeded month of traffic between two services
(deposits held and released by message, originator or wallet proof, returned at the deadline, cleared ones,
withdrawals to the other exchange with their inquiry, approval and confirm), with time injected."""

from __future__ import annotations

import random
import statistics
from datetime import timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from travel_rule_support import T0, Side

ORIGINATOR = {"originatorPersons": [{"naturalPerson": {"name": [{"nameIdentifier": [
    {"primaryIdentifier": "Sim", "nameIdentifierType": "LEGL"}]}]}}]}  # fmt: skip
BENEFICIARY = {"beneficiaryPersons": ORIGINATOR["originatorPersons"]}


def test_month_figures_equal_the_simulated_ground_truth(pair: tuple[Side, Side]) -> None:
    a, b = pair
    rnd = random.Random(17)
    truth: dict[str, Any] = {"sent": 0, "received": 0, "held": 0, "released": 0, "returned": 0,
                             "by": {}, "hours": []}  # fmt: skip
    n = iter(range(1, 10_000))

    def at(hours: float) -> None:
        for side in (a, b):
            side.clock[0] = T0 + timedelta(hours=hours)

    def deposit(c: Any, user: str, frm: str, amount: str, to: str | None = None) -> dict[str, Any]:
        body = {"deposit_id": f"sim-{next(n)}", "user_id": user, "chain": "ethereum", "asset": "ETH",
                "amount": amount, "txid": f"0x{next(n):064x}", "to_address": to or a.address,
                "from_address": frm}  # fmt: skip
        r = c.post("/v1/travel-rule/deposits", json=body)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def released(how: str, hours: float) -> None:
        truth["released"] += 1
        truth["by"][how] = truth["by"].get(how, 0) + 1
        truth["hours"].append(hours)

    try:
        with a.client() as ca, b.client() as cb:
            clock = 0.0
            for i in range(16):
                clock += rnd.uniform(1, 12)
                at(clock)
                kind = rnd.choice(["message", "originator", "ownership", "returned", "cleared", "withdrawal"])
                user = f"sim{i}"
                if kind == "cleared":  # EUR 300 from an unknown wallet: under the threshold
                    assert deposit(ca, user, "0x" + "77" * 20, "0.1")["status"] == "cleared"
                    continue
                if kind == "withdrawal":  # Alpha's user to Beta: inquiry sent, approve received
                    amount = f"{rnd.randint(1, 9)}.{i}"
                    r = ca.post("/v1/account/travel-rule/transfers", headers=a.user(user), json={
                        "asset": "ETH", "chain": "ethereum", "amount": amount, "address": b.address,
                        "originator": ORIGINATOR, "beneficiary": BENEFICIARY})  # fmt: skip
                    assert r.status_code == 200, r.text
                    tid = r.json()["transfer_id"]
                    assert cb.post(f"/v1/compliance/travel-rule/transfers/{tid}/approve", json={}).status_code == 200
                    truth["sent"] += 1
                    truth["received"] += 1
                    continue
                amount = f"{rnd.randint(1, 5)}.0{i}"
                wallet = Account.create()
                frm = b.address if kind == "message" else wallet.address
                dep = deposit(ca, user, frm, amount)
                assert dep["status"] == "held", (kind, dep)
                truth["held"] += 1
                wait = rnd.uniform(0.5, 48)
                if kind == "returned":
                    continue
                at(clock + wait)
                if kind == "message":  # Beta's user sends; Beta's inquiry reaches Alpha
                    r = cb.post("/v1/account/travel-rule/transfers", headers=b.user(f"b{i}"), json={
                        "asset": "ETH", "chain": "ethereum", "amount": amount, "address": a.address,
                        "originator": ORIGINATOR, "beneficiary": BENEFICIARY})  # fmt: skip
                    assert r.status_code == 200, r.text
                    truth["received"] += 1
                elif kind == "originator":
                    r = ca.post(f"/v1/account/travel-rule/deposits/{dep['id']}/originator", json=ORIGINATOR,
                                headers=a.user(user))  # fmt: skip
                    assert r.status_code == 200, r.text
                else:
                    ch = ca.post("/v1/account/travel-rule/wallets/challenge", headers=a.user(user),
                                 json={"chain": "ethereum", "address": wallet.address}).json()  # fmt: skip
                    sig = wallet.sign_message(encode_defunct(text=ch["message"])).signature
                    r = ca.post(
                        "/v1/account/travel-rule/wallets/proof",
                        headers=a.user(user),
                        json={"chain": "ethereum", "address": wallet.address, "signature": "0x" + bytes(sig).hex()},
                    )
                    assert r.status_code == 200, r.text
                released(kind, wait)
            at(24 * 20)  # every deadline (14 days) has passed, still in November
            returned = ca.post("/v1/compliance/travel-rule/sweep", json={}).json()["returned"]
            truth["returned"] = len(returned)
            got = ca.get("/v1/compliance/travel-rule/figures", params={"month": "2026-11"}).json()
            before = ca.get("/v1/compliance/travel-rule/figures", params={"month": "2026-10"}).json()
    finally:
        at(0)
    assert truth["held"] > 3 and truth["released"] > 2  # the seed really exercises the paths
    assert got["messages_sent"] == truth["sent"]
    assert got["messages_received"] == truth["received"]
    assert got["deposits_held"] == truth["held"]
    assert got["deposits_released"] == truth["released"]
    assert got["released_by"] == dict(sorted(truth["by"].items()))
    assert got["deposits_returned"] == truth["returned"] == truth["held"] - truth["released"]
    assert abs(got["median_hours_to_release"] - statistics.median(truth["hours"])) < 0.01
    assert before["deposits_held"] == before["messages_sent"] == 0
