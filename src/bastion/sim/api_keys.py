"""A seeded month of API-key activity for the demo and the monthly report.

Users create keys (some IP-bound, some not, a few withdraw keys after TOTP), third-party apps are registered
and users grant them Fast API keys, keys sign real requests that go through the real `Authenticator`
(with a share of mistakes and attacks: stale timestamps, wrong passphrases, unknown keys, disallowed IPs),
and some unbound trading keys go quiet and are swept. Time is simulated: nothing sleeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bastion.keys import fast_api, lifecycle, signing
from bastion.keys.auth import Authenticator, SignedRequest
from bastion.keys.errors import AuthRejected
from bastion.keys.lifecycle import IssuedKey, KeyVault
from bastion.keys.policy import Permission
from bastion.keys.ratelimit import KeyRateLimits

ROUTE = "/api/v5/account/config"
APPS = (("GridBot", "trade"), ("TaxLens", "read"), ("CopyDesk", "trade"))


@dataclass
class MonthSummary:
    keys_direct: int = 0
    keys_fast_api: int = 0
    requests_ok: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    swept: int = 0


def _always_valid_totp(_s: Session, _u: str, _c: str, _n: datetime) -> bool:
    # The simulated users enter their code correctly; the TOTP check itself is tested elsewhere.
    return True


def _direct_key(
    sessions: sessionmaker[Session], vault: KeyVault, rng: random.Random, uid: str, at: datetime
) -> tuple[IssuedKey, str, tuple[str, ...]]:
    """A key the user creates themselves: its permissions, often bound IPs, a passphrase (key, passphrase, IPs)."""
    perms = rng.choices(["read", "trade", "trade,withdraw"], weights=(5, 4, 1))[0]
    ips: tuple[str, ...] = (f"203.0.113.{rng.randrange(1, 250)}",) if rng.random() < 0.55 else ()
    passphrase = f"Sim{rng.randrange(10**8):08d}x"
    with sessions() as s:
        k = lifecycle.create_key(
            s,
            vault,
            user_id=uid,
            label="sim",
            permissions=[perms],
            ips=list(ips),
            passphrase=passphrase,
            now=at,
            totp_code="000000",
            second_factor=_always_valid_totp,
        )
        s.commit()
    return k, passphrase, ips


def _fast_api_key(
    sessions: sessionmaker[Session], vault: KeyVault, app: fast_api.RegisteredApp, uid: str, at: datetime
) -> IssuedKey:
    """A key an app gets through Fast API: the user authorizes, the app exchanges the code 20 s later."""
    with sessions() as s:
        g = fast_api.authorize(
            s,
            user_id=uid,
            client_id=app.client_id,
            scope=fast_api.SCOPE,
            permissions=[app.max_permission],
            redirect_uri=app.redirect_uri,
            state="",
            now=at,
        )
        k = fast_api.exchange_code(
            s,
            vault,
            client_id=app.client_id,
            client_secret=app.client_secret or "",
            code=g.code,
            redirect_uri=app.redirect_uri,
            client_ip=app.ips,
            now=at + timedelta(seconds=20),
        )
        s.commit()
    return k


def _signed_request(
    rng: random.Random, key: IssuedKey, passphrase: str, ips: tuple[str, ...], at: datetime, i: int
) -> SignedRequest:
    """The i-th request of the month, signed with the key: mostly right, some with a wrong clock, passphrase,
    signature or source address."""
    ip = ips[0] if ips else f"192.0.2.{rng.randrange(1, 250)}"
    ts, pp, secret, kid = at, passphrase, key.secret, key.key_id
    roll = rng.random()
    if roll < 0.03:
        ts = at - timedelta(seconds=rng.randrange(31, 600))  # a client with a wrong clock
    elif roll < 0.05:
        pp = "Wrong" + passphrase  # a mistyped passphrase
    elif roll < 0.07:
        secret = "0" * 32  # a forged signature
    elif roll < 0.09 and ips:
        ip = "192.0.2.66"  # a stolen key tried from elsewhere
    path = f"{ROUTE}?n={i}"
    stamp = signing.format_timestamp(ts)
    return SignedRequest(
        "GET",
        ROUTE,
        f"n={i}",
        b"",
        {
            "OK-ACCESS-KEY": kid,
            "OK-ACCESS-PASSPHRASE": pp,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-SIGN": signing.sign(secret, stamp, "GET", path),
        },
        ip,
    )


def simulate_month(
    sessions: sessionmaker[Session],
    vault: KeyVault,
    start: datetime,
    *,
    users: int = 30,
    requests: int = 400,
    seed: int = 7,
) -> MonthSummary:
    rng = random.Random(seed)
    out = MonthSummary()
    day = timedelta(days=1)
    keys: list[tuple[IssuedKey, str, tuple[str, ...]]] = []  # key, passphrase, bound IPs
    with sessions() as s:
        apps = [
            fast_api.register_app(
                s,
                name=name,
                redirect_uri=f"https://{name.lower()}.example/cb",
                ips=[f"198.51.100.{10 + i}"],
                max_permission=perm,
                now=start,
            )
            for i, (name, perm) in enumerate(APPS)
        ]
        s.commit()
    for u in range(users):
        uid = f"sim-{u:04d}"
        for _ in range(rng.choice((1, 1, 1, 2))):
            keys.append(_direct_key(sessions, vault, rng, uid, start + rng.random() * 20 * day))
            out.keys_direct += 1
        if rng.random() < 0.3:
            app = rng.choice(apps)
            k = _fast_api_key(sessions, vault, app, uid, start + rng.random() * 25 * day)
            keys.append((k, k.passphrase or "", (app.ips,)))
            out.keys_fast_api += 1

    # Traffic: the first days of a key's life are busy, then a third of the keys go quiet for good.
    auth = Authenticator(
        sessions, vault, KeyRateLimits("memory://", per_key="1000/second", per_user="1000/second")
    )
    quiet = {k.key_id for k, _, _ in keys if rng.random() < 0.35}
    for i in range(requests):
        key, passphrase, ips = rng.choice(keys)
        at = key.created_at + rng.random() * (2 * day if key.key_id in quiet else 9 * day)
        req = _signed_request(rng, key, passphrase, ips, at, i)
        try:
            auth.authenticate(req, route=ROUTE, need=Permission.READ, now=at)
            out.requests_ok += 1
        except AuthRejected as exc:
            out.rejected[exc.reason.code] = out.rejected.get(exc.reason.code, 0) + 1
    auth.close()  # the refusals are written in batches: all of them before the month's counts are read

    # The scheduled sweeper, daily through the month.
    for d in range(1, 31):
        with sessions() as s:
            out.swept += lifecycle.sweep(s, vault, start + d * day).count
            s.commit()
    return out
