"""OKX-v5-signed authentication for the service's private routes; any router can use it.

    router = okx_router(prefix="/v1/orders", tags=["orders"])

    @router.post("/precheck")
    def precheck(caller: Annotated[Caller, Depends(require_key(Permission.TRADE))]) -> dict[str, object]: ...

`okx_router` makes an APIRouter whose routes answer a refused request exactly as OKX does (HTTP 401 or 429,
body {"code": "50113", "msg": "Invalid Sign.", "data": []}), which is what python-okx and ccxt expect.
The checks themselves live in `bastion.keys.auth`; this module only adapts them to HTTP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from starlette.concurrency import run_in_threadpool

from bastion.keys import policy
from bastion.keys.auth import Caller, SignedRequest
from bastion.keys.errors import AuthRejected
from bastion.keys.policy import Permission
from bastion.service.deps import keys_runtime
from bastion.service.wiring import KeysRuntime

__all__ = ["Caller", "KeysRuntime", "OkxRoute", "Permission", "keys_runtime", "okx_router", "require_key"]


def client_ip(request: Request, trusted_proxies: list[policy.IpNetwork]) -> str:
    """The peer address; behind a trusted reverse proxy, the nearest untrusted hop of X-Forwarded-For.

    X-Forwarded-For from anyone else is ignored: otherwise any client could claim an allowlisted address.
    """
    peer = request.client.host if request.client else ""
    if not trusted_proxies or not policy.ip_allowed(trusted_proxies, peer):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return hop  # garbage from the far side: matches no allowlist
        if not policy.ip_allowed(trusted_proxies, hop):
            return hop
    return peer


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


def require_key(need: Permission) -> Callable[[Request], Coroutine[Any, Any, Caller]]:
    """A dependency that authenticates the request's OKX signature and demands `need` on the key."""

    async def dependency(request: Request) -> Caller:
        runtime = keys_runtime(request.app)
        signed = SignedRequest(
            method=request.method,
            path=_raw_path(request),
            query=request.scope.get("query_string", b"").decode("latin-1"),
            body=await request.body(),
            headers=request.headers,
            client_ip=client_ip(request, runtime.trusted_proxies),
        )
        matched = request.scope.get("route")  # FastAPI's route (its path template); a plain ASGI route has none
        route = matched.path if matched is not None else request.scope["path"]
        now = runtime.clock()
        # A key in this process's cache, with the limits in memory, is checked right here (no I/O, tens of
        # microseconds); anything that needs the database, Redis or argon2 runs off the event loop.
        caller = runtime.authenticator.authenticate_now(signed, route=route, need=need, now=now)
        if caller is not None:
            return caller
        return await run_in_threadpool(runtime.authenticator.authenticate, signed, route=route, need=need, now=now)

    return dependency


class OkxRoute(APIRoute):
    """Answers AuthRejected (raised by `require_key`) the way OKX does."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def okx_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except AuthRejected as rejected:
                return JSONResponse(rejected.body(), status_code=rejected.reason.http_status)

        return okx_handler


def okx_router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=OkxRoute, **kwargs)


def okx_ok(data: list[Any]) -> dict[str, Any]:
    """OKX's success envelope."""
    return {"code": "0", "msg": "", "data": data}
