"""API-key authentication cost: verifying one signed request, and authenticated requests per second through
the running service.

    .venv/bin/python bench/keys.py [--requests 2000] [--threads 4] [--database-url URL]

1. In process: the pure checks (timestamp, HMAC-SHA256 and its constant-time compare), and the whole
   `Authenticator.authenticate` (key lookup in the database, secret unsealing, cached passphrase check,
   replay guard, allowlist, permission, rate limits).
2. Over loopback: the real service under uvicorn, a signed GET /api/v5/account/config per request from
   several client threads; requests per second and p50/p99 latency.
Rate limits are raised out of the way: the bench measures authentication, not the limiter refusing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bastion.db.migrate import upgrade
from bastion.keys import lifecycle, signing
from bastion.keys.auth import SignedRequest
from bastion.keys.policy import Permission
from bastion.service.app import create_app
from bastion.service.okx_auth import keys_runtime
from bastion.service.testing import ServerThread
from bastion.settings import Settings

PATH = "/api/v5/account/config"
PASSPHRASE = "Passphrase123!"


def per_op(fn: object, n: int) -> float:
    f = fn  # type: ignore[assignment]
    t = time.perf_counter()
    for _ in range(n):
        f()  # type: ignore[operator]
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bastion-bench-keys-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        data_dir=tmp,
        keys_sweep_interval_seconds=0,
        keys_rate_limit_per_key="1000000/second",
        keys_rate_limit_per_user="1000000/second",
    )
    app = create_app(settings)
    rt = keys_runtime(app)
    with app.state.sessionmaker() as s:
        key = lifecycle.create_key(
            s,
            rt.vault,
            user_id="bench",
            label="bench",
            permissions=["read"],
            ips=["127.0.0.0/8"],
            passphrase=PASSPHRASE,
            now=datetime.now(UTC),
        )
        s.commit()

    # ---- 1. in process
    ts = signing.format_timestamp(datetime.now(UTC))
    sig = signing.sign(key.secret, ts, "GET", PATH)
    n = 20000
    hmac_s = per_op(lambda: signing.signature_matches(key.secret, sig, ts, "GET", (PATH,), ""), n)
    parse_s = per_op(lambda: signing.check_fresh(signing.parse_timestamp(ts), datetime.now(UTC)), n)

    counter = [0]

    def one_auth() -> None:
        counter[0] += 1
        at = datetime.now(UTC) - timedelta(microseconds=counter[0] * 1000 % 20_000_000)
        t = signing.format_timestamp(at) if counter[0] % 2 else signing.format_timestamp(datetime.now(UTC))
        # Unique bytes per request (the replay guard would refuse a repeat): vary the query string.
        path = f"{PATH}?n={counter[0]}"
        req = SignedRequest(
            "GET",
            PATH,
            f"n={counter[0]}",
            b"",
            {
                "OK-ACCESS-KEY": key.key_id,
                "OK-ACCESS-PASSPHRASE": PASSPHRASE,
                "OK-ACCESS-TIMESTAMP": t,
                "OK-ACCESS-SIGN": signing.sign(key.secret, t, "GET", path),
            },
            "127.0.0.1",
        )
        rt.authenticator.authenticate(req, route=PATH, need=Permission.READ, now=datetime.now(UTC))

    one_auth()  # the first call pays argon2 once; later ones hit the verified-passphrase cache
    auth_s = per_op(one_auth, 2000)

    # ---- 2. through the running service
    lat: list[float] = []
    lock = threading.Lock()
    seq = [0]

    def worker(count: int, base: str) -> None:
        with httpx.Client(base_url=base) as http:
            for _ in range(count):
                with lock:
                    seq[0] += 1
                    i = seq[0]
                path = f"{PATH}?n={i}"
                t = signing.format_timestamp(datetime.now(UTC))
                h = {
                    "OK-ACCESS-KEY": key.key_id,
                    "OK-ACCESS-PASSPHRASE": PASSPHRASE,
                    "OK-ACCESS-TIMESTAMP": t,
                    "OK-ACCESS-SIGN": signing.sign(key.secret, t, "GET", path),
                }
                t0 = time.perf_counter()
                r = http.get(path, headers=h)
                dt = time.perf_counter() - t0
                if r.json()["code"] != "0":
                    raise RuntimeError(r.text)
                with lock:
                    lat.append(dt)

    with ServerThread(app) as base:
        worker(50, base)  # warm-up
        lat.clear()
        per = args.requests // args.threads
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda _: worker(per, base), range(args.threads)))
        wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)

    backend = app.state.engine.dialect.name
    print(f"{'measure':<52} {'value':>12}")
    print(f"{'timestamp parse + window check':<52} {parse_s * 1e6:>9.1f} us")
    print(f"{'HMAC-SHA256 sign check (constant-time compare)':<52} {hmac_s * 1e6:>9.1f} us")
    print(f"{'authenticate(), in process, ' + backend:<52} {auth_s * 1e6:>9.1f} us")
    print(
        f"{'service: authenticated requests/s (' + str(args.threads) + ' client threads)':<52} "
        f"{len(lat) / wall:>12.0f}"
    )
    print(f"{'service: latency p50 / p99':<52} {q[49] * 1e3:>5.2f} / {q[98] * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
