"""`bastion report monthly`: the monthly security report from Bastion's own data, as HTML and PDF."""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.cli.common import database_url_option, open_database, parse_month

app = typer.Typer(help="The monthly security report.", no_args_is_help=True)


@app.command("monthly")
def monthly(
    month: str = typer.Option(..., "--month", help="The month to report, YYYY-MM (UTC)."),
    out: Path = typer.Option(Path("report-out"), "--out", help="Directory for report.html, report.pdf, report.json."),
    db: str = database_url_option(),
    round_dir: Path | None = typer.Option(
        None, "--round", help="Proof-of-reserves round directory (round.json) for the fund security section."
    ),
    reserves: Path | None = typer.Option(
        None, "--reserves", help="reserves.json (`bastion por reserves verify`) or its directory; default: --round."
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print report.pdf with headless Chromium."),
) -> None:
    """Compute every figure of the month's report (risk, API keys, fund, cooling-off, mistaken deposits, reserves)
    and write it as HTML and PDF."""
    import time

    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.report import ReportInputError, write_monthly
    from bastion.report.pdf import PdfRendererMissing

    parse_month(month)
    if reserves is not None and round_dir is None:
        raise typer.BadParameter("needs --round", param_hint="--reserves")
    started = time.perf_counter()
    engine = make_engine(open_database(db))
    try:
        paths = write_monthly(make_sessionmaker(engine), month, out, round_dir=round_dir, reserves=reserves, pdf=pdf)
    except ReportInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except PdfRendererMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    r = paths.report
    first = " (first report: nothing in the previous month)" if r.previous is None else ""
    typer.echo(f"report for {month}{first} in {time.perf_counter() - started:.1f} s:")
    typer.echo(f"  {paths.html}")
    if paths.pdf is not None:
        typer.echo(f"  {paths.pdf}")
    typer.echo(f"  {paths.json}")
