"""Every kind other domains send renders with its own template from the data they actually send (the shapes
below are copied from their calls), never falling back to the generic form by accident."""

from __future__ import annotations

import pytest

from bastion.notify.render import TEMPLATES, compose

SENT = {
    "new_device": {"device_id": "d1", "user_agent": "Firefox 140", "ip": "203.0.113.9", "country": "FR", "at": "T"},
    "device_removed": {"device_id": "d1", "user_agent": "Firefox 140", "at": "T"},
    "account_frozen": {"at": "T", "by": "user"},
    "account_unfrozen": {"at": "T", "locked_until": "2026-05-02T10:00:00+00:00"},
    "allowlist_added": {"address": "bc1qexample", "chain": "BTC", "usable_from": "U"},
    "allowlist_removed": {"address": "bc1qexample", "at": "T"},
    "allowlist_mode_on": {"at": "T"},
    "allowlist_mode_off": {"at": "T", "locked_until": "L"},
    "credential_lock": {"credential": "password_changed", "locked_until": "L"},
    "travel_rule_hold": {"deposit_id": "7", "asset": "BTC", "amount": "2.5", "txid": "ab12", "deadline": "D"},
    "travel_rule_returned": {"deposit_id": "7", "asset": "BTC", "amount": "2.5", "txid": "ab12"},
    "travel_rule_released": {"deposit_id": "7", "asset": "BTC", "amount": "2.5", "txid": "ab12", "resolved_by": "R"},
    "due_diligence_request": {"reference": "DD-3", "request_id": "3", "due_at": "2026-05-15"},
}


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_each_kind_renders_its_own_template(kind: str) -> None:
    subject, text = compose(kind, SENT[kind])
    assert subject == TEMPLATES[kind][0]
    assert "A security event on your account" not in text and "{" not in text
    for value in SENT[kind].values():
        if value not in ("T", "user", "d1", "7", "ab12", "3", "R") and kind != "credential_lock":
            assert value in text, (kind, value, text)


def test_wording_of_the_main_alerts() -> None:
    assert compose("new_device", SENT["new_device"])[1].startswith(
        "Your account was signed in from a new device: Firefox 140 at 203.0.113.9 (FR) on T."
    )
    assert "at your request" in compose("account_frozen", SENT["account_frozen"])[1]
    assert (
        "(password changed). Withdrawals are blocked until L." in compose("credential_lock", SENT["credential_lock"])[1]
    )


def test_unknown_kind_and_older_templates() -> None:
    assert compose("vault_opened", {"vault": "v9"}) == ("Vault opened", "A security event on your account:\nvault: v9")
    subject, text = compose("withdrawal_held", {"amount": "1", "asset": "ETH"})  # protection/anti_phishing.py
    assert subject == "Withdrawal under review" and "1 ETH is held" in text
