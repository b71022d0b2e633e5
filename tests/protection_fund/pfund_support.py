"""Helpers for the protection-fund tests: the real service under uvicorn, and a user's signed request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from bastion.keys import lifecycle, signing
from bastion.service.okx_auth import keys_runtime

PASSPHRASE = "Passphrase123!"


def user_headers(app: FastAPI, user: str, method: str, path: str) -> dict[str, str]:
    """A read key made for `user` through the keys domain, and the OKX-v5 signature of one request with it."""
    runtime = keys_runtime(app)
    with app.state.sessionmaker() as session:
        key = lifecycle.create_key(
            session,
            runtime.vault,
            user_id=user,
            label="pfund-test",
            permissions=["read"],
            ips=[],
            passphrase=PASSPHRASE,
            now=runtime.clock(),
            second_factor=None,
        )
        session.commit()
    ts = signing.format_timestamp(datetime.now(UTC))
    return {
        "OK-ACCESS-KEY": key.key_id,
        "OK-ACCESS-SIGN": signing.sign(key.secret, ts, method, path, ""),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": PASSPHRASE,
    }


def operator(token: str | None) -> dict[str, Any]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}
