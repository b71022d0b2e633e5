"""HTML to PDF with headless Chromium (Debian's `chromium`, driven by Playwright): the PDF is exactly the page.

`scripts/ensure-chromium.sh` installs the browser; Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class PdfRendererMissing(RuntimeError):
    """No Chromium to print with: run scripts/ensure-chromium.sh."""


def chromium_path() -> str:
    path = os.environ.get("BASTION_CHROMIUM", CHROMIUM)
    if not Path(path).is_file():
        raise PdfRendererMissing(f"{path} not found: run `bash scripts/ensure-chromium.sh` (Debian's chromium)")
    return path


def html_to_pdf(html_file: Path, pdf_file: Path) -> None:
    """Print `html_file` (a standalone page) to `pdf_file`, A4, with backgrounds, margins from its @page rule."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    tmp = pdf_file.with_name(pdf_file.name + ".tmp")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(html_file.resolve().as_uri(), wait_until="load")
            page.emulate_media(media="print")
            page.pdf(
                path=str(tmp),
                format="A4",
                print_background=True,
                prefer_css_page_size=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=(
                    "<div style='font-size:8px;width:100%;text-align:center;color:#666'>"
                    "<span class='title'></span> - page <span class='pageNumber'></span> of "
                    "<span class='totalPages'></span></div>"
                ),
            )
        finally:
            browser.close()
    tmp.replace(pdf_file)
