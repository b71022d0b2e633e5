"""`bastion keys ...`: make, list and revoke API keys, register Fast API apps, sweep idle keys.

Works on the database the service uses (--database-url / BASTION_DATABASE_URL) with the same encryption key
(BASTION_KEYS_ENCRYPTION_KEYS or BASTION_SECRET_KEY / the data dir's secret.key), so a key made here
authenticates against `bastion serve` at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import typer

from bastion.cli.common import database_url_option, echo_listing, open_database

if TYPE_CHECKING:
    from bastion.keys.lifecycle import KeyVault, KeyView, SecondFactor, SweepReport
    from bastion.settings import Settings

app = typer.Typer(help="API keys: create, list, revoke, Fast API apps, sweep idle keys.", no_args_is_help=True)

UrlOpt = database_url_option()
JsonOpt = typer.Option(False, "--json", help="Print JSON on stdout instead of text.")


def _context(url: str, mode: Literal["read", "write"] = "read") -> tuple[Settings, KeyVault]:
    from bastion.keys.lifecycle import KeyVault
    from bastion.settings import Settings

    settings = Settings(database_url=open_database(url, mode=mode))
    keyring = settings.keys_encryption_keys.get_secret_value() if settings.keys_encryption_keys else None
    return settings, KeyVault.from_keyring(keyring, settings.secret_key_bytes)


def _sessions(url: str) -> Any:
    from bastion.db.session import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(url))


def _second_factor(settings: Settings) -> SecondFactor:
    from bastion.protection import totp

    def check(session: Any, user_id: str, code: str, now: Any) -> bool:
        return totp.verify(session, settings.secret_key_bytes(), user_id, code, now) == totp.Check.ok

    return check


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@app.command("create")
def create(
    user: str = typer.Option(..., "--user", help="The user (UID) the key belongs to."),
    perms: str = typer.Option(
        "read", "--perms", help="Permissions, comma-separated: read, trade, withdraw (read is implied)."
    ),
    ip: list[str] = typer.Option([], "--ip", help="Allowed IP or CIDR range; repeat for several (max 20)."),
    passphrase: str = typer.Option(..., "--passphrase", help="8-32 characters, letters and digits."),
    label: str = typer.Option("cli", "--label", help="A name for the key, shown in lists."),
    totp: str = typer.Option("", "--totp", help="The user's current TOTP code (withdraw keys)."),
    url: str = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a key; prints its id and secret once."""
    from datetime import UTC, datetime

    from bastion.errors import InvalidInputError
    from bastion.keys import lifecycle
    from bastion.keys.errors import SecondFactorRejected

    settings, vault = _context(url, "write")
    with _sessions(settings.database_url)() as session:
        try:
            issued = lifecycle.create_key(
                session,
                vault,
                user_id=user,
                label=label,
                permissions=[perms],
                ips=ip,
                passphrase=passphrase,
                totp_code=totp or None,
                second_factor=_second_factor(settings),
                now=datetime.now(UTC),
                actor="cli",
            )
        except SecondFactorRejected as exc:
            session.commit()  # keep the TOTP failure count
            raise _fail(str(exc)) from None
        except InvalidInputError as exc:
            raise _fail(str(exc)) from None
        session.commit()
    out = {
        "key_id": issued.key_id,
        "secret": issued.secret,
        "user_id": issued.user_id,
        "label": issued.label,
        "perms": sorted(p.value for p in issued.permissions),
        "ips": issued.ips.split(",") if issued.ips else [],
        "created_at": issued.created_at.isoformat(),
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(f"key id:  {issued.key_id}\nsecret:  {issued.secret}   (shown once; store it now)")


@app.command("list")
def list_(
    user: str = typer.Option(..., "--user", help="The user (UID) whose keys to list."),
    url: str = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A user's live keys (never their secrets)."""
    from bastion.keys import lifecycle

    settings, _vault = _context(url)
    with _sessions(settings.database_url)() as session:
        keys = lifecycle.list_keys(session, user)
    echo_listing(
        [_view(k) for k in keys],
        as_json,
        lambda r: f"{r['key_id']}  {','.join(r['perms']):<20} ips={','.join(r['ips']) or '-'}  {r['label']}",
    )


@app.command("revoke")
def revoke(
    user: str = typer.Option(..., "--user", help="The user (UID) the key belongs to."),
    key: str = typer.Option(..., "--key", help="The key id to revoke."),
    url: str = UrlOpt,
) -> None:
    """Revoke (delete) a key; every running service process refuses it within 1 s (keys/authcache.py)."""
    from datetime import UTC, datetime

    from bastion.errors import NotFoundError
    from bastion.keys import lifecycle

    settings, vault = _context(url)
    with _sessions(settings.database_url)() as session:
        try:
            lifecycle.revoke(session, vault, user, key, datetime.now(UTC), actor="cli")
        except NotFoundError as exc:
            raise _fail(str(exc)) from None
        session.commit()
    typer.echo(f"revoked {key}")


@app.command("sweep")
def sweep(
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted; delete nothing."),
    url: str = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Delete keys with trade or withdraw permission, no bound IP and no use for 14 days or more."""
    from datetime import UTC, datetime

    from bastion.keys import lifecycle

    settings, vault = _context(url)
    with _sessions(settings.database_url)() as session:
        report = lifecycle.sweep(session, vault, datetime.now(UTC), dry_run=dry_run)
        if not dry_run:
            session.commit()
    _print_sweep(report, as_json)


def _print_sweep(report: SweepReport, as_json: bool) -> None:
    rows = [_view(k) for k in report.keys]
    if as_json:
        typer.echo(
            json.dumps({"dry_run": report.dry_run, "at": report.at.isoformat(), "count": report.count, "keys": rows})
        )
        return
    verb = "would delete" if report.dry_run else "deleted"
    typer.echo(f"{verb} {report.count} idle unbound key(s)")
    for r in rows:
        typer.echo(f"  {r['key_id']}  user={r['user_id']}  {','.join(r['perms'])}  last used {r['last_used_at']}")


@app.command("register-app")
def register_app(
    name: str = typer.Option(..., "--name", help="The app's name, shown to users when they authorize it."),
    redirect_uri: str = typer.Option(
        ..., "--redirect-uri", help="Where users are sent back after authorizing (https; http only for localhost)."
    ),
    ip: list[str] = typer.Option(..., "--ip", help="The app's server IPs or ranges; repeat for several."),
    max_permission: str = typer.Option(
        "trade", "--max-permission", help="The most a user can grant the app: read or trade."
    ),
    url: str = UrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Register a third-party app for Fast API; prints its client id and secret once."""
    from dataclasses import asdict
    from datetime import UTC, datetime

    from bastion.errors import InvalidInputError
    from bastion.keys import fast_api

    settings, _vault = _context(url, "write")
    with _sessions(settings.database_url)() as session:
        try:
            registered = fast_api.register_app(
                session,
                name=name,
                redirect_uri=redirect_uri,
                ips=ip,
                max_permission=max_permission,
                now=datetime.now(UTC),
            )
        except InvalidInputError as exc:
            raise _fail(str(exc)) from None
        session.commit()
    if as_json:
        typer.echo(json.dumps(asdict(registered)))
    else:
        typer.echo(f"client id:     {registered.client_id}\nclient secret: {registered.client_secret}   (shown once)")


def _view(k: KeyView) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "user_id": k.user_id,
        "label": k.label,
        "perms": sorted(p.value for p in k.permissions),
        "ips": k.ips.split(",") if k.ips else [],
        "source": k.source,
        "app_id": k.app_id,
        "created_at": k.created_at.isoformat(),
        "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
    }
