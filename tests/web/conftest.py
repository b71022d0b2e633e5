"""Fixtures for the public proof-of-reserves page: real round directories, the real app under uvicorn,
and one headless Chromium (Debian's, driven by Playwright) for the whole session.

Chromium comes from scripts/ensure-chromium.sh (scripts/test.sh runs it). Without it the browser tests skip,
except in CI, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_round import WebRound, make_round, serve

from bastion.report import pdf


def _chromium() -> str:
    try:
        return pdf.chromium_path()
    except pdf.PdfRendererMissing:
        return "/usr/bin/chromium"  # named in the skip message below


# the same browser and flags the PDF report prints with
CHROMIUM = _chromium()
CHROMIUM_ARGS = pdf.CHROMIUM_ARGS
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def web_round(tmp_path_factory: pytest.TempPathFactory) -> WebRound:
    """A round with 24 users, 5 padding leaves and a verified reserves.json (every asset at 105%)."""
    return make_round(tmp_path_factory.mktemp("web") / "round", seed=7)


@pytest.fixture(scope="session")
def other_round(tmp_path_factory: pytest.TempPathFactory) -> WebRound:
    """Another round under the same id (other users, other root): its proofs are valid, but not for web_round."""
    return make_round(tmp_path_factory.mktemp("web") / "other", seed=8, users=6, with_reserves=False)


@pytest.fixture(scope="session")
def bare_round(tmp_path_factory: pytest.TempPathFactory) -> WebRound:
    """A round with liabilities only: no reserves.json yet."""
    return make_round(tmp_path_factory.mktemp("web") / "bare", seed=9, users=5, with_reserves=False)


@pytest.fixture(scope="session")
def por_server(web_round: WebRound, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("srv"), web_round.path) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def bare_server(bare_round: WebRound, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("srv-bare"), bare_round.path) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        msg = f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Recorded:
    """Every request the page made, and every response, for the 'nothing uploaded' checks."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.console: list[str] = []


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    pg.recorded = Recorded()
    pg.on("request", lambda r: pg.recorded.requests.append(r))
    pg.on("console", lambda m: pg.recorded.console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: pg.recorded.console.append(f"pageerror: {e}"))
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
