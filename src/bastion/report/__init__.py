"""The monthly security report: figures from Bastion's own data, written as HTML and PDF.

    from bastion.report import write_monthly
    paths = write_monthly(sessions, "2026-10", Path("report-out"), round_dir=Path("round"))

`figures.gather` computes every figure (database through each domain's `monthly()`, the proof-of-reserves
round directory), `html.render` lays the page out with inline SVG charts, `pdf.html_to_pdf` prints it with
headless Chromium. `report.json` holds the same figures for machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


def write_monthly(
    sessions: sessionmaker[Session],
    month: str,
    out_dir: Path,
    *,
    round_dir: Path | None = None,
    reserves: Path | None = None,
    pdf: bool = True,
    now: datetime | None = None,
) -> ReportPaths:
    """Write out_dir/report.html, report.json and (unless pdf=False) report.pdf for `month` (YYYY-MM)."""
    from bastion.report import html
    from bastion.report.pdf import html_to_pdf

    report = gather(sessions, month, round_dir, reserves, now)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "report.html"
    html_path.write_text(html.render(report), encoding="utf-8")
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(figures_json(report), indent=2) + "\n", encoding="utf-8")
    pdf_path = None
    if pdf:
        pdf_path = out_dir / "report.pdf"
        html_to_pdf(html_path, pdf_path)
    return ReportPaths(html_path, pdf_path, json_path, report)
