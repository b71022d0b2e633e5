"""The account security page, `/account/` (docs/web.md, "The account security page"): static HTML, CSS
and a JavaScript module shipped in the package, no build step, no CDN. The files hold no data: the page
fetches the user's checklist, devices and allowlist from the `/v1/account/*` user routes with the session
the user brings, so the page itself is public, as /por/ and /funds/ are."""

from __future__ import annotations

from fastapi import APIRouter

from bastion.service.access import Public
from bastion.service.static_pages import StaticPages

router = APIRouter(tags=["account page"], dependencies=[Public])

# Never framed either (a freeze button in a frame is an invitation to clickjacking), in old browsers too.
PAGES = StaticPages("account", {"X-Frame-Options": "DENY"})
PAGES.add_routes(
    router,
    "/account",
    redirect_status=308,
    about="The user's security center: checklist, devices (remove), allowlist, freeze.",
)
