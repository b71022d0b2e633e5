"""The security checklist from the domains' own data: each item flips when the user really does it."""

from __future__ import annotations

from datetime import timedelta

from account_support import Account

from bastion.keys import lifecycle
from bastion.service.okx_auth import keys_runtime


def _items(a: Account, sid: str) -> tuple[int, dict[str, bool]]:
    r = a.c.get("/v1/account/security", headers=a.as_user("alice", sid))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"]) == 7 and all(i["why"] for i in body["items"])
    return body["score"], {i["id"]: i["done"] for i in body["items"]}


def test_checklist_items_follow_what_the_user_did(account: Account) -> None:
    a = account
    a.login("alice", "s-old", "fp-old")
    a.clock.now += timedelta(days=40)
    a.login("alice", "s-now", "fp-now")
    score, items = _items(a, "s-now")
    # nothing set up; the old device is older than 30 days and the new one is the caller's: no unknown device
    assert items == {
        "two_factor": False,
        "passkey": False,
        "anti_phishing_code": False,
        "allowlist_only": False,
        "api_keys_ip_bound": True,
        "no_unrecognised_devices": True,
        "recovery_options": False,
    }
    assert score == round(100 * 2 / 7)
    # a device first seen 5 days ago that is not the caller's is worth a look
    a.clock.now += timedelta(days=5)
    a.login("alice", "s-tablet", "fp-tablet")
    assert _items(a, "s-now")[1]["no_unrecognised_devices"] is False
    # an API key without IP binding, then bound
    rt = keys_runtime(a.app)
    with a.app.state.sessionmaker() as s:
        key = lifecycle.create_key(s, rt.vault, user_id="alice", label="bot", permissions=["read"], ips=[],
                                   passphrase="Passphrase123!", now=rt.clock())  # fmt: skip
        s.commit()
    assert _items(a, "s-now")[1]["api_keys_ip_bound"] is False
    with a.app.state.sessionmaker() as s:
        lifecycle.update_ips(s, "alice", key.key_id, ["198.51.100.7"], rt.clock(), actor="test")
        s.commit()
    # anti-phishing code and allowlist mode through their routes
    user = a.as_user("alice", "s-now")
    assert a.c.put("/v1/users/alice/anti-phishing-code", json={"code": "Blue-Otter7"}, headers=user).status_code == 200
    assert a.c.post("/v1/account/allowlist/mode", json={"allowlist_only": True}, headers=user).status_code == 200
    score, items = _items(a, "s-now")
    assert items["api_keys_ip_bound"] and items["anti_phishing_code"] and items["allowlist_only"]
    assert score == round(100 * 3 / 7)
