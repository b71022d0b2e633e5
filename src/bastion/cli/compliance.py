"""`bastion compliance ...`: the due-diligence queue, opening a request, the triggers, and the retention purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import typer

from bastion.cli.common import CliError, database_url_option, open_database

app = typer.Typer(help="Compliance: due-diligence requests, triggers, data retention.", no_args_is_help=True)
rules_app = typer.Typer(help="Due-diligence triggers as versioned data.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

UrlOpt = database_url_option()
ByOpt = typer.Option(..., "--by", help="Who acts (written to the audit trail as cli:<name>).")


def _session(url: str, mode: Literal["read", "write"] = "read"):  # type: ignore[no-untyped-def]
    from bastion.db.session import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(open_database(url, mode=mode)))()


def _when(text: str | None, option: str) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} {text!r}: expected an ISO 8601 time, e.g. 2026-03-01T00:00:00Z") from None
    if at.tzinfo is None:
        raise CliError(f"{option} {text!r}: give a time zone, e.g. 2026-03-01T00:00:00Z")
    return at.astimezone(UTC)


def _actor(by: str) -> str:
    by = by.strip()
    if not by or len(by) > 64 or not by.isprintable():
        raise CliError("--by: 1 to 64 printable characters")
    return f"cli:{by}"


@app.command("purge")
def purge(
    by: str = ByOpt,
    retention_days: int = typer.Option(
        None, "--retention-days", min=1, max=36500, help="Default: BASTION_DILIGENCE_RETENTION_DAYS."
    ),
    now: str = typer.Option(None, "--now", help="Purge as of this time (ISO 8601; default: now)."),
    url: str = UrlOpt,
) -> None:
    """Delete the answers and documents of requests decided longer ago than the retention period (and old
    deposit records); the requests and their audit trail stay, the purge itself is audited."""
    from bastion.diligence import requests as dd
    from bastion.settings import Settings

    days = retention_days if retention_days is not None else Settings().diligence.retention_days
    at = _when(now, "--now")
    actor = _actor(by)
    with _session(url, "write") as s:
        out = dd.purge(s, at, days, actor)
        s.commit()
    typer.echo(
        f"purged before {out.before:%Y-%m-%d %H:%M}Z: {out.requests} requests, {out.answers} answers, "
        f"{out.documents} documents, {out.deposits} deposit records"
    )


@app.command("scan-risk")
def scan_risk(
    by: str = ByOpt,
    since: str = typer.Option(..., "--since", help="From this time (ISO 8601)."),
    until: str = typer.Option(None, "--until", help="To this time (ISO 8601; default: now)."),
    url: str = UrlOpt,
) -> None:
    """Open `risk_score` requests from the stored withdrawal decisions: every user whose score reached the
    active threshold in the window (idempotent: run it as often as you like)."""
    from bastion.diligence import requests as dd

    start, end = _when(since, "--since"), _when(until, "--until")
    if end <= start:
        raise CliError("--until: must be after --since")
    with _session(url, "write") as s:
        outs = dd.scan_risk_scores(s, start, end, _actor(by))
        s.commit()
    opened = sum(o.created for o in outs)
    typer.echo(f"{len(outs)} users at or over the risk-score threshold; {opened} requests opened")


@app.command("queue")
def queue(
    state: str = typer.Option(None, "--state", help="open, answered, approved, rejected or overdue."),
    limit: int = typer.Option(100, min=1, max=1000, help="At most this many requests, nearest deadline first."),
    url: str = UrlOpt,
) -> None:
    """The due-diligence queue, nearest deadline first."""
    from bastion.diligence import requests as dd

    states = ("open", "answered", "approved", "rejected", "overdue")
    if state is not None and state not in states:
        raise CliError(f"--state {state!r}: one of {', '.join(states)}")
    with _session(url) as s:
        rows = dd.queue(s, datetime.now(UTC), state, limit)  # type: ignore[arg-type]
    for r in rows:
        typer.echo(f"{r.id:6d} {r.state:<9} {r.user_id:<24} {r.reason:<13} due {r.due_at:%Y-%m-%d}  docs {r.documents}")


@app.command("request")
def request(
    user_id: str = typer.Argument(..., help="The user to ask."),
    by: str = ByOpt,
    note: str = typer.Option("", help="Why (kept in the request; not shown to the user)."),
    url: str = UrlOpt,
) -> None:
    """Open a due-diligence request for a user (reason `operator`); an undecided one is shown instead."""
    from pydantic import ValidationError

    from bastion.diligence import requests as dd

    try:
        body = dd.OperatorRequestIn(user_id=user_id, note=note or None)
    except ValidationError as exc:
        raise CliError(f"user_id: {exc.errors()[0]['msg']}") from None
    at = datetime.now(UTC)
    with _session(url, "write") as s:
        r, created = dd.open_request(s, body.user_id, "operator", {"note": body.note or ""}, _actor(by), at)
        s.commit()
        what = "opened" if created else "already open"
        typer.echo(f"{what}: request {r.id} for {r.user_id}, due {r.due_at:%Y-%m-%d}")


@rules_app.command("show")
def rules_show(url: str = UrlOpt) -> None:
    """The active triggers as JSON (version 0: the built-in default)."""
    from bastion.diligence import rules

    with _session(url) as s:
        version, t = rules.active(s)
    typer.echo(json.dumps({"version": version, "definition": t.model_dump(mode="json")}, indent=2))


@rules_app.command("load")
def rules_load(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The triggers, JSON (see `rules show`)."),
    by: str = ByOpt,
    note: str = typer.Option("", help="Why."),
    activate: bool = typer.Option(False, help="Make it the active version at once."),
    url: str = UrlOpt,
) -> None:
    """Store a new version of the triggers (validated whole; errors name the field)."""
    from bastion.diligence import rules

    try:
        definition = json.loads(file.read_text())
    except ValueError as exc:
        raise CliError(f"{file}: not JSON ({exc})") from None
    if isinstance(definition, dict) and "definition" in definition:
        definition = definition["definition"]  # what `rules show` prints
    if not isinstance(definition, dict):
        raise CliError(f"{file}: expected a JSON object")
    with _session(url, "write") as s:
        out = rules.create(s, definition, _actor(by), note or None, activate, datetime.now(UTC))
        if out.active:
            from bastion.diligence import requests as dd

            dd.refresh_all_holds(s, datetime.now(UTC))  # the new hold limit applies to users held already
        s.commit()
    typer.echo(f"stored version {out.version}{' (active)' if out.active else ''}")
