"""Devices and sessions over HTTP: logins recorded by the login service, the user's list, removal that ends
the device's sessions at once, and the ways an attacker would try around it."""

from __future__ import annotations

import re
from datetime import timedelta

from account_support import Account


def _same_404(a: object, b: object) -> None:
    ra, rb = a, b
    assert ra.status_code == rb.status_code == 404, (ra.text, rb.text)  # type: ignore[attr-defined]
    assert re.sub(r"dev_\w+", "X", ra.text) == re.sub(r"dev_\w+", "X", rb.text)  # type: ignore[attr-defined]


def test_logins_record_devices_and_a_new_device_alerts(account: Account) -> None:
    a = account
    r = a.login("alice", "s-phone-1", "fp-phone", country="DE", asn=3320)
    assert r.status_code == 200, r.text
    phone = r.json()
    assert phone["new_device"] is True and phone["frozen"] is False and phone["device_id"].startswith("dev_")
    a.clock.now += timedelta(hours=1)
    again = a.login("alice", "s-phone-2", "fp-phone")  # the same device, a new session: not new
    assert again.json()["new_device"] is False and again.json()["device_id"] == phone["device_id"]
    assert a.login("alice", "s-phone-2", "fp-phone").json() == again.json()  # a retry of the same login
    assert a.login("alice", "s-phone-2", "fp-other").status_code == 409  # one session, one device
    laptop = a.login("alice", "s-laptop-1", "fp-laptop").json()
    assert a.outbox("alice") == ["new_device", "new_device"]  # phone and laptop, not the repeat

    listed = a.c.get("/v1/account/devices", headers=a.as_user("alice", "s-laptop-1"))
    assert listed.status_code == 200, listed.text
    by_id = {d["device_id"]: d for d in listed.json()["devices"]}
    assert set(by_id) == {phone["device_id"], laptop["device_id"]}
    assert by_id[laptop["device_id"]]["current"] is True and by_id[phone["device_id"]]["current"] is False
    assert by_id[phone["device_id"]]["active_sessions"] == 2
    assert by_id[phone["device_id"]]["country"] == "DE" or by_id[phone["device_id"]]["country"] is None
    # the risk engine saw the same logins (one report feeds both)
    from bastion.risk.models import RiskDevice

    with a.app.state.sessionmaker() as s:
        assert {d.device for d in s.query(RiskDevice).filter_by(user_id="alice")} == {"fp-phone", "fp-laptop"}


def test_a_removed_devices_tokens_are_refused_at_once(account: Account) -> None:
    a = account
    phone = a.login("alice", "s-phone", "fp-phone").json()["device_id"]
    a.login("alice", "s-laptop", "fp-laptop")
    thief = a.as_user("alice", "s-phone")  # a token of the phone's session, still valid for an hour
    assert a.c.get("/v1/account/devices", headers=thief).status_code == 200
    r = a.c.delete(f"/v1/account/devices/{phone}", headers=a.as_user("alice", "s-laptop"))
    assert r.status_code == 200 and r.json()["removed_devices"] == [phone] and r.json()["sessions_ended"] == 1
    refused = a.c.get("/v1/account/devices", headers=thief)
    assert refused.status_code == 401 and refused.json()["message"] == "session ended"
    # also on every other user route, and a freshly signed token naming the ended sid
    assert a.c.get("/v1/account/security", headers=a.as_user("alice", "s-phone")).status_code == 401
    mine = a.c.get("/v1/account/devices", headers=a.as_user("alice", "s-laptop"))
    assert [d["device_id"] for d in mine.json()["devices"]] != [phone] and len(mine.json()["devices"]) == 1
    assert a.outbox("alice") == ["new_device", "new_device", "device_removed"]
    # sid reuse: the login service (or whoever holds its credential) cannot bring an ended session back
    reuse = a.login("alice", "s-phone", "fp-phone")
    assert reuse.status_code == 409 and "ended" in reuse.json()["message"]
    # the device logging in again with a new session is a new device again (and alerts)
    back = a.login("alice", "s-phone-new", "fp-phone").json()
    assert back["new_device"] is True and back["device_id"] == phone
    assert a.c.get("/v1/account/devices", headers=a.as_user("alice", "s-phone-new")).status_code == 200


def test_remove_others_keeps_only_the_callers_device(account: Account) -> None:
    a = account
    ids = [a.login("alice", f"s-{n}", f"fp-{n}").json()["device_id"] for n in range(3)]
    r = a.c.post("/v1/account/devices/remove-others", headers=a.as_user("alice", "s-1"))
    assert r.status_code == 200, r.text
    assert r.json()["kept_device_id"] == ids[1] and sorted(r.json()["removed_devices"]) == sorted([ids[0], ids[2]])
    for sid, code in (("s-0", 401), ("s-1", 200), ("s-2", 401)):
        assert a.c.get("/v1/account/devices", headers=a.as_user("alice", sid)).status_code == code


def test_another_users_device_is_not_found_and_untouched(account: Account) -> None:
    a = account
    alice_phone = a.login("alice", "s-alice", "fp-shared").json()["device_id"]
    a.login("bob", "s-bob", "fp-shared")  # the same fingerprint at another user is another device
    bob = a.as_user("bob", "s-bob")
    _same_404(a.c.delete(f"/v1/account/devices/{alice_phone}", headers=bob),
              a.c.delete("/v1/account/devices/dev_000000000000000000000000", headers=bob))  # fmt: skip
    assert a.c.get("/v1/account/devices", headers=a.as_user("alice", "s-alice")).status_code == 200
    bobs = a.c.get("/v1/account/devices", headers=bob).json()["devices"]
    assert len(bobs) == 1 and bobs[0]["device_id"] != alice_phone
    # bob's remove-others never reaches alice's devices
    assert a.c.post("/v1/account/devices/remove-others", headers=bob).json()["removed_devices"] == []
    assert a.c.get("/v1/account/devices", headers=a.as_user("alice", "s-alice")).status_code == 200
    # a sid of alice's cannot be claimed for bob (nor would a token of bob's naming it pass)
    steal = a.login("bob", "s-alice", "fp-bob")
    assert steal.status_code == 409
    assert a.c.get("/v1/account/devices", headers=a.as_user("bob", "s-alice")).status_code == 401


def test_bad_login_input_is_a_4xx_naming_the_field(account: Account) -> None:
    a = account
    for body, field in (
        ({"user_id": "alice", "sid": "a b", "device_fingerprint": "f", "ip": "203.0.113.7"}, "sid"),
        ({"user_id": "alice", "sid": "s", "device_fingerprint": "f", "ip": "not-an-ip"}, "ip"),
        ({"user_id": "alice", "sid": "s", "device_fingerprint": "f", "ip": "203.0.113.7", "country": "de"}, "country"),
        ({"user_id": "alice", "sid": "s" * 129, "device_fingerprint": "f", "ip": "203.0.113.7"}, "sid"),
        ({"user_id": "", "sid": "s", "device_fingerprint": "f", "ip": "203.0.113.7"}, "user_id"),
    ):
        r = a.c.post("/v1/account/logins", json=body, headers=a.login_service)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text
    r = a.c.delete("/v1/account/devices/" + "x" * 200, headers=a.as_user("alice", "s"))
    assert r.status_code == 422 and "device_id" in r.json()["message"]
