"""`bastion notify ...`: run the alert dispatcher, see the outbox, re-queue failed alerts.

`bastion notify dispatch` delivers what is due once and exits (cron, a systemd timer); `--loop` keeps going
every `--interval` seconds. Several may run at once, on one or many machines: each claims its own rows.
Channels come from BASTION_SMTP_URL / BASTION_ALERT_WEBHOOK_URL (docs/alerts.md).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import typer

from bastion.cli.common import CliError, database_url_option, echo_listing, open_database, sessions_for

app = typer.Typer(
    help="Alerts: deliver the outbox (email, webhook), its status, re-queue failures.", no_args_is_help=True
)

UrlOpt = database_url_option()


@app.command("dispatch")
def dispatch(
    database_url: str = UrlOpt,
    loop: bool = typer.Option(False, "--loop", help="Keep dispatching until interrupted."),
    interval: float = typer.Option(5.0, "--interval", min=0.1, help="Seconds between rounds with --loop."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Deliver every due alert now (retries wait for their backoff); with --loop, keep doing it."""
    from bastion.notify.dispatch import from_settings
    from bastion.settings import Settings

    url = open_database(database_url)
    settings = Settings(database_url=url)
    try:
        dispatcher = from_settings(settings.notify, sessions_for(url), settings.secret_key_bytes())
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not dispatcher.channels:
        raise CliError("no channel configured: set BASTION_SMTP_URL and/or BASTION_ALERT_WEBHOOK_URL")
    with dispatcher:
        while True:
            report = dispatcher.run_until_idle()
            counts = {k: getattr(report, k) for k in ("claimed", "delivered", "retried", "failed", "skipped")}
            if as_json:
                typer.echo(json.dumps(counts))
            else:
                typer.echo(" ".join(f"{k} {v}" for k, v in counts.items()))
            if not loop:
                return
            time.sleep(interval)


@app.command("status")
def status(
    database_url: str = UrlOpt, as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout.")
) -> None:
    """Rows of the outbox by channel and status (pending, delivered, failed, skipped)."""
    from bastion.notify.dispatch import status_counts

    url = open_database(database_url)
    with sessions_for(url)() as s:
        counts = status_counts(s)
    rows = [{"channel": c, "status": st, "rows": n} for (c, st), n in sorted(counts.items())]
    echo_listing(
        rows, as_json, lambda r: f"{r['channel']:<8} {r['status']:<10} {r['rows']:>8}", empty="the outbox is empty"
    )


@app.command("retry")
def retry(database_url: str = UrlOpt) -> None:
    """Put every `failed` alert back in line (after fixing what made them fail)."""
    from bastion.notify.dispatch import requeue_failed

    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        n = requeue_failed(s, datetime.now(UTC))
        s.commit()
    typer.echo(f"re-queued {n} alert(s)")
