"""The static pages the service ships (`/por/`, `/funds/`, `/account/`): HTML, CSS and JavaScript modules in
`bastion/service/static/<folder>/`, no build step, no CDN. One place decides what such a page may load and
which of its files are served, so the three pages cannot drift apart in their security headers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC_ROOT = Path(__file__).resolve().parent / "static"
MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# A page runs only its own scripts and styles and talks only to this service.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class StaticPages:
    """One folder of `static/`: its pages by file name, and its scripts and styles by exact name only."""

    def __init__(self, folder: str, extra_headers: dict[str, str] | None = None) -> None:
        self.dir = STATIC_ROOT / folder
        self.headers = {**PAGE_HEADERS, **(extra_headers or {})}

    def files(self) -> dict[str, Path]:
        return {p.name: p for p in self.dir.iterdir() if p.is_file() and p.suffix in MEDIA}

    def page(self, name: str = "index.html") -> FileResponse:
        return FileResponse(self.dir / name, media_type=MEDIA[".html"], headers=self.headers)

    def file(self, name: str) -> FileResponse:
        """A file of the folder by its exact name (never a path), or 404."""
        path = self.files().get(name)
        if path is None:
            raise HTTPException(404, "not found")
        return FileResponse(path, media_type=MEDIA[path.suffix], headers=self.headers)

    def add_routes(
        self,
        router: APIRouter,
        prefix: str,
        *,
        redirect_status: int,
        about: str | None = None,
        dependencies: Sequence[Any] = (),
    ) -> None:
        """The folder's three routes on `router`, out of the API schema: `prefix` redirects to `prefix/`, which
        serves index.html (`about`: its line in docs/security.md), and `prefix/static/{name}` serves its files."""
        label = prefix.strip("/")

        def redirect() -> RedirectResponse:
            return RedirectResponse(f"{prefix}/", status_code=redirect_status)

        def page() -> FileResponse:
            return self.page()

        def static(name: str) -> FileResponse:
            return self.file(name)

        common: dict[str, Any] = {"methods": ["GET"], "include_in_schema": False, "dependencies": list(dependencies)}
        router.add_api_route(prefix, redirect, name=f"{label}_redirect", **common)
        router.add_api_route(f"{prefix}/", page, name=f"{label}_page", description=about, **common)
        router.add_api_route(f"{prefix}/static/{{name}}", static, name=f"{label}_static", **common)
