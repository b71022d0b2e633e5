"""The account security page, `/account/` (docs/web.md, "The account security page"): static HTML, CSS
and a JavaScript module shipped in the package, no build step, no CDN. The files hold no data: the page
fetches the user's checklist, devices and allowlist from the `/v1/account/*` user routes with the session
the user brings, so the page itself is public, as /por/ and /funds/ are."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from bastion.service.access import Public
from bastion.service.static_pages import StaticPages

router = APIRouter(tags=["account page"], dependencies=[Public])

# Never framed either (a freeze button in a frame is an invitation to clickjacking), in old browsers too.
PAGES = StaticPages("account", {"X-Frame-Options": "DENY"})


@router.get("/account", include_in_schema=False)
def account_redirect() -> RedirectResponse:
    return RedirectResponse("/account/", status_code=308)


@router.get("/account/", include_in_schema=False)
def account_page() -> FileResponse:
    """The user's security center: checklist, devices (remove), allowlist, freeze."""
    return PAGES.page()


@router.get("/account/static/{name}", include_in_schema=False)
def account_static(name: str) -> FileResponse:
    return PAGES.file(name)
