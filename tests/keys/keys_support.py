"""Helpers for the API-key tests: the real service app with two extra probe routes that need trade and
withdraw permission, keys made through the domain, and requests signed by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import pyotp
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session

from bastion.keys import lifecycle, signing
from bastion.keys.lifecycle import IssuedKey
from bastion.service.okx_auth import (
    Caller,
    KeysRuntime,
    Permission,
    keys_runtime,
    okx_ok,
    okx_router,
    require_key,
)

PASSPHRASE = "Passphrase123!"
# Users' TOTP seeds for the tests; the service's second factor is pointed at this table.
TOTP_SEEDS: dict[str, str] = {}


def totp_check(_session: Session, user_id: str, code: str, now: datetime) -> bool:
    seed = TOTP_SEEDS.get(user_id)
    return seed is not None and pyotp.TOTP(seed).verify(code, for_time=now, valid_window=1)


def probe_router() -> Any:
    """Routes as other domains would write them, guarded by require_key with trade / withdraw."""
    router = okx_router(prefix="/test-probe")

    @router.post("/trade")
    def trade(caller: Annotated[Caller, Depends(require_key(Permission.TRADE))]) -> dict[str, Any]:
        return okx_ok([{"uid": caller.user_id, "did": "trade"}])

    @router.get("/withdraw")
    def withdraw(caller: Annotated[Caller, Depends(require_key(Permission.WITHDRAW))]) -> dict[str, Any]:
        return okx_ok([{"uid": caller.user_id, "did": "withdraw"}])

    return router


@dataclass
class Service:
    app: FastAPI
    url: str
    runtime: KeysRuntime

    def key(
        self,
        user: str,
        perms: str = "read",
        ips: tuple[str, ...] = (),
        passphrase: str = PASSPHRASE,
        **kw: Any,
    ) -> IssuedKey:
        """A key made through the domain, as the back office or CLI would."""
        with self.app.state.sessionmaker() as session:
            issued = lifecycle.create_key(
                session,
                self.runtime.vault,
                user_id=user,
                label=kw.pop("label", "test"),
                permissions=[perms],
                ips=list(ips),
                passphrase=passphrase,
                now=kw.pop("now", None) or self.runtime.clock(),
                second_factor=self.runtime.second_factor,
                **kw,
            )
            session.commit()
        return issued


def build_app(settings: Any) -> FastAPI:
    from bastion.service.app import create_app

    app = create_app(settings)
    app.include_router(probe_router())
    runtime = keys_runtime(app)
    runtime.second_factor = totp_check
    return app


def sign_headers(
    key: IssuedKey,
    method: str,
    path: str,
    body: str = "",
    *,
    at: datetime | None = None,
    passphrase: str = PASSPHRASE,
    secret: str | None = None,
) -> dict[str, str]:
    ts = signing.format_timestamp(at or datetime.now(UTC))
    return {
        "OK-ACCESS-KEY": key.key_id,
        "OK-ACCESS-SIGN": signing.sign(secret or key.secret, ts, method, path, body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
    }
