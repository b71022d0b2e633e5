"""A counterparty's message settles only the deposit it describes: a confirm's txid is public, so it must also match
the deposit's chain, asset, amount and address and come from its source (or an unknown one); an inquiry alone
settles only a deposit from the inquiring VASP's own address; a transfer we rejected or never reviewed cannot be
confirmed; a deposit released by an inquiry our operator then rejects is held again."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from bastion.notify.models import OutboxRow
from bastion.travel_rule import protocol
from bastion.travel_rule.models import TravelRuleDeposit, TravelRuleTransfer
from conftest import Side

_n = itertools.count(1)
NAME = {"primaryIdentifier": "Doe", "nameIdentifierType": "LEGL"}
PERSON = [{"naturalPerson": {"name": [{"nameIdentifier": [NAME]}]}}]
ORIGINATOR = {"originatorPersons": PERSON}
BENEFICIARY = {"beneficiaryPersons": PERSON}
SELF_HOSTED = "0x" + "66" * 20


def _deposit(c: httpx.Client, a: Side, user: str, frm: str, amount: str, txid: str | None = None) -> dict[str, Any]:
    body = {"deposit_id": f"mb-{next(_n)}", "user_id": user, "chain": "ethereum", "asset": "ETH", "amount": amount,
            "txid": txid or f"0x{next(_n):064x}", "to_address": a.address, "from_address": frm}  # fmt: skip
    r = c.post("/v1/travel-rule/deposits", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _status(side: Side, deposit_id: int) -> str:
    with side.session() as s:
        dep = s.get(TravelRuleDeposit, deposit_id)
        assert dep is not None
        return dep.status


def _inquire(cb: httpx.Client, a: Side, b: Side, amount: str) -> tuple[str, str]:
    """Beta's user sends `amount` ETH to Alpha: Beta's service sends the inquiry. Returns (Beta's user, transfer)."""
    user = f"bu{next(_n)}"
    r = cb.post("/v1/account/travel-rule/transfers", headers=b.user(user), json={
        "asset": "ETH", "chain": "ethereum", "amount": amount, "address": a.address,
        "originator": ORIGINATOR, "beneficiary": BENEFICIARY})  # fmt: skip
    assert r.status_code == 200, r.text
    return user, r.json()["transfer_id"]


def _answer(ca: httpx.Client, transfer_id: str, verdict: str) -> None:
    r = ca.post(f"/v1/compliance/travel-rule/transfers/{transfer_id}/{verdict}", json={"reason": "test"})
    assert r.status_code == 200, r.text


def _confirm(cb: httpx.Client, a: Side, user: str, amount: str, txid: str) -> None:
    """Beta reports its approved withdrawal broadcast with `txid`: Beta's service sends the confirm."""
    r = cb.post("/v1/travel-rule/withdrawals/sent", json={
        "user_id": user, "asset": "ETH", "amount": amount, "address": a.address, "txid": txid})  # fmt: skip
    assert r.status_code == 200, r.text


def _raw(a: Side, b: Side, **kw: Any) -> httpx.Response:
    """A message signed with Beta's real key, sent straight to Alpha (what a misbehaving Beta could send)."""
    m = protocol.Message(id=protocol.new_id(), sender=b.lei, receiver=a.lei, iat=int(a.clock[0].timestamp()), **kw)
    return httpx.post(a.url + protocol.MESSAGES_PATH, json={"jws": protocol.sign(b.identity(), m)}, timeout=20)


def _holds(side: Side, deposit_id: int) -> int:
    return _alerts(side, "travel_rule_hold", deposit_id)


def _alerts(side: Side, kind: str, deposit_id: int) -> int:
    with side.session() as s:
        keys = [r.dedupe_key for r in s.query(OutboxRow).filter(OutboxRow.kind == kind)]
    key = f"{kind}:{deposit_id}"
    return len({k for k in keys if k == key or k.startswith(key + ":")})  # one row per channel


def test_a_confirm_naming_another_deposits_txid_releases_nothing(pair: tuple[Side, Side]) -> None:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        victim_tx, early_tx = "0x" + "ab" * 32, "0x" + "ac" * 32
        big = _deposit(ca, a, "victim", SELF_HOSTED, "50", victim_tx)
        assert big["status"] == "held"
        # Beta's tiny transfer, approved by us, then "confirmed" with the victim's public txid.
        user, tid = _inquire(cb, a, b, "0.001")
        _answer(ca, tid, "approve")
        _confirm(cb, a, user, "0.001", victim_tx)
        assert _status(a, big["id"]) == "held"
        # The same trick before the deposit arrives: the confirm is there first, the deposit still held.
        user, tid = _inquire(cb, a, b, "0.002")
        _answer(ca, tid, "approve")
        _confirm(cb, a, user, "0.002", early_tx)
        assert _deposit(ca, a, "victim", SELF_HOSTED, "40", early_tx)["status"] == "held"
        # The honest confirm (same txid, amount, chain, address) still releases a deposit from an unknown wallet.
        dep = _deposit(ca, a, "erin", SELF_HOSTED, "3", "0x" + "cd" * 32)
        user, tid = _inquire(cb, a, b, "3")
        assert _status(a, dep["id"]) == "held"  # an inquiry alone does not settle an unknown source
        _answer(ca, tid, "approve")
        _confirm(cb, a, user, "3", "0x" + "cd" * 32)
        assert _status(a, dep["id"]) == "released"


def test_an_inquiry_releases_only_a_deposit_from_the_senders_address_on_its_chain(pair: tuple[Side, Side]) -> None:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        unknown = _deposit(ca, a, "fay", SELF_HOSTED, "0.61")
        from_beta = _deposit(ca, a, "gus", b.address, "0.62")
        assert unknown["status"] == from_beta["status"] == "held"
        _inquire(cb, a, b, "0.61")
        # Same address, asset and amount on another chain (signed by Beta, sent as is).
        ivms = {"originator": ORIGINATOR, "beneficiary": BENEFICIARY | {"accountNumber": [a.address]}}
        r = _raw(a, b, type="inquiry", transfer_id=protocol.new_id(), asset={"symbol": "ETH", "chain": "polygon"},
                 amount="0.62", callback=b.url + protocol.MESSAGES_PATH, IVMS101=ivms)  # fmt: skip
        assert r.status_code == 200 and r.json()["released_deposits"] == [], r.text
        assert (_status(a, unknown["id"]), _status(a, from_beta["id"])) == ("held", "held")
        _inquire(cb, a, b, "0.62")
        assert _status(a, from_beta["id"]) == "released"


def test_a_deposit_released_by_an_inquiry_we_reject_is_held_again(pair: tuple[Side, Side]) -> None:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        dep = _deposit(ca, a, "hal", b.address, "0.71")
        _, tid = _inquire(cb, a, b, "0.71")
        assert _status(a, dep["id"]) == "released"
        _answer(ca, tid, "reject")
        with a.session() as s:
            again = s.get(TravelRuleDeposit, dep["id"])
            assert again is not None
            assert (again.status, again.transfer_id, again.resolved_by) == ("held", None, None)
            assert again.deadline is not None
        assert _holds(a, dep["id"]) == 2  # the user is told twice: on arrival and when the inquiry is rejected
        # Settled again (here by the user): released, and the user told again.
        r = ca.post(f"/v1/account/travel-rule/deposits/{dep['id']}/originator", json=ORIGINATOR, headers=a.user("hal"))
        assert r.status_code == 200 and r.json()["status"] == "released", r.text
        assert _alerts(a, "travel_rule_released", dep["id"]) == 2
        # Cleared on arrival by an inquiry that came first: rejected, it is held too.
        _, tid = _inquire(cb, a, b, "0.72")
        first = _deposit(ca, a, "ida", b.address, "0.72")
        assert first["status"] == "cleared" and first["transfer_id"] == tid
        _answer(ca, tid, "reject")
        assert _status(a, first["id"]) == "held"


def test_a_confirm_on_a_transfer_we_rejected_or_never_reviewed_is_refused(pair: tuple[Side, Side]) -> None:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        dep = _deposit(ca, a, "jo", SELF_HOSTED, "0.81", "0x" + "e1" * 32)
        _, tid = _inquire(cb, a, b, "0.81")
        r = _raw(a, b, type="confirm", transfer_id=tid, txid="0x" + "e1" * 32)
        assert r.status_code == 409 and "inquired" in r.text, r.text
        _answer(ca, tid, "reject")
        r = _raw(a, b, type="confirm", transfer_id=tid, txid="0x" + "e1" * 32)
        assert r.status_code == 409 and "rejected" in r.text, r.text
        assert _status(a, dep["id"]) == "held"


def test_a_signed_message_with_an_iat_beyond_any_date_is_refused_not_a_500(pair: tuple[Side, Side]) -> None:
    a, b = pair
    for iat in (300 * 10**12, 2**62, 253_402_300_800):  # the last: one second past 9999-12-31
        # Built without validation: what a counterparty's own code could sign and send.
        m = protocol.Message.model_construct(id=protocol.new_id(), type="confirm", sender=b.lei, receiver=a.lei,
                                             iat=iat, transfer_id=protocol.new_id(), txid="0x" + "f1" * 32)  # fmt: skip
        r = httpx.post(a.url + protocol.MESSAGES_PATH, json={"jws": protocol.sign(b.identity(), m)}, timeout=20)
        assert r.status_code == 422 and "iat" in r.text, (iat, r.status_code, r.text)
    far = protocol.Message.model_construct(id="x", type="confirm", sender=b.lei, receiver=a.lei, iat=2**62,
                                           transfer_id="t", txid="x")  # fmt: skip
    try:
        protocol.check_time(far, a.clock[0], 300)
    except protocol.MessageRefused as exc:
        assert "iat" in str(exc)
    else:
        raise AssertionError("an iat beyond any date passed the time check")


def test_one_approved_inquiry_lets_one_withdrawal_through(pair: tuple[Side, Side]) -> None:
    a, b = pair

    def travel_rule_holds(ca: httpx.Client, event_id: str) -> list[dict[str, Any]]:
        body = {"event_id": event_id, "user_id": "kim", "asset": "ETH", "amount": "2", "amount_usd": "6600",
                "address": b.address, "chain": "ethereum"}  # fmt: skip
        r = ca.post("/v1/withdrawals/evaluate", json=body)
        assert r.status_code == 200, r.text
        return [h for h in r.json()["holds"] if h["reason"] == "travel_rule"]

    with a.client() as ca, b.client() as cb:
        r = ca.post("/v1/account/travel-rule/transfers", headers=a.user("kim"), json={
            "asset": "ETH", "chain": "ethereum", "amount": "2", "address": b.address,
            "originator": ORIGINATOR, "beneficiary": BENEFICIARY})  # fmt: skip
        assert r.status_code == 200, r.text
        tid = r.json()["transfer_id"]
        assert cb.post(f"/v1/compliance/travel-rule/transfers/{tid}/approve", json={}).status_code == 200
        first = f"wd-{next(_n)}"
        assert travel_rule_holds(ca, first) == []
        assert travel_rule_holds(ca, first) == []  # the same event asked again is still the one it covers
        for _ in range(2):  # any other withdrawal needs its own inquiry
            again = travel_rule_holds(ca, f"wd-{next(_n)}")
            assert [h["missing"] for h in again] == [["beneficiary_information"]]
        with a.session() as s:
            row = s.query(TravelRuleTransfer).filter_by(transfer_id=tid, role="originator").one()
            assert row.withdrawal_event == first
        # The bound withdrawal is the one reported sent: its confirm goes out.
        sent = {"user_id": "kim", "asset": "ETH", "amount": "2", "address": b.address, "txid": "0x" + "9a" * 32}
        r = ca.post("/v1/travel-rule/withdrawals/sent", json=sent)
        assert r.status_code == 200 and r.json()["transfer_id"] == tid, r.text
