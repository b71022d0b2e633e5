"""Credentials for tests, made the way the service expects them (one place, so every suite agrees).

- `OPERATOR_TOKEN`: the `settings` fixture's BASTION_OPERATOR_TOKEN, the bootstrap admin credential
  (every service and operator scope, never a user's routes); `OPERATOR` is its header. The `http` fixture
  sends it by default.
- `named_credential(db_url, name, scopes)`: a named credential stored (hashed) in the database; its token.
- `user_token(settings, uid)` / `user_headers(settings, uid)`: a session JWT signed with the development key
  in the settings' data dir, as `bastion users token` signs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx

OPERATOR_TOKEN = "test-operator-token-0123456789abcdef"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def named_credential(db_url: str, name: str, scopes: str | list[str]) -> str:
    from bastion.access import credentials
    from bastion.db.session import make_engine, make_sessionmaker

    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            issued = credentials.create(session, name, scopes, datetime.now(UTC), created_by="test")
            session.commit()
    finally:
        engine.dispose()
    return issued.token


def user_token(settings: Any, uid: str, ttl: timedelta = timedelta(minutes=15), **kw: Any) -> str:
    from bastion.access import sessions

    return sessions.issue(sessions.dev_key(settings.data_dir), uid, ttl=ttl, **kw)


def user_headers(settings: Any, uid: str, **kw: Any) -> dict[str, str]:
    return bearer(user_token(settings, uid, **kw))


_ACCOUNT_ROUTE = re.compile(r"^/v1/users/([^/]+)/(anti-phishing-code|notifications|totp|passkeys)(/|$)")


class PathUserAuth(httpx.Auth):
    """The operator credential, except on `/v1/users/{uid}/<account security>` routes, where it is that
    user's own session: for tests of what those routes do (who may call them is tests/service/test_access)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.tokens: dict[str, str] = {}

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        m = _ACCOUNT_ROUTE.match(request.url.path)
        if m is None:
            request.headers["Authorization"] = f"Bearer {OPERATOR_TOKEN}"
        else:
            uid = unquote(m.group(1))
            if uid not in self.tokens:
                self.tokens[uid] = user_token(self.settings, uid)
            request.headers["Authorization"] = f"Bearer {self.tokens[uid]}"
        yield request
