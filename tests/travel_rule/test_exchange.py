"""Two services on loopback exchange signed Travel Rule messages both ways; bad signatures, unknown VASPs, replays,
tampered amounts and mismatched callbacks are refused; a deposit without a message is held and released by the
counterparty's message."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import timedelta
from typing import Any

import httpx
from joserfc.jwk import OKPKey
from travel_rule_support import Side

from auth_support import OPERATOR
from bastion.notify.models import OutboxRow
from bastion.travel_rule import protocol
from bastion.travel_rule.ivms101 import IdentityPayload
from bastion.travel_rule.models import TravelRuleMessage

_n = itertools.count(1)

ALICE = {
    "originatorPersons": [
        {
            "naturalPerson": {
                "name": [
                    {
                        "nameIdentifier": [
                            {
                                "primaryIdentifier": "Liddell",
                                "secondaryIdentifier": "Alice",
                                "nameIdentifierType": "LEGL",
                            }
                        ]
                    }
                ],
                "geographicAddress": [
                    {
                        "addressType": "HOME",
                        "streetName": "Rue de la Loi",
                        "buildingNumber": "16",
                        "postCode": "1000",
                        "townName": "Brussels",
                        "country": "BE",
                    }
                ],
                "nationalIdentification": {
                    "nationalIdentifier": "BE-91.05.17-123.45",
                    "nationalIdentifierType": "IDCD",
                    "countryOfIssue": "BE",
                },
                "dateAndPlaceOfBirth": {"dateOfBirth": "1991-05-17", "placeOfBirth": "Ghent"},
            }
        }
    ]
}
BOB = {
    "beneficiaryPersons": [
        {
            "naturalPerson": {
                "name": {
                    "nameIdentifier": [
                        {"primaryIdentifier": "Builder", "secondaryIdentifier": "Bob", "nameIdentifierType": "LEGL"}
                    ]
                }
            }
        }
    ]
}
# A legal person, as a company's account would send it.
ACME = {"originatorPersons": [{"legalPerson": {"name": {"nameIdentifier": [
    {"legalPersonName": "Acme Trading GmbH", "legalPersonNameIdentifierType": "LEGL"}]},
    "nationalIdentification": {"nationalIdentifier": "5299000J2N45DDNE4Y28", "nationalIdentifierType": "LEIX"},
    "countryOfRegistration": "DE"}}]}  # fmt: skip


def _evaluate(c: httpx.Client, user: str, address: str, amount: str, usd: str) -> dict[str, Any]:
    body = {"event_id": f"w-{next(_n)}", "user_id": user, "asset": "ETH", "amount": amount, "amount_usd": usd,
            "address": address, "chain": "ethereum"}  # fmt: skip
    r = c.post("/v1/withdrawals/evaluate", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _deposit(c: httpx.Client, user: str, to: str, frm: str, amount: str, txid: str | None = None) -> dict[str, Any]:
    body = {"deposit_id": f"d-{next(_n)}", "user_id": user, "chain": "ethereum", "asset": "ETH", "amount": amount,
            "txid": txid or f"0x{next(_n):064x}", "to_address": to, "from_address": frm}  # fmt: skip
    r = c.post("/v1/travel-rule/deposits", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _alerts(side: Side, kind: str) -> set[str]:
    with side.session() as s:
        return {r.dedupe_key for r in s.query(OutboxRow).filter(OutboxRow.kind == kind)}


def test_a_withdrawal_to_another_exchange_is_held_until_its_inquiry_is_approved_then_confirmed(
    pair: tuple[Side, Side],
) -> None:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        # Without the beneficiary's information, a withdrawal to Beta's address is held, and says what is missing.
        held = _evaluate(ca, "alice", b.address, "2", "6600")
        assert held["decision"] == "hold"
        assert held["holds"][0]["reason"] == "travel_rule"
        assert held["holds"][0]["missing"] == ["beneficiary_information"]

        r = ca.post("/v1/account/travel-rule/transfers", headers=a.user("alice"), json={
            "asset": "ETH", "chain": "ethereum", "amount": "2", "address": b.address,
            "originator": ALICE, "beneficiary": BOB})  # fmt: skip
        assert r.status_code == 200, r.text
        transfer_id = r.json()["transfer_id"]
        assert r.json()["status"] == "inquired"
        # Sent, not yet approved: still held, now waiting for Beta's approval.
        assert _evaluate(ca, "alice", b.address, "2", "6600")["holds"][0]["missing"] == ["beneficiary_approval"]

        # Beta received the inquiry as it was signed: the IVMS101 parses back to what Alpha's user sent.
        inbox = cb.get("/v1/compliance/travel-rule/transfers", params={"role": "beneficiary", "status": "inquired"})
        assert [t["transfer_id"] for t in inbox.json()] == [transfer_id]
        from bastion.service.routers.travel_rule import state_of
        from bastion.travel_rule import flows
        from bastion.travel_rule.models import TravelRuleTransfer

        with b.session() as s:
            row = s.query(TravelRuleTransfer).filter_by(transfer_id=transfer_id).one()
            ivms = IdentityPayload.model_validate(flows.transfer_ivms(state_of(b.app).sealer, row))
            assert b"Liddell" not in row.ivms_sealed  # sealed at rest
        assert ivms.originator.as_ivms() == IdentityPayload.model_validate({"originator": ALICE, "beneficiary": BOB}
                                                                           ).originator.as_ivms()  # fmt: skip
        assert "Liddell" not in repr(ivms)  # personal data stays out of reprs (logs)

        r = cb.post(f"/v1/compliance/travel-rule/transfers/{transfer_id}/approve", json={"actor": "mlro"})
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        ok = _evaluate(ca, "alice", b.address, "2", "6600")
        assert ok["decision"] != "hold" and ok["holds"] == []  # the risk rules still judge it as any other

        txid = "0x" + "c3" * 32
        r = ca.post("/v1/travel-rule/withdrawals/sent", json={
            "user_id": "alice", "asset": "ETH", "amount": "2", "address": b.address, "txid": txid})  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
        # The deposit arriving at Beta matches the confirmed transfer: credited, not held.
        dep = _deposit(cb, "bob", b.address, a.address, "2", txid)
        assert dep["status"] == "cleared" and dep["transfer_id"] == transfer_id


def test_a_deposit_without_a_message_is_held_until_the_counterpartys_inquiry_arrives(pair: tuple[Side, Side]) -> None:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        # From Beta's hot wallet to Alpha, before Beta sent anything: held, the user alerted.
        dep = _deposit(ca, "carol", a.address, b.address, "0.37")
        assert dep["status"] == "held" and dep["rule"] == "eu_vasp"
        assert f"travel_rule_hold:{dep['id']}" in _alerts(a, "travel_rule_hold")
        mine = ca.get("/v1/account/travel-rule/deposits", headers=a.user("carol")).json()
        assert [d["status"] for d in mine] == ["held"]

        # The other way round: Beta's user sends, Beta's service sends the inquiry to Alpha.
        r = cb.post("/v1/account/travel-rule/transfers", headers=b.user("dave"), json={
            "asset": "ETH", "chain": "ethereum", "amount": "0.37", "address": a.address,
            "originator": ACME, "beneficiary": BOB | {"accountNumber": ["ignored, set to the address"]}})  # fmt: skip
        assert r.status_code == 200, r.text
        released = ca.get("/v1/compliance/travel-rule/deposits", params={"status": "released"}).json()
        assert dep["id"] in [d["id"] for d in released]
        got = next(d for d in released if d["id"] == dep["id"])
        assert got["resolved_by"] == "message" and got["transfer_id"] == r.json()["transfer_id"]
        assert f"travel_rule_released:{dep['id']}" in _alerts(a, "travel_rule_released")


# ---------------------------------------------------------------------------------------------- refusals
def _inquiry(sender: Side, receiver: Side, **over: Any) -> protocol.Message:
    fields: dict[str, Any] = {
        "id": protocol.new_id(), "type": "inquiry", "sender": sender.lei, "receiver": receiver.lei,
        "iat": int(sender.clock[0].timestamp()), "transfer_id": protocol.new_id(),
        "asset": {"symbol": "ETH", "chain": "ethereum"}, "amount": "1.5",
        "callback": sender.url + protocol.MESSAGES_PATH,
        "IVMS101": {"originator": ALICE, "beneficiary": BOB | {"accountNumber": [receiver.address]}},
    }  # fmt: skip
    return protocol.Message.model_validate(fields | over)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _post(to: Side, token: str) -> httpx.Response:
    # No bearer credential: the signature is the message's credential.
    return httpx.post(to.url + protocol.MESSAGES_PATH, json={"jws": token})


def test_counterparty_messages_are_refused_unless_signed_fresh_unique_and_consistent(pair: tuple[Side, Side]) -> None:
    a, b = pair
    me = b.identity()
    good = protocol.sign(me, _inquiry(b, a))
    assert _post(a, good).status_code == 200

    # a replay of the same message: refused, and stored only once
    again = _post(a, good)
    assert again.status_code == 409 and "replay" in again.json()["message"]

    # a tampered amount: the payload changed under the signature
    head, payload, sig = protocol.sign(me, _inquiry(b, a)).split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["amount"] = "150"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    r = _post(a, f"{head}.{forged}.{sig}")
    assert r.status_code == 401 and "bad signature" in r.json()["message"]

    # signed by another key in Beta's name
    impostor = protocol.Identity(b.lei, b.name, "EU", b.url, OKPKey.generate_key("Ed25519"))
    r = _post(a, protocol.sign(impostor, _inquiry(b, a)))
    assert r.status_code == 401 and "bad signature" in r.json()["message"]

    # a VASP Alpha's directory does not know
    from travel_rule_support import make_lei

    stranger = protocol.Identity(make_lei("529900STRANGER0000"), "Stranger", "EU", "http://127.0.0.1:9",
                                 OKPKey.generate_key("Ed25519"))  # fmt: skip
    msg = _inquiry(b, a).model_copy(update={"sender": stranger.lei})
    r = _post(a, protocol.sign(stranger, msg))
    assert r.status_code == 401 and "unknown VASP" in r.json()["message"]

    # the callback elsewhere than Beta's endpoint in Alpha's directory
    r = _post(a, protocol.sign(me, _inquiry(b, a, callback="http://127.0.0.1:1/v1/travel-rule/messages")))
    assert r.status_code == 422 and "callback" in r.json()["message"]

    # issued outside the window (a stored message can be replayed later only if the window allowed it)
    old = int((b.clock[0] - timedelta(minutes=10)).timestamp())
    r = _post(a, protocol.sign(me, _inquiry(b, a, iat=old)))
    assert r.status_code == 422 and "window" in r.json()["message"]

    # an approve for a transfer Beta is no party to
    answer = protocol.Message(id=protocol.new_id(), type="approve", sender=b.lei, receiver=a.lei,
                              iat=int(b.clock[0].timestamp()), transfer_id=protocol.new_id())  # fmt: skip
    assert _post(a, protocol.sign(me, answer)).status_code == 404
    # not a JWS at all
    assert _post(a, "hello").status_code == 422
    # "alg": "none" with the payload unsigned is no signature at all
    unsigned = _b64(json.dumps({"alg": "none", "kid": b.lei, "typ": "trp+jws"}).encode()) + "."
    unsigned += _b64(_inquiry(b, a).model_dump_json(exclude_none=True).encode()) + "."
    assert _post(a, unsigned).status_code == 401
    # a counterparty still signing with the older "EdDSA" name for Ed25519 is understood
    from joserfc import jws

    header = {"alg": "EdDSA", "kid": b.lei, "typ": "trp+jws"}
    legacy = jws.serialize_compact(header, _inquiry(b, a).model_dump_json(exclude_none=True), me.key, ["EdDSA"])
    assert _post(a, legacy).status_code == 200

    with a.session() as s:
        stored = s.query(TravelRuleMessage).filter_by(direction="in", sender_lei=b.lei, kind="inquiry").count()
        refused = s.query(TravelRuleMessage).filter_by(message_id=msg.id).count()
    assert refused == 0 and stored >= 1
    # the route really is open to no one else: a bearer credential does not replace the signature
    r = httpx.post(a.url + protocol.MESSAGES_PATH, json={"jws": "x.y.z"}, headers=OPERATOR)
    assert r.status_code == 422
