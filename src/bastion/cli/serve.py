"""`bastion serve`: run the web service under uvicorn, after bringing the schema up to date."""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING

import typer

from bastion import __version__
from bastion.cli.common import CliError, database_url_option, describe_database, note, open_database

if TYPE_CHECKING:
    from bastion.settings import Settings


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def _authentication(settings: Settings, host: str) -> str:
    """Make sure no route that needs a credential is open: with none configured, make the bootstrap admin
    credential (printed once); refuse a non-loopback host while that is all there is. Returns the mode."""
    from datetime import UTC, datetime

    from bastion.access import credentials
    from bastion.access.sessions import load_verification_keys
    from bastion.db.session import make_engine, make_sessionmaker

    if settings.user_session_keys is not None:
        try:  # now, in one line, rather than as a 500 on the first user's request
            load_verification_keys(settings.user_session_keys)
        except ValueError as exc:
            raise CliError(f"BASTION_USER_SESSION_KEYS: {exc}") from None
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            issued = None
            if settings.operator_token is None:
                issued = credentials.ensure_bootstrap(s, datetime.now(UTC))
                s.commit()
            live = credentials.list_all(s)
    finally:
        engine.dispose()
    named = [c for c in live if not c.bootstrap]
    if issued is not None:
        typer.echo(
            "\nNo credential was configured: made the admin credential "
            f"{issued.credential.name!r} (every service and operator scope).\n"
            f"  token (shown once, only its digest is stored): {issued.token}\n"
            "  Make named, scoped credentials with `bastion tokens create` and revoke this one.\n",
            err=True,
        )
    if not named and settings.operator_token is None and not _loopback(host):
        raise CliError(
            f"refusing --host {host}: the only credential is the bootstrap admin one; create named, scoped "
            "credentials first (bastion tokens create --name N --scopes ...), or serve on 127.0.0.1"
        )
    parts = [f"{len(named)} named credential(s)"]
    if len(live) > len(named):
        parts.append(f"{len(live) - len(named)} bootstrap admin")
    if settings.operator_token is not None:
        parts.append("BASTION_OPERATOR_TOKEN (admin, audited)")
    return "on; " + ", ".join(parts) + "; no route that changes state or reads a user's data is open"


def _publish_rounds(round_dir: str, rounds_dir: str) -> None:
    """--round or --rounds, checked, for the workers (which read their settings from the environment)."""
    if round_dir:
        from pathlib import Path

        from bastion.por.format.round import has_round

        if not has_round(Path(round_dir)):
            raise typer.BadParameter(f"{round_dir} has no round.json", param_hint="--round")
        os.environ["BASTION_ROUND_DIR"] = str(Path(round_dir).resolve())
    if rounds_dir:
        from pathlib import Path

        from bastion.por.history import RoundHistoryError, load_history

        if round_dir:
            raise typer.BadParameter("give --rounds or --round, not both", param_hint="--rounds")
        try:
            found = load_history(Path(rounds_dir))
        except RoundHistoryError as exc:
            raise typer.BadParameter(str(exc), param_hint="--rounds") from None
        if not found.rounds:
            raise typer.BadParameter(
                f"{rounds_dir} has no round directory (DIR/*/round.json)", param_hint="--rounds"
            )
        os.environ["BASTION_ROUNDS_DIR"] = str(Path(rounds_dir).resolve())


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
        workers: int = typer.Option(1, min=1, help="Worker processes."),
        database_url: str = database_url_option(),
        migrate: bool = typer.Option(True, help="Run the database migrations before serving."),
        log_level: str = typer.Option("warning", help="uvicorn log level."),
        round_dir: str = typer.Option(
            "", "--round", help="Round directory the proof-of-reserves page publishes (BASTION_ROUND_DIR)."
        ),
        rounds_dir: str = typer.Option(
            "",
            "--rounds",
            help="Directory of round directories: every round is published, numbered in order of snapshot time, "
            "the newest on /por/ (BASTION_ROUNDS_DIR).",
        ),
    ) -> None:
        """Serve the Bastion API (OpenAPI docs at /docs)."""
        import uvicorn

        from bastion.service.access import user_session_mode
        from bastion.settings import Settings

        if database_url:
            # Workers are separate processes that read their settings from the environment.
            os.environ["BASTION_DATABASE_URL"] = database_url
        _publish_rounds(round_dir, rounds_dir)
        settings = Settings()
        from bastion.db.session import is_sqlite

        if workers > 1 and is_sqlite(settings.database_url):
            # One writer at a time: extra processes only queue on the file lock (and their busy-wait backoff
            # turns into seconds of tail latency under load). PostgreSQL is the multi-worker setup.
            typer.echo("note: SQLite has one writer at a time; use PostgreSQL for --workers > 1", err=True)
        if migrate:
            from bastion.db.migrate import upgrade

            note(describe_database(settings.database_url, explicit=bool(database_url)))
            upgrade(settings.database_url)
        else:
            open_database(database_url)  # refuses, in one line, a database without the schema
        auth = _authentication(settings, host)
        note(f"Bastion {__version__} on http://{host}:{port}/ (API docs at /docs), {workers} worker(s)")
        note(describe_database(settings.database_url, explicit=bool(database_url)))
        note(f"authentication: {auth}")
        note(f"{user_session_mode(settings)}")
        uvicorn.run(
            "bastion.service.app:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            # Forwarding headers are judged by Bastion against BASTION_TRUSTED_PROXIES (IP allowlists
            # depend on it); uvicorn's own handling would believe any local process claiming an address.
            proxy_headers=False,
        )
