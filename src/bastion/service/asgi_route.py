"""Routes served by a plain ASGI handler, declared to FastAPI like any other route.

A hot route (`POST /v1/withdrawals/evaluate`) pays, through FastAPI, as much event-loop time for the framework
(middleware stack, route matching over every route, the `Request` object, dependency resolution, the route
wrapper) as for its own work. Such a route is declared with `AsgiRoute`: FastAPI sees an ordinary route, so it
is in the OpenAPI document, its access rule (`service/access.py`) is read from its dependencies like any
other's, and another method on its path is FastAPI's 405; but the only code that answers it is its ASGI
handler, which `create_app` calls before FastAPI's routing (`asgi_routes`), and which FastAPI's router calls
too if a request reaches it. One front door: the handler does what the declared dependencies say (it runs
them itself, see `run_dependency`), and its errors go through the app's exception handlers (`send_error`),
so a 401, 403, 409 or 422 has the body and headers every other route gives.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

# The handler of an `AsgiRoute`: the app, then the ASGI call.
AsgiHandler = Callable[[FastAPI, Scope, Receive, Send], Awaitable[None]]
_HANDLER = "__bastion_asgi__"


def served_by(handler: AsgiHandler) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark the endpoint FastAPI documents (its name, docstring and return type make the OpenAPI operation)
    as answered by `handler`; declare it with `route_class_override=AsgiRoute`."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        setattr(endpoint, _HANDLER, handler)
        return endpoint

    return mark


class AsgiRoute(APIRoute):
    """An APIRoute whose requests go to the plain ASGI handler its endpoint names (`served_by`), also when
    FastAPI's router is the one that matched it."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        handler: AsgiHandler | None = getattr(endpoint, _HANDLER, None)
        if handler is None:
            raise TypeError(f"{path}: an AsgiRoute's endpoint must name its handler (@served_by)")
        self.handler = handler

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in (self.methods or ()):
            await self.handler(scope["app"], scope, receive, send)
            return
        await super().handle(scope, receive, send)  # another method: FastAPI's 405


def asgi_routes(app: FastAPI) -> dict[tuple[str, str], AsgiHandler]:
    """(method, path) -> handler of every `AsgiRoute` of the app, for `BastionApp` to call before FastAPI."""
    contexts: Iterable[Any] = (
        routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    )
    out: dict[tuple[str, str], AsgiHandler] = {}
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if isinstance(route, AsgiRoute):
            for method in sorted(route.methods or ()):
                out[(method, getattr(ctx, "path", None) or route.path)] = route.handler
    return out


async def run_dependency(app: FastAPI, dependency: Any, scope: Scope, receive: Receive) -> Any:
    """Run a route's declared dependency (a `Depends(...)` marker whose callable takes the request), as FastAPI
    would before the endpoint; what it raises goes to `send_error`."""
    scope.setdefault("app", app)  # what FastAPI sets first; a handler called before it has none yet
    result = dependency.dependency(Request(scope, receive))
    return await result if inspect.isawaitable(result) else result


async def send_error(app: FastAPI, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer `exc` with the app's exception handler for it, as FastAPI would for a route; an exception no
    handler takes is raised (the server answers 500)."""
    handler = None
    for cls in type(exc).__mro__:
        if cls is not Exception and cls in app.exception_handlers:
            handler = app.exception_handlers[cls]
            break
    if handler is None:
        raise exc
    scope.setdefault("app", app)
    response = handler(Request(scope, receive), exc)
    if inspect.isawaitable(response):
        response = await response
    await response(scope, receive, send)
