"""The account security page, `/account/` (docs/web.md, "The account security page"): static HTML, CSS
and a JavaScript module shipped in the package, no build step, no CDN. The files hold no data: the page
fetches the user's checklist, devices and allowlist from the `/v1/account/*` user routes with the session
the user brings, so the page itself is public, as /por/ and /funds/ are."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from bastion.service.access import Public

router = APIRouter(tags=["account page"], dependencies=[Public])

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "account"
_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# Only its own scripts and styles, connections only to this service; never framed (a freeze button in a
# frame is an invitation to clickjacking).
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/account", include_in_schema=False)
def account_redirect() -> RedirectResponse:
    return RedirectResponse("/account/", status_code=308)


@router.get("/account/", include_in_schema=False)
def account_page() -> FileResponse:
    """The user's security center: checklist, devices (remove), allowlist, freeze."""
    return FileResponse(STATIC_DIR / "index.html", media_type=_MEDIA[".html"], headers=_HEADERS)


@router.get("/account/static/{name}", include_in_schema=False)
def account_static(name: str) -> FileResponse:
    files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in _MEDIA}
    path = files.get(name)
    if path is None:
        raise HTTPException(404, "not found")
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_HEADERS)
