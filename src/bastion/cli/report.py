"""`bastion report monthly | keygen | verify`: the monthly security report from Bastion's own data, as HTML and
PDF, signed with the exchange's Ed25519 key; and the one command a reader checks a copy with."""

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
    rounds_dir: Path | None = typer.Option(
        None,
        "--rounds",
        help="Directory of published rounds (as `bastion serve --rounds`): numbers the round and compares it with "
        "the one before; without --round, the round of the month is picked from it.",
    ),
    previous_round: Path | None = typer.Option(
        None, "--previous-round", help="Compare the round with this earlier round directory (default: from --rounds)."
    ),
    reserves: Path | None = typer.Option(
        None, "--reserves", help="reserves.json (`bastion por reserves verify`) or its directory; default: --round."
    ),
    public_url: str = typer.Option(
        "",
        "--public-url",
        envvar="BASTION_PUBLIC_URL",
        help="Where the exchange serves its rounds (`bastion serve`), e.g. https://exchange.example: the report's "
        "'how to verify' commands download from there.",
    ),
    signing_key: Path | None = typer.Option(
        None,
        "--signing-key",
        envvar="BASTION_REPORT_SIGNING_KEY",
        help="Ed25519 private key (`bastion report keygen`): writes report.pdf.sig and report.json.sig.",
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print report.pdf with headless Chromium."),
) -> None:
    """Compute every figure of the month's report (reserves, risk, API keys, fund, cooling-off, mistaken deposits)
    and write it as HTML and PDF."""
    import time

    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.report import ReportInputError, write_monthly
    from bastion.report.pdf import PdfRendererMissing
    from bastion.report.signature import SignatureInputError

    parse_month(month)
    if reserves is not None and round_dir is None:
        raise typer.BadParameter("needs --round", param_hint="--reserves")
    if public_url and not public_url.startswith(("https://", "http://")):
        raise typer.BadParameter(f"{public_url!r}: expected an http(s):// URL", param_hint="--public-url")
    started = time.perf_counter()
    engine = make_engine(open_database(db))
    try:
        paths = write_monthly(make_sessionmaker(engine), month, out, round_dir=round_dir, reserves=reserves, pdf=pdf,
                              rounds_dir=rounds_dir, previous_round=previous_round, public_url=public_url or None,
                              signing_key=signing_key)  # fmt: skip
    except (ReportInputError, PdfRendererMissing, SignatureInputError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    r = paths.report
    first = " (first report: nothing in the previous month)" if r.previous is None else ""
    typer.echo(f"report for {month}{first} in {time.perf_counter() - started:.1f} s:")
    for path in (paths.html, paths.pdf, paths.json, *paths.signatures):
        if path is not None:
            typer.echo(f"  {path}")


@app.command("keygen")
def keygen(
    out: Path = typer.Option(..., "--out", help="Where to write the new private key (PEM); never overwritten."),
) -> None:
    """Make the exchange's report-signing key (Ed25519). Prints the public key to publish; writes OUT.pub too."""
    from bastion.report.signature import generate_key, public_key_hex

    try:
        key = generate_key(out)
    except FileExistsError:
        typer.echo(f"error: {out} exists: refusing to overwrite a key", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    pub = public_key_hex(key)
    out.with_name(out.name + ".pub").write_text(pub + "\n", encoding="utf-8")
    typer.echo(pub)


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="The report you hold (report.pdf, report.json...)."),
    public_key: str = typer.Option(
        ..., "--public-key", help="The exchange's published key: 64 hex characters, or a file holding it."
    ),
    signature: Path | None = typer.Option(None, "--signature", help="The detached signature (default: FILE.sig)."),
) -> None:
    """Check that FILE is exactly the report the exchange signed. Exit 0 if so, 1 if not, 2 on unusable input."""
    from bastion.report.signature import SUFFIX, SignatureInputError, verify_file

    sig = signature or file.with_name(file.name + SUFFIX)
    try:
        verdict = verify_file(file, sig, public_key)
    except SignatureInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if verdict.ok:
        typer.echo(f"OK: {file} (SHA-256 {verdict.sha256}) is signed by {verdict.public_key}")
        return
    typer.echo(f"FAILED: {file}: {verdict.reason}")
    raise typer.Exit(1)
