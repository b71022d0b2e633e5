"""Run the real app under uvicorn in a background thread: for tests and benchmarks, never for production."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """`with ServerThread(app) as base_url:` serves `app` on a free 127.0.0.1 port until the block ends."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        # proxy_headers=False: forwarding headers are Bastion's to judge (BASTION_TRUSTED_PROXIES), never
        # uvicorn's, whose default believes them from 127.0.0.1
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on",
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def user_key_headers(app: Any, user: str, method: str, path: str, body: str = "") -> dict[str, str]:
    """Headers of one request signed (OKX v5) with a read key made for `user` through the keys domain, as the
    user's own client would send it: for tests and the simulator acting as users, never for production."""
    from datetime import UTC, datetime

    from bastion.keys import lifecycle, signing
    from bastion.service.okx_auth import keys_runtime

    passphrase = "Sim-Passphrase-123!"
    runtime = keys_runtime(app)
    with app.state.sessionmaker() as session:
        key = lifecycle.create_key(
            session, runtime.vault, user_id=user, label="as-user", permissions=["read"], ips=[],
            passphrase=passphrase, now=runtime.clock(), second_factor=None,
        )  # fmt: skip
        session.commit()
    ts = signing.format_timestamp(datetime.now(UTC))
    return {
        "OK-ACCESS-KEY": key.key_id,
        "OK-ACCESS-SIGN": signing.sign(key.secret, ts, method, path, body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
    }
