"""API keys over HTTP.

Three kinds of caller (see `bastion.service.access`):
- the exchange's account back office (operator credential, scope keys:admin): creates, lists, re-binds and
  revokes a user's keys, registers third-party apps, runs the sweeper, reads the metrics;
- API clients, authenticated by their OKX v5 signature: `GET /v1/keys` (their own keys) and the OKX-shaped
  `GET /api/v5/account/config` (what the calling key is), so python-okx and ccxt work unchanged.
The user consents to a third-party app with their session (`POST /v1/fast-api/authorize`); the app's server
redeems the code at `POST /v1/fast-api/token` (public: its client secret in the body is the credential).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from bastion.account import freeze as account_freeze
from bastion.bounds import Timestamp
from bastion.keys import fast_api, lifecycle, metrics
from bastion.keys.auth import Caller
from bastion.keys.errors import FastApiDenied, SecondFactorRejected
from bastion.keys.lifecycle import IssuedKey, KeyView
from bastion.keys.policy import Permission, okx_permissions_text
from bastion.service.access import OperatorScope, Public, SessionUser, UserKey
from bastion.service.asgi_route import AsgiRoute, run_dependency, send_error, served_by
from bastion.service.background import running
from bastion.service.deps import SessionDep, keys_runtime
from bastion.service.okx_auth import client_ip, okx_ok, okx_router
from bastion.service.schemas import RequestBody

log = logging.getLogger("bastion.keys")


def _ms(at: datetime | None) -> str:
    return "" if at is None else str(int(at.timestamp() * 1000))


def _perm_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


# ------------------------------------------------------------------------------------------------ schemas
class KeyCreate(RequestBody):
    label: str = Field(min_length=1, max_length=50)
    perms: list[str] = Field(default=["read"], description="read, trade, withdraw (read is always included)")
    ips: list[str] = Field(default=[], max_length=20, description="IP addresses or CIDR ranges, at most 20")
    passphrase: str = Field(min_length=8, max_length=32)
    totp_code: str | None = Field(default=None, description="required for a withdraw-permission key")

    _perms = field_validator("perms", mode="before")(_perm_list)


class KeyOut(BaseModel):
    key_id: str
    label: str
    perms: list[str]
    ips: list[str]
    source: str
    app_id: str | None
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, k: KeyView) -> KeyOut:
        return cls(
            key_id=k.key_id,
            label=k.label,
            perms=sorted(p.value for p in k.permissions),
            ips=k.ips.split(",") if k.ips else [],
            source=k.source,
            app_id=k.app_id,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
        )


class KeyCreated(BaseModel):
    """Shown once: the secret (and, for Fast API, the passphrase) cannot be read back later."""

    key_id: str
    secret: str
    passphrase: str | None = None
    label: str
    perms: list[str]
    ips: list[str]
    created_at: datetime

    @classmethod
    def of(cls, k: IssuedKey) -> KeyCreated:
        return cls(
            key_id=k.key_id,
            secret=k.secret,
            passphrase=k.passphrase,
            label=k.label,
            perms=sorted(p.value for p in k.permissions),
            ips=k.ips.split(",") if k.ips else [],
            created_at=k.created_at,
        )


class IpsUpdate(RequestBody):
    ips: list[str] = Field(max_length=20)


class SweepOut(BaseModel):
    dry_run: bool
    at: datetime
    count: int
    keys: list[KeyOut]


class AppCreate(RequestBody):
    name: str = Field(min_length=1, max_length=80)
    redirect_uri: str
    ips: list[str] = Field(min_length=1, max_length=20)
    max_permission: Literal["read", "trade"] = "trade"


class AppOut(BaseModel):
    client_id: str
    name: str
    redirect_uri: str
    ips: list[str]
    max_permission: str
    client_secret: str | None = None


class AuthorizeIn(RequestBody):
    # the user is the session's: a user_id here is refused (RequestBody forbids unknown fields)

    client_id: str
    scope: str = fast_api.SCOPE
    perms: list[str] = Field(default_factory=lambda: ["read"])
    redirect_uri: str
    state: str = Field(default="", max_length=500)

    _perms = field_validator("perms", mode="before")(_perm_list)


class AuthorizeOut(BaseModel):
    code: str
    redirect_to: str
    expires_at: datetime


class TokenIn(RequestBody):
    grant_type: Literal["authorization_code"]
    client_id: str
    client_secret: str
    code: str
    redirect_uri: str


class TokenOut(BaseModel):
    scope: str = fast_api.SCOPE
    api_key: str
    secret_key: str
    passphrase: str
    perms: list[str]
    ips: list[str]


# ------------------------------------------------------------------------------------- scheduled sweeper
def _sweep_once(app: FastAPI) -> int:
    runtime = keys_runtime(app)
    with app.state.sessionmaker() as session:
        report = lifecycle.sweep(session, runtime.vault, runtime.clock())
        session.commit()
    if report.count:
        log.info("swept %d idle unbound API keys", report.count)
    return report.count


async def _sweeper(app: FastAPI, interval: float) -> None:
    while True:
        try:
            await run_in_threadpool(_sweep_once, app)
        except Exception:  # a failed sweep must not kill the loop; the next one retries
            log.exception("API key sweep failed")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    interval = app.state.settings.keys_sweep_interval_seconds
    task = asyncio.create_task(_sweeper(app, interval)) if interval > 0 else None
    async with running(task):
        yield


router = okx_router(tags=["keys"], lifespan=_lifespan)
KeysAdmin = OperatorScope("keys:admin")


def operator_actor(request: Request) -> str:
    """Who the audit trail names for a back-office change: the operator credential that made it, by name."""
    credential = getattr(request.state, "credential", None)
    return f"operator:{credential.name}" if credential is not None else "operator"


# ------------------------------------------------------------------------------- back office (operator)
@router.post("/v1/users/{user_id}/keys", status_code=201, dependencies=[KeysAdmin])
def create_key(user_id: str, body: KeyCreate, session: SessionDep, request: Request) -> KeyCreated:
    """Create a key for a user; the secret is in this response and nowhere else."""
    runtime = keys_runtime(request.app)
    try:
        issued = lifecycle.create_key(
            session,
            runtime.vault,
            user_id=user_id,
            label=body.label,
            permissions=body.perms,
            ips=body.ips,
            passphrase=body.passphrase,
            totp_code=body.totp_code,
            second_factor=runtime.second_factor,
            now=runtime.clock(),
            actor=operator_actor(request),
        )
    except SecondFactorRejected as exc:
        session.commit()  # keep the TOTP failure count: repeated wrong codes lock the user's 2FA
        raise HTTPException(status_code=403, detail=str(exc)) from None
    session.commit()
    return KeyCreated.of(issued)


@router.get("/v1/users/{user_id}/keys", dependencies=[KeysAdmin])
def list_user_keys(user_id: str, session: SessionDep) -> list[KeyOut]:
    return [KeyOut.of(k) for k in lifecycle.list_keys(session, user_id)]


@router.put("/v1/users/{user_id}/keys/{key_id}/ips", dependencies=[KeysAdmin])
def update_key_ips(user_id: str, key_id: str, body: IpsUpdate, session: SessionDep, request: Request) -> KeyOut:
    # The back office changed it, not the user: the audit names the operator credential.
    view = lifecycle.update_ips(
        session, user_id, key_id, body.ips, keys_runtime(request.app).clock(), actor=operator_actor(request)
    )
    session.commit()
    return KeyOut.of(view)


@router.delete("/v1/users/{user_id}/keys/{key_id}", status_code=204, dependencies=[KeysAdmin])
def revoke_key(user_id: str, key_id: str, session: SessionDep, request: Request) -> None:
    runtime = keys_runtime(request.app)
    lifecycle.revoke(session, runtime.vault, user_id, key_id, runtime.clock(), actor=operator_actor(request))
    session.commit()


@router.post("/v1/keys/sweep", dependencies=[KeysAdmin])
def sweep_keys(session: SessionDep, request: Request, dry_run: bool = False) -> SweepOut:
    runtime = keys_runtime(request.app)
    report = lifecycle.sweep(session, runtime.vault, runtime.clock(), dry_run=dry_run)
    session.commit()
    return SweepOut(dry_run=dry_run, at=report.at, count=report.count, keys=[KeyOut.of(k) for k in report.keys])


@router.get("/v1/keys/metrics", dependencies=[KeysAdmin])
def key_metrics(session: SessionDep, start: Timestamp, end: Timestamp, request: Request) -> dict[str, Any]:
    keys_runtime(request.app).authenticator.flush()  # this process's queued refusals count too
    m = metrics.monthly(session, _aware(start), _aware(end))
    return {**asdict(m), "created": m.created, "rejections_by_reason": m.rejections_by_reason}


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------------------------- Fast API
@router.post("/v1/fast-api/apps", status_code=201, dependencies=[KeysAdmin])
def register_app(body: AppCreate, session: SessionDep, request: Request) -> AppOut:
    """Register a third-party app and the IPs of its servers; the client secret is shown once."""
    app = fast_api.register_app(
        session,
        name=body.name,
        redirect_uri=body.redirect_uri,
        ips=body.ips,
        max_permission=body.max_permission,
        now=keys_runtime(request.app).clock(),
    )
    session.commit()
    return AppOut(**{**asdict(app), "ips": app.ips.split(",")})


@router.get("/v1/fast-api/apps", dependencies=[KeysAdmin])
def list_apps(session: SessionDep) -> list[AppOut]:
    return [AppOut(**{**asdict(a), "ips": a.ips.split(",")}) for a in fast_api.list_apps(session)]


@router.post("/v1/fast-api/authorize", response_model=None)
def authorize(
    body: AuthorizeIn, user: SessionUser, session: SessionDep, request: Request
) -> AuthorizeOut | JSONResponse:
    """The user consented at the exchange (their session, never an API key): issue the one-time code and
    where to send the user with it."""
    try:
        grant = fast_api.authorize(
            session,
            user_id=user.uid,
            client_id=body.client_id,
            scope=body.scope,
            permissions=body.perms,
            redirect_uri=body.redirect_uri,
            state=body.state,
            now=keys_runtime(request.app).clock(),
        )
    except FastApiDenied as exc:
        return _oauth_error(exc)
    session.commit()
    return AuthorizeOut(code=grant.code, redirect_to=grant.redirect_to, expires_at=grant.expires_at)


@router.post("/v1/fast-api/token", response_model=None, dependencies=[Public])
def token(body: TokenIn, session: SessionDep, request: Request) -> TokenOut | JSONResponse:
    """The app's server redeems the code (once, from a registered IP) for a key bound to its IPs."""
    runtime = keys_runtime(request.app)
    try:
        issued = fast_api.exchange_code(
            session,
            runtime.vault,
            client_id=body.client_id,
            client_secret=body.client_secret,
            code=body.code,
            redirect_uri=body.redirect_uri,
            client_ip=client_ip(request, runtime.trusted_proxies),
            now=runtime.clock(),
        )
    except FastApiDenied as exc:
        session.rollback()
        return _oauth_error(exc)
    if account_freeze.is_frozen(session, issued.user_id):
        # A code granted before the freeze must not mint a key after it (the key would be refused anyway).
        session.rollback()
        return _oauth_error(FastApiDenied("access_denied", "the user's account is frozen"))
    session.commit()
    assert issued.passphrase is not None
    return TokenOut(
        api_key=issued.key_id,
        secret_key=issued.secret,
        passphrase=issued.passphrase,
        perms=sorted(p.value for p in issued.permissions),
        ips=issued.ips.split(","),
    )


def _oauth_error(exc: FastApiDenied) -> JSONResponse:
    status = 401 if exc.error == "invalid_client" else 400
    return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=status)


# ------------------------------------------------------------------------------ signed (OKX v5) routes
ReadKey = Annotated[Caller, UserKey(Permission.READ)]


@router.get("/v1/keys")
def my_keys(caller: ReadKey, session: SessionDep) -> dict[str, Any]:
    """The calling user's live keys: permissions, IPs and last use (never secrets)."""
    return okx_ok(
        [
            {
                "apiKey": k.key_id,
                "label": k.label,
                "perm": okx_permissions_text(k.permissions),
                "ip": k.ips,
                "source": k.source,
                "appId": k.app_id or "",
                "ts": _ms(k.created_at),
                "lastUsedTs": _ms(k.last_used_at),
            }
            for k in lifecycle.list_keys(session, caller.user_id)
        ]
    )


_READ_KEY = UserKey(Permission.READ)


def _account_config(caller: Caller) -> dict[str, Any]:
    return okx_ok(
        [
            {
                "uid": caller.user_id,
                "mainUid": caller.user_id,
                "label": caller.label,
                "ip": caller.ips,
                "perm": okx_permissions_text(caller.permissions),
            }
        ]
    )


async def account_config_asgi(app: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
    """`GET /api/v5/account/config` in plain ASGI (`service/asgi_route.py`): the route every OKX client calls
    first, and the one issue 19 measures. FastAPI's route matching over every route and its dependency
    resolution cost several times the authentication itself; here the declared dependency (`UserKey(READ)`,
    the same OKX-v5 check) runs directly, and its refusals go through the app's handler (OKX's body)."""
    try:
        caller = await run_dependency(app, _READ_KEY, scope, receive)
    except Exception as exc:
        await send_error(app, exc, scope, receive, send)
        return
    await JSONResponse(_account_config(caller))(scope, receive, send)


@served_by(account_config_asgi)
async def account_config(caller: ReadKey) -> dict[str, Any]:
    """OKX's account configuration, limited to what Bastion knows: the user and the calling key."""
    # Never called: the route is an AsgiRoute, answered by `account_config_asgi`; FastAPI documents this.
    raise AssertionError("GET /api/v5/account/config is served by routers.keys.account_config_asgi")


router.add_api_route("/api/v5/account/config", account_config, methods=["GET"], route_class_override=AsgiRoute)
