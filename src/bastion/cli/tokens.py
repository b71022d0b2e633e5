"""`bastion tokens ...` (service and operator credentials) and `bastion users token` (a development session).

Works on the database the service uses (--database-url / BASTION_DATABASE_URL): a credential made here works
against a running `bastion serve` at once; a revoked one stops within BASTION_ACCESS_CACHE_SECONDS.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from bastion.cli.common import CliError, database_url_option, echo_listing, open_database, sessions_for

app = typer.Typer(
    help="Service and operator credentials: create (shown once), list, revoke, the scopes.", no_args_is_help=True
)
users_app = typer.Typer(help="End users' sessions, as the exchange's login service issues them.", no_args_is_help=True)

UrlOpt = database_url_option()
JsonOpt = typer.Option(False, "--json", help="Print JSON on stdout instead of text.")


def _view(c: Any) -> dict[str, Any]:
    return {
        "name": c.name,
        "scopes": sorted(c.scopes),
        "bootstrap": c.bootstrap,
        "created_at": c.created_at.isoformat(),
        "created_by": c.created_by,
        "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
        "uses": c.uses,
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    }


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Who holds it, e.g. wallet-service or analyst-ann (audited)."),
    scopes: str = typer.Option(..., "--scopes", help="Comma-separated (see `bastion tokens scopes`)."),
    database_url: str = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a named credential; the token is printed once and stored only as a digest."""
    from bastion.access import credentials

    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        issued = credentials.create(s, name, scopes, datetime.now(UTC), created_by="cli")
        s.commit()
    view = _view(issued.credential)
    if as_json:
        typer.echo(json.dumps({**view, "token": issued.token}))
        return
    typer.echo(f"credential {view['name']} ({', '.join(view['scopes'])})")
    typer.echo(f"token: {issued.token}")
    typer.echo("shown once: only its digest is stored. Send it as Authorization: Bearer <token>.", err=True)


@app.command("list")
def list_(
    database_url: str = UrlOpt,
    include_revoked: bool = typer.Option(False, "--all", help="Revoked credentials too."),
    as_json: bool = JsonOpt,
) -> None:
    """Credentials with their scopes, last use and use count (never tokens)."""
    from bastion.access import credentials

    url = open_database(database_url)
    with sessions_for(url)() as s:
        rows = [_view(c) for c in credentials.list_all(s, include_revoked=include_revoked)]
    echo_listing(rows, as_json, _line, empty="no credentials (bastion tokens create --name N --scopes ...)")


def _line(r: dict[str, Any]) -> str:
    state = f"revoked {r['revoked_at']}" if r["revoked_at"] else f"last used {r['last_used_at'] or 'never'}"
    boot = " [bootstrap]" if r["bootstrap"] else ""
    return f"{r['name']}{boot}: {','.join(r['scopes'])}; {r['uses']} uses, {state}"


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The credential's name."), database_url: str = UrlOpt) -> None:
    """Revoke a credential by name (effective everywhere within BASTION_ACCESS_CACHE_SECONDS)."""
    from bastion.access import credentials

    url = open_database(database_url)
    with sessions_for(url)() as s:
        view = credentials.revoke(s, name, datetime.now(UTC))
        s.commit()
    typer.echo(f"revoked {view.name}")


@app.command("scopes")
def scopes() -> None:
    """The scopes a credential can hold, and what each opens."""
    from bastion.access.scopes import OPERATOR_SCOPES, SCOPES, SERVICE_SCOPES

    for title, group in (("service", SERVICE_SCOPES), ("operator", OPERATOR_SCOPES)):
        typer.echo(f"{title}:")
        for scope, what in group.items():
            typer.echo(f"  {scope:<16} {what}")
    typer.echo(f"admin:\n  {'*':<16} {SCOPES['*']}")


_TTL = re.compile(r"(\d+)([smhd])")


def _ttl(text: str) -> timedelta:
    m = _TTL.fullmatch(text.strip())
    if m is None or int(m.group(1)) == 0:
        raise CliError(f"--ttl: {text!r} is not a duration like 90s, 15m, 2h or 1d")
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    ttl = timedelta(**{units[m.group(2)]: int(m.group(1))})
    if ttl > timedelta(days=30):
        raise CliError("--ttl: at most 30d")
    return ttl


@users_app.command("token")
def user_token(
    uid: str = typer.Option(..., "--uid", help="The user (UID) the session is for."),
    ttl: str = typer.Option("15m", "--ttl", help="Lifetime: 90s, 15m, 2h, 1d."),
    sid: str = typer.Option("", "--sid", help="Session/device id (default: random)."),
) -> None:
    """Sign a user session JWT with the data dir's development key (what `bastion serve` trusts when no
    BASTION_USER_SESSION_KEYS is set): for the demo, the simulator and tests, never for production."""
    from bastion.access import sessions
    from bastion.settings import Settings

    if not uid or len(uid) > 128 or not uid.isprintable():
        raise CliError("--uid: 1 to 128 printable characters")
    settings = Settings()
    if settings.user_session_keys is not None:
        typer.echo(
            "note: BASTION_USER_SESSION_KEYS is set; the service trusts that key, not this development one", err=True
        )
    key = sessions.dev_key(settings.ensure_data_dir())
    typer.echo(
        sessions.issue(key, uid, ttl=_ttl(ttl), sid=sid or None, audience=settings.user_session_audience)
    )
