"""The monthly security report: figures from Bastion's own data, written as HTML and PDF, signed.

    from bastion.report import write_monthly
    paths = write_monthly(sessions, "2026-10", Path("report-out"), rounds_dir=Path("rounds"),
                          public_url="https://exchange.example", signing_key=Path("report.key"))

`figures.gather` computes every figure (database through each domain's `monthly()`, the proof-of-reserves
round and its history), `html.render` lays the page out (Jinja2 template, inline SVG charts),
`pdf.html_to_pdf` prints it with headless Chromium, `signature.sign_file` writes a detached Ed25519
signature beside the PDF and report.json. `report.json` holds the same figures for machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bastion.report.figures import MonthlyReport, ReportInputError, figures_json, gather

__all__ = ["MonthlyReport", "ReportInputError", "ReportPaths", "write_monthly"]


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    pdf: Path | None
    json: Path
    report: MonthlyReport
    signatures: list[Path] = field(default_factory=list)


def write_monthly(
    sessions: sessionmaker[Session],
    month: str,
    out_dir: Path,
    *,
    round_dir: Path | None = None,
    reserves: Path | None = None,
    pdf: bool = True,
    now: datetime | None = None,
    rounds_dir: Path | None = None,
    previous_round: Path | None = None,
    public_url: str | None = None,
    signing_key: Path | None = None,
) -> ReportPaths:
    """Write out_dir/report.html, report.json and (unless pdf=False) report.pdf for `month` (YYYY-MM); with a
    signing key, report.pdf.sig (or report.html.sig without a PDF) and report.json.sig."""
    from bastion.report import html
    from bastion.report.pdf import html_to_pdf
    from bastion.report.signature import load_private_key, public_key_hex, sign_file

    key = load_private_key(signing_key) if signing_key is not None else None
    report = gather(sessions, month, round_dir, reserves, now, rounds_dir=rounds_dir, previous_round=previous_round,
                    public_url=public_url, signer_public_key=public_key_hex(key) if key else None)  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "report.html"
    html_path.write_text(html.render(report), encoding="utf-8")
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(figures_json(report), indent=2) + "\n", encoding="utf-8")
    pdf_path = None
    if pdf:
        pdf_path = out_dir / "report.pdf"
        html_to_pdf(html_path, pdf_path)
    signatures = []
    if key is not None:
        signatures = [sign_file(pdf_path or html_path, key), sign_file(json_path, key)]
    return ReportPaths(html_path, pdf_path, json_path, report, signatures)
