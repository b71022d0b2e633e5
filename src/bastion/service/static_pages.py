"""The static pages the service ships (`/por/`, `/funds/`, `/account/`): HTML, CSS and JavaScript modules in
`bastion/service/static/<folder>/`, no build step, no CDN. One place decides what such a page may load and
which of its files are served, so the three pages cannot drift apart in their security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
from fastapi.responses import FileResponse

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
