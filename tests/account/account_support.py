"""The account security center's tests: the real app on a real server thread, its clock injected, and the
credentials of the machines and people who call it (the login service, the wallet service, two operators)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from auth_support import bearer, named_credential, user_token
from bastion.service.app import create_app
from bastion.service.deps import InProcessOverrides
from bastion.service.testing import ServerThread

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count()


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Account:
    app: Any
    url: str
    settings: Any
    clock: Clock
    c: httpx.Client
    login_service: dict[str, str]
    wallet: dict[str, str]
    events: dict[str, str]
    ops1: dict[str, str]
    ops2: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, uid: str, sid: str) -> str:
        """A session JWT as the login service signs it, issued now (wall clock: what `iat` is in production)."""
        return str(user_token(self.settings, uid, sid=sid, ttl=timedelta(hours=1)))

    def as_user(self, uid: str, sid: str) -> dict[str, str]:
        return dict(bearer(self.token(uid, sid)))

    def login(self, uid: str, sid: str, device: str, **kw: Any) -> httpx.Response:
        body = {"user_id": uid, "sid": sid, "device_fingerprint": device, "ip": "203.0.113.7", "user_agent": "UA",
                **kw}  # fmt: skip
        return self.c.post("/v1/account/logins", json=body, headers=self.login_service)

    def withdraw(self, uid: str, at: datetime, address: str = "0xDEST0001", **kw: Any) -> dict[str, Any]:
        body = {"event_id": f"w-{next(_ids)}", "user_id": uid, "asset": "USDT", "amount": "10", "amount_usd": "10",
                "address": address, "at": at.isoformat(), **kw}  # fmt: skip
        r = self.c.post("/v1/withdrawals/evaluate", json=body, headers=self.wallet)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def outbox(self, user_id: str) -> list[str]:
        """The alert kinds enqueued for the user (one row per channel: the email rows); each must fill its
        notify template (not the generic fallback), so the contract with the notify domain holds."""
        import json

        from sqlalchemy import select

        from bastion.notify.models import OutboxRow
        from bastion.notify.render import TEMPLATES, compose

        with self.app.state.sessionmaker() as s:
            rows = s.scalars(
                select(OutboxRow).where(OutboxRow.user_id == user_id, OutboxRow.channel == "email")
                .order_by(OutboxRow.id)
            ).all()  # fmt: skip
            for r in rows:
                subject, text = compose(r.kind, json.loads(r.data))
                assert subject == TEMPLATES[r.kind][0] and not text.startswith("A security event"), (r.kind, r.data)
            return [r.kind for r in rows]


@pytest.fixture
def account(settings: Any, db_url: str) -> Iterator[Account]:
    settings = settings.model_copy(
        update={"keys_rate_limit_per_key": "1000/second", "keys_rate_limit_per_user": "1000/second"}
    )
    clock = Clock()
    app = create_app(settings, overrides=InProcessOverrides(protection_clock=clock))
    creds = {
        name: bearer(named_credential(db_url, name, scopes))
        for name, scopes in (
            ("login-service", ["account:write"]),
            ("wallet", ["risk:write"]),
            ("events-feed", ["events:write"]),
            ("ops-ann", ["account:admin"]),
            ("ops-bo", ["account:admin"]),
        )
    }
    with ServerThread(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield Account(
            app, url, settings, clock, c, creds["login-service"], creds["wallet"], creds["events-feed"],
            creds["ops-ann"], creds["ops-bo"],
        )  # fmt: skip
    app.state.engine.dispose()
