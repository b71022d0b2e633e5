"""Permissions, the IP allowlist and the sweep rule, attacked at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bastion.keys import policy
from bastion.keys.errors import KeyInputError
from bastion.keys.policy import Permission as P


def test_permissions_parse_and_print() -> None:
    assert policy.parse_permissions(["trade"]) == {P.READ, P.TRADE}
    assert policy.parse_permissions(["read_only,withdraw", " TRADE "]) == {P.READ, P.TRADE, P.WITHDRAW}
    assert policy.permissions_text({P.WITHDRAW, P.READ}) == "read,withdraw"
    assert policy.okx_permissions_text({P.TRADE, P.READ}) == "read_only,trade"
    with pytest.raises(KeyInputError, match=r"perms\[1\].*'admin'"):
        policy.parse_permissions(["read,admin"])


def test_allowlist_parse() -> None:
    nets = policy.parse_allowlist(["203.0.113.7", "10.0.0.0/8", "2001:db8::/32", "::ffff:198.51.100.1", "10.0.0.0/8"])
    assert policy.allowlist_text(nets) == "203.0.113.7,10.0.0.0/8,2001:db8::/32,198.51.100.1"
    with pytest.raises(KeyInputError) as exc:
        policy.parse_allowlist(["1.2.3.4", "300.1.1.1"])
    assert exc.value.field == "ips[1]"
    with pytest.raises(KeyInputError, match=r"host bits|not an IP"):
        policy.parse_allowlist(["10.0.0.5/8"])
    for everything in ("0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96"):
        with pytest.raises(KeyInputError, match="every address"):
            policy.parse_allowlist([everything])
    with pytest.raises(KeyInputError, match="at most 20"):
        policy.parse_allowlist([f"10.0.0.{i}" for i in range(21)])
    assert len(policy.parse_allowlist([f"10.0.0.{i}" for i in range(20)])) == 20


def test_ip_allowed_tries_to_slip_past() -> None:
    nets = policy.parse_allowlist(["203.0.113.7", "10.1.0.0/16", "2001:db8::/32"])
    assert policy.ip_allowed(nets, "203.0.113.7")
    assert policy.ip_allowed(nets, "10.1.255.255")
    assert policy.ip_allowed(nets, "::ffff:203.0.113.7")  # dual-stack socket form of an allowed v4
    assert policy.ip_allowed(nets, "2001:db8::1")
    for outsider in (
        "203.0.113.8",
        "10.2.0.1",
        "2001:db9::1",
        "::ffff:10.2.0.1",
        "",
        "unknown",
        "203.0.113.7, 1.2.3.4",
        "::203.0.113.7",
        "fe80::1%eth0",
        "0.0.0.0",
    ):
        assert not policy.ip_allowed(nets, outsider), outsider
    assert policy.ip_allowed([], "anything at all")  # no allowlist: any address (that is what the sweeper is for)


def test_sweep_rule() -> None:
    now = datetime(2024, 6, 30, tzinfo=UTC)
    day14 = now - timedelta(days=14)
    trade = {P.READ, P.TRADE}
    assert policy.sweepable(trade, False, created_at=day14, last_used_at=None, now=now)
    assert policy.sweepable(
        {P.READ, P.WITHDRAW}, False, created_at=now - timedelta(days=90), last_used_at=day14, now=now
    )
    assert not policy.sweepable(trade, False, created_at=day14 + timedelta(seconds=1), last_used_at=None, now=now)
    assert not policy.sweepable(
        trade, False, created_at=now - timedelta(days=90), last_used_at=day14 + timedelta(seconds=1), now=now
    )  # used recently
    assert not policy.sweepable(trade, True, created_at=day14, last_used_at=None, now=now)  # IP-bound
    assert not policy.sweepable({P.READ}, False, created_at=day14, last_used_at=None, now=now)  # read-only
