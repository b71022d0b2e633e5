"""`/docs` and `/redoc` work with no network: every asset they load is served by the service itself.

Checked twice: the pages' HTML names no other host, and headless Chromium, with every request to anywhere
but the service refused, renders both (Swagger UI lists the routes; ReDoc shows the API's title).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion.report import pdf
from bastion.service.app import create_app
from bastion.service.testing import ServerThread


def _chromium() -> str:
    try:
        return pdf.chromium_path()  # BASTION_CHROMIUM, else the first Chromium on PATH
    except pdf.PdfRendererMissing:
        return "/usr/bin/chromium"  # named in the skip message below


CHROMIUM = _chromium()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def docs_server(settings: Any) -> Iterator[str]:
    with ServerThread(create_app(settings)) as base:
        yield base


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_docs_pages_name_no_other_host(docs_server: str) -> None:
    with httpx.Client(base_url=docs_server, timeout=10) as http:
        for page in ("/docs", "/redoc"):
            r = http.get(page)
            assert r.status_code == 200 and "text/html" in r.headers["content-type"]
            urls = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]|url:\s*['"]([^'"]+)['"]""", r.text)
            hosts = {u for pair in urls for u in pair if u and "://" in u}
            assert hosts == set(), (page, hosts)
            assert "/docs/assets/" in r.text
            # and the browser is told to load nothing from elsewhere (ReDoc's bundle names a CDN logo)
            assert "default-src 'self'" in r.headers["content-security-policy"]
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
            r = http.get(f"/docs/assets/{asset}")
            assert r.status_code == 200 and len(r.content) > 1000, asset


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_docs_render_offline_in_chromium(docs_server: str) -> None:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    refused: list[str] = []
    blocked: list[str] = []

    def only_the_service(route: Any) -> None:
        url = route.request.url
        if url.startswith(docs_server):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=pdf.CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_service)
            page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{docs_server}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "Bastion" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector(".opblock", timeout=30_000)
            assert page.locator(".opblock").count() > 20  # the routes are listed
            page.goto(f"{docs_server}/redoc")
            page.wait_for_selector("h1", timeout=30_000)
            assert "Bastion" in page.inner_text("h1")
        finally:
            browser.close()
    assert refused == [], refused
    # what the policy stopped was only ever the third-party logo, never one of the pages' own assets
    assert all("cdn.redoc.ly" in b for b in blocked), blocked
