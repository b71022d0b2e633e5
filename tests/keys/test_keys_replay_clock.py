"""The in-memory replay guard against the authenticator's clock (review of commit 33aef78; fails on main).

`keys/ratelimit.py` `LocalReplayGuard` forgets a signature `ttl` seconds of `time.monotonic()` after first seeing
it, while the timestamp check (`keys/signing.check_fresh`) judges freshness by the authenticator's `now` (the wall
clock in the service, `runtime.clock`). Before 33aef78 the in-memory guard was `limits`' MemoryStorage, whose
expiry runs on `time.time()`, the same wall clock as `now`: a wall clock stepped back (NTP step, VM resume) could
not reopen a replay window. Now, after a step back of more than ~31 s, a request first seen more than 61 s of
monotonic time ago is fresh again by the wall clock and forgotten by the guard: its replay is accepted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bastion.keys import signing

CONFIG = "/api/v5/account/config"
PASSPHRASE = "Passphrase123!"

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


def test_the_replay_guard_remembers_a_signature_while_the_authenticator_would_accept_it(
    session_factory: Any,
) -> None:
    """The guard must hold a signature for as long as the timestamp check (in the authenticator's clock, the
    `now` it is given: the wall clock in the service) would still accept it. It forgets it after a fixed time of
    `time.monotonic()` instead: when the two clocks disagree (a wall clock stepped back by NTP, a VM resumed; here
    the authenticator is given the same `now` twice, 4.5 s apart in real time), a replay passes."""
    from bastion.keys.auth import Authenticator, SignedRequest
    from bastion.keys.lifecycle import KeyVault, create_key
    from bastion.keys.policy import Permission
    from bastion.keys.ratelimit import KeyRateLimits

    vault = KeyVault.from_keyring(None, lambda: b"r" * 32)
    skew = timedelta(seconds=2)  # the guard's memory: 2 * 2 + 1 = 5 s
    auth = Authenticator(session_factory, vault, KeyRateLimits("memory://"), max_skew=skew)
    at = datetime.now(UTC)
    with session_factory() as session:
        issued = create_key(
            session, vault, user_id="review-clock", label="c", permissions=["read"], ips=[],
            passphrase=PASSPHRASE, now=at, actor="test",
        )  # fmt: skip
        session.commit()
    ts = signing.format_timestamp(at)
    request = SignedRequest(
        method="GET",
        path=CONFIG,
        query="",
        body=b"",
        headers={
            "OK-ACCESS-KEY": issued.key_id,
            "OK-ACCESS-SIGN": signing.sign(issued.secret, ts, "GET", CONFIG),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": PASSPHRASE,
        },
        client_ip="127.0.0.1",
    )
    try:
        assert auth.authenticate(request, route=CONFIG, need=Permission.READ, now=at).key_id == issued.key_id
        time.sleep(5.5)
        # The authenticator's clock reads 1 s after the signature's timestamp: fresh, and seen before.
        from bastion.keys.errors import AuthRejected

        with pytest.raises(AuthRejected) as replay:
            auth.authenticate(request, route=CONFIG, need=Permission.READ, now=at + timedelta(seconds=1))
        assert replay.value.reason.code == "50114"
    finally:
        auth.close()
