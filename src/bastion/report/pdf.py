"""HTML to PDF with headless Chromium, run as a plain subprocess (`--print-to-pdf`): the PDF is exactly the
page, A4, page numbers from the page's own CSS (`@page { @bottom-center {...} }`, Chromium 131 and later).

The browser is `BASTION_CHROMIUM` when set, else the first of chromium, chromium-browser, google-chrome,
google-chrome-stable, chrome found on PATH. `scripts/ensure-chromium.sh` installs Debian's chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_SECONDS = 120.0


class PdfRendererMissing(RuntimeError):
    """No Chromium to print with (or it failed): the message says what to do."""


def chromium_path() -> str:
    """The Chromium to print with: BASTION_CHROMIUM, else the first browser of NAMES on PATH."""
    configured = os.environ.get("BASTION_CHROMIUM")
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise PdfRendererMissing(f"BASTION_CHROMIUM={configured}: not an executable")
        return found
    for name in NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise PdfRendererMissing(
        f"no Chromium on PATH ({', '.join(NAMES)}): install one (`bash scripts/ensure-chromium.sh`), set "
        "BASTION_CHROMIUM to its path, or pass --no-pdf"
    )


def html_to_pdf(html_file: Path, pdf_file: Path, *, chromium: str | None = None) -> None:
    """Print `html_file` (a standalone page) to `pdf_file`: A4, backgrounds, margins and footer from its @page."""
    exe = chromium or chromium_path()
    tmp = pdf_file.with_name(pdf_file.name + ".tmp")
    tmp.unlink(missing_ok=True)
    # A profile of its own: printing must not depend on (or disturb) a browser the user has open.
    with tempfile.TemporaryDirectory(prefix="bastion-chromium-") as profile:
        cmd = [
            exe,
            *CHROMIUM_ARGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw",
            f"--print-to-pdf={tmp}",
            html_file.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise PdfRendererMissing(f"{exe} did not print {html_file} within {TIMEOUT_SECONDS:.0f} s") from None
        except OSError as exc:
            raise PdfRendererMissing(f"{exe} could not be started: {exc}") from None
    if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        last = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise PdfRendererMissing(f"{exe} failed to print {html_file} (exit {done.returncode}): {last[0]}")
    tmp.replace(pdf_file)
