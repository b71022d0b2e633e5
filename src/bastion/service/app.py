"""`create_app(settings)`: the FastAPI application every `bastion serve` worker and every test runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from bastion import __version__
from bastion.db.session import make_engine, make_sessionmaker
from bastion.errors import ConflictError, InvalidInputError, NotFoundError, TooLargeError
from bastion.keys.errors import AuthRejected
from bastion.service.access import AccessDenied, Public, access_gate
from bastion.service.asgi_route import AsgiHandler, asgi_routes
from bastion.service.boundary import Boundary, field_error
from bastion.service.deps import InProcessOverrides, start_risk
from bastion.service.routers import all_routers
from bastion.service.wiring import wire
from bastion.settings import Settings

log = logging.getLogger(__name__)


def _problem(
    status: int, error: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message}
    if details is not None:
        body["detail"] = details
    return JSONResponse(status_code=status, content=body)


class BastionApp(FastAPI):
    """FastAPI, with plain ASGI routes matched (method and path) before it: the hot routes, declared to FastAPI
    as `AsgiRoute`s (documented, classified) and answered only by their handler (`service/asgi_route.py`)."""

    fast_routes: dict[tuple[str, str], AsgiHandler]
    # The request boundary (body cap, JSON shape, control characters) in front of everything, fast routes too.
    boundary: Boundary | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.boundary is not None:
            await self.boundary(scope, receive, send)
            return
        await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.fast_routes:
            route = self.fast_routes.get((scope["method"], scope["path"]))
            if route is not None:
                await route(self, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, fast_routes: bool = True, overrides: InProcessOverrides | None = None
) -> FastAPI:
    """The service; `fast_routes=False` lets FastAPI's routing find the hot routes' handlers (the same ones: it
    measures what the framework costs); `overrides` (tests, the month simulator) replace clocks in this process
    only (see `InProcessOverrides`)."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        start_risk(_app)  # the withdrawal hot path: built once per process, handed to routes by deps.py
        yield
        # Domains register coroutines to run before the engine goes (e.g. flushing batched writes). Each runs
        # whatever the one before it did: a flush that fails must not cost another domain its final write.
        try:
            for hook in list(_app.state.shutdown_hooks):
                try:
                    await hook()
                except Exception:
                    log.exception("shutdown: %s failed; the other hooks still run", getattr(hook, "__qualname__", hook))
        finally:
            engine.dispose()

    app = BastionApp(
        title="Bastion",
        version=__version__,
        description="Withdrawal risk, account protections, API keys and funds for a centralized exchange.",
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load their scripts from a CDN; ours are served by the service itself.
        docs_url=None,
        redoc_url=None,
    )
    _offline_docs(app)
    app.state.settings = settings
    app.state.shutdown_hooks = []
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    (overrides or InProcessOverrides()).install(app)
    wire(app)  # what routes share for the app's life (service/wiring.py), read through service/deps.py
    gate = access_gate(app)

    async def _flush_audit() -> None:
        await run_in_threadpool(gate.flush)

    app.state.shutdown_hooks.append(_flush_audit)

    _exception_handlers(app)

    @app.get("/healthz", tags=["service"], dependencies=[Public])
    def health() -> dict[str, str]:
        """Liveness plus a round trip to the database."""
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": engine.dialect.name}

    for router in all_routers():
        app.include_router(router)
    from bastion.service.routers.travel_rule import gate_of

    # Other domains' reasons to hold a withdrawal, consulted by the risk hot path (`HotPath.hold_checks`).
    app.state.withdrawal_hold_checks = [gate_of(app)]
    app.fast_routes = {}
    from bastion.service.routers.diligence import uploads as diligence_uploads

    app.boundary = Boundary(
        app._dispatch,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        uploads=(diligence_uploads(settings),),
    )
    if fast_routes:
        app.fast_routes = asgi_routes(app)  # each answered by its one ASGI handler, before FastAPI's routing
    return app


def _exception_handlers(app: FastAPI) -> None:
    """Every refusal answered as one problem shape (`_problem`), except an API key's, answered as OKX does."""

    @app.exception_handler(AccessDenied)
    async def _denied(_req: Request, exc: AccessDenied) -> JSONResponse:
        response = _problem(exc.status, exc.error, exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(AuthRejected)
    async def _okx_rejected(_req: Request, exc: AuthRejected) -> JSONResponse:
        # A user route called with an API key: refused the way OKX refuses (python-okx and ccxt read it).
        return JSONResponse(exc.body(), status_code=exc.reason.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        details = [field_error(e.get("loc", ()), e.get("msg", ""), e.get("type", "")) for e in exc.errors()]
        first = details[0] if details else {"field": "body", "row": None, "message": "invalid"}
        where = f"row {first['row']}, " if first["row"] is not None else ""
        return _problem(422, "validation_error", f"{where}{first['field']}: {first['message']}", details)

    @app.exception_handler(TooLargeError)
    async def _too_large(_req: Request, exc: TooLargeError) -> JSONResponse:
        detail = {"field": exc.field, "row": exc.row, "message": exc.message, "type": "too_large"}
        return _problem(413, "payload_too_large", str(exc), [detail])

    @app.exception_handler(InvalidInputError)
    async def _invalid(_req: Request, exc: InvalidInputError) -> JSONResponse:
        detail = {"field": exc.field, "row": exc.row, "message": exc.message, "type": "value_error"}
        return _problem(422, "validation_error", str(exc), [detail])

    @app.exception_handler(NotFoundError)
    async def _not_found(_req: Request, exc: NotFoundError) -> JSONResponse:
        return _problem(404, "not_found", str(exc))

    @app.exception_handler(ConflictError)
    async def _conflict(_req: Request, exc: ConflictError) -> JSONResponse:
        return _problem(409, "conflict", str(exc))


DOCS_ASSETS = "/docs/assets"


def _offline_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` with every script, style sheet and icon served from this process
    (the fastapi-offline package's copies), so they work on a machine with no network, and no third party
    learns who reads the API docs."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    from bastion.service.access import Public

    # The pages may load nothing from elsewhere; ReDoc's bundle would otherwise fetch its logo from a CDN.
    csp = {
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
    }
    assets = files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False, dependencies=[Public])
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=oauth2_redirect,
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
        )
        page.headers.update(csp)
        return page

    @app.get(oauth2_redirect, include_in_schema=False, dependencies=[Public])
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False, dependencies=[Public])
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(csp)
        return page


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory` (each worker reads its settings from the environment)."""
    return create_app(Settings())
