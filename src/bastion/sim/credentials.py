"""The simulator's credentials, made the way an exchange would deploy them.

The liquidation engine, the wallet service, the login service, the order gateway and the chain watcher are
machines: one service credential with their scopes. Analysts, support and the treasury are the back office:
one operator credential. Users log in: each gets a session JWT signed with the development key of the
service's data dir (as `bastion users token` signs one). The two named credentials are revoked when the
simulation ends, so a finished run leaves nothing usable behind.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from bastion.access import credentials, sessions

SERVICE_SCOPES = [
    "risk:write",
    "events:write",
    "funds:write",
    "orders:precheck",
    "deposits:write",
    "compliance:write",
    "account:write",
    "notify:write",
    "travel_rule:write",
]
OPERATOR_SCOPES = [
    "risk:review",
    "risk:admin",
    "keys:admin",
    "funds:admin",
    "deposits:review",
    "protection:admin",
    "pfund:admin",
    "compliance:review",
    "compliance:admin",
    "travel_rule:review",
]
_SESSION_TTL = timedelta(hours=1)


@dataclass
class SimCredentials:
    service_token: str
    operator_token: str
    data_dir: Path
    names: tuple[str, str]
    _users: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    @classmethod
    def create(cls, sessions_: sessionmaker[Session], data_dir: Path, label: str = "sim") -> SimCredentials:
        tag = f"{label}-{secrets.token_hex(4)}"
        now = datetime.now(UTC)
        with sessions_() as s:
            service = credentials.create(s, f"{tag}-service", SERVICE_SCOPES, now, created_by="simulator")
            operator = credentials.create(s, f"{tag}-operator", OPERATOR_SCOPES, now, created_by="simulator")
            s.commit()
        return cls(service.token, operator.token, data_dir, (service.credential.name, operator.credential.name))

    def revoke(self, sessions_: sessionmaker[Session]) -> None:
        with sessions_() as s:
            for name in self.names:
                credentials.revoke(s, name, datetime.now(UTC))
            s.commit()

    @property
    def service(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service_token}"}

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}

    def user(self, uid: str) -> dict[str, str]:
        """The user's session (logged in once, again when it is about to expire)."""
        now = datetime.now(UTC)
        held = self._users.get(uid)
        if held is None or held[1] - now < timedelta(minutes=5):
            token = sessions.issue(sessions.dev_key(self.data_dir), uid, ttl=_SESSION_TTL, now=now)
            held = (token, now + _SESSION_TTL)
            self._users[uid] = held
        return {"Authorization": f"Bearer {held[0]}"}

    def by_route(self, routes: Iterable[RouteKind]) -> httpx.Auth:
        """An httpx auth that sends the service credential on service routes and the operator one on operator
        routes (`routes`: the service's route table as plain data, handed over by whoever started the service),
        unless the request already carries a credential; user routes get nothing added: a user's request says
        which user (`user(uid)` or a signed key)."""
        return _ByRoute(self, routes)


# (HTTP method, path template as declared, e.g. "/v1/users/{user_id}/keys", caller kind: public/user/service/operator)
RouteKind = tuple[str, str, str]


class _ByRoute(httpx.Auth):
    def __init__(self, creds: SimCredentials, routes: Iterable[RouteKind]) -> None:
        self.creds = creds
        self.routes: list[tuple[str, re.Pattern[str], str]] = []
        for method, path, kind in routes:
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path))
            self.routes.append((method, re.compile(f"^{pattern}$"), kind))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers and "ok-access-key" not in request.headers:
            for method, pattern, kind in self.routes:
                if method == request.method and pattern.match(request.url.path):
                    if kind == "service":
                        request.headers.update(self.creds.service)
                    elif kind == "operator":
                        request.headers.update(self.creds.operator)
                    break
        yield request
