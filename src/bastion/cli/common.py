"""What every `bastion` command shares: the database option, opening a database, the one error path.

- `--database-url` (env BASTION_DATABASE_URL) is the one spelling; the old `--url` and `--db` are rewritten to
  it before parsing, with a one-line deprecation note (accepted for one release, hidden from --help).
- `open_database` says on stderr which database a command uses, refuses (one line, exit 2) a SQLite file that
  does not exist or a database without Bastion's schema, naming the command that fixes it; commands that write
  bring a SQLite database up to date themselves.
- `BastionGroup` turns an error a domain raises on purpose into `error: ...` and exit code 2, anything
  unexpected into one line and exit code 3; `bastion --debug` (or BASTION_DEBUG=1) shows the traceback.

Exit codes of every command: 0 done; 1 a check failed (named); 2 input that cannot be used (named);
3 an unexpected error (a bug: run again with --debug and report the traceback).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3

DATABASE_URL_OPTION = "--database-url"
# Old spellings, rewritten to --database-url with a note (remove in the release after 0.1).
DEPRECATED_DATABASE_OPTIONS = ("--url", "--db")

DEFAULT_LOCATION = (
    "Default: the SQLite file bastion.sqlite in the data directory, BASTION_DATA_DIR, itself by default "
    "./bastion-data under the directory the command runs in (where secret.key, the key sealing stored "
    "secrets, is kept too)."
)
DATABASE_URL_HELP = f"SQLAlchemy URL of Bastion's database (env BASTION_DATABASE_URL). {DEFAULT_LOCATION}"


class CliError(Exception):
    """An error the user can fix: printed as one line `error: ...`, exit code 2 (or `code`)."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print `error: message` on stderr; return the Exit to raise (`raise fail(...) from None`)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def note(message: str) -> None:
    typer.echo(message, err=True)


def decimal_argument(text: str, what: str) -> Decimal:
    """`text` as an exact decimal; anything else is the user's error, naming `what`."""
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CliError(f"{what}: not a number: {text!r}") from None


Row = TypeVar("Row")


def echo_listing(
    rows: Sequence[Row],
    as_json: bool,
    line: Callable[[Row], str],
    empty: str | None = None,
    to_json: Callable[[Row], Any] | None = None,
) -> None:
    """What a `list` command prints: with --json the rows as one JSON array (each through `to_json`, if given),
    else a line a row, or `empty` (when given) if there are none."""
    if as_json:
        typer.echo(json.dumps([to_json(r) for r in rows] if to_json else list(rows)))
        return
    if not rows and empty is not None:
        typer.echo(empty)
    for r in rows:
        typer.echo(line(r))


def database_url_option(help: str = DATABASE_URL_HELP, envvar: bool = True) -> Any:
    """The `--database-url` option; "" means "from the environment, else the default SQLite file"."""
    return typer.Option(
        "",
        DATABASE_URL_OPTION,
        envvar="BASTION_DATABASE_URL" if envvar else None,
        show_envvar=False,
        show_default=False,
        help=help,
    )


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def default_database_url() -> str:
    from bastion.settings import Settings

    return Settings(database_url="").database_url


def resolve_database_url(option: str) -> str:
    """--database-url (Typer already fell back to BASTION_DATABASE_URL), else the default SQLite file."""
    return option or default_database_url()


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    from bastion.db.session import is_sqlite

    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def describe_database(url: str, explicit: bool) -> str:
    path = _sqlite_path(url)
    where = f"{path.resolve()} (SQLite)" if path is not None else redact(url)
    if explicit:
        return f"database: {where}"
    return f"database: {where}, the default (set --database-url or BASTION_DATABASE_URL to use another)"


def open_database(
    option: str, *, mode: Literal["read", "write"] = "read", announce: bool = True
) -> str:
    """The URL a command works on, checked: a one-line CliError instead of "no such table" later.

    `read`: the database must exist and carry Bastion's schema at the current heads (a mistyped SQLite path is
    refused, never created). `write`: a SQLite database is created or brought up to date here; another
    backend must already be up to date (`bastion db upgrade` migrates it: a deliberate step in production).
    """
    url = resolve_database_url(option)
    if announce:
        note(describe_database(url, explicit=bool(option)))
    path = _sqlite_path(url)
    shown = f"sqlite:///{path.resolve()}" if path is not None else redact(url)
    fix = f"bastion db upgrade {DATABASE_URL_OPTION} '{shown}'"
    if path is not None and mode == "read" and not path.is_file():
        raise CliError(f"no database at {path.resolve()}: check the URL, or create it with: {fix}")
    if path is not None and mode == "write":
        from bastion.db.migrate import upgrade

        upgrade(url)
        return url
    from bastion.db.migrate import current_heads, script_heads

    try:
        current = current_heads(url)
    except Exception as exc:  # driver errors: unreachable server, bad credentials, not a database file
        raise CliError(f"cannot open the database {redact(url)}: {_first_line(exc)}") from None
    wanted = script_heads()
    if not current:
        raise CliError(f"the database {redact(url)} has no Bastion schema; create it with: {fix}")
    if current != wanted:
        raise CliError(f"the database {redact(url)} is not at this Bastion's schema version; upgrade it with: {fix}")
    return url


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error; its message is the useful part
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def engine_for(url: str) -> Engine:
    from bastion.db.session import make_engine

    return make_engine(url)


def sessions_for(url: str) -> sessionmaker[Session]:
    from bastion.db.session import make_sessionmaker

    return make_sessionmaker(engine_for(url))


def debug_enabled() -> bool:
    return os.environ.get("BASTION_DEBUG", "").lower() in ("1", "true", "yes", "on")


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors raised on purpose about the input: one line, exit 2."""
    from bastion.errors import BastionError

    known: list[type[BaseException]] = [CliError, BastionError, OSError]
    for module, name in (
        ("bastion.por.liabilities.snapshot", "SnapshotError"),
        ("bastion.por.liabilities.prover.plan", "RoundError"),
        ("bastion.por.format.round", "RoundFormatError"),
        ("bastion.por.reserves.verify", "BalanceSourceError"),
        ("bastion.report.figures", "ReportInputError"),
        ("bastion.report.pdf", "PdfRendererMissing"),
        ("bastion.funds.liquidation", "LiquidationError"),
        ("bastion.protection.cooling_off", "CoolingOffError"),
        ("bastion.protection.deposits", "CaseError"),
        ("sqlalchemy.exc", "OperationalError"),  # unreachable server, locked or corrupt file: named in one line
    ):
        mod = sys.modules.get(module)  # only what the command imported can have been raised
        if mod is not None and hasattr(mod, name):
            known.append(getattr(mod, name))
    return tuple(known)


class BastionGroup(TyperGroup):
    """The root `bastion` group: old option names rewritten, errors as one line."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:  # fmt: skip
        argv = _rewrite_deprecated(self, list(sys.argv[1:] if args is None else args))
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        except typer.TyperException as exc:  # Click's usage errors: one line, not Typer's boxed panel
            code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help itself (Rich mode printed it already)
                if message.strip():
                    typer.echo(message, err=True)
                sys.exit(code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
            typer.echo(f"error: {' '.join(message.split())}{hint}", err=True)
            sys.exit(code)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        if ctx.params.get("debug"):
            os.environ["BASTION_DEBUG"] = "1"  # also seen by service workers and subprocesses
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors and exits: Typer prints them
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            if isinstance(exc, _known_errors()):
                code = exc.code if isinstance(exc, CliError) else EXIT_BAD_INPUT
                typer.echo(f"error: {_first_line(exc)}", err=True)
                raise typer.Exit(code) from None
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {_first_line(exc)} "
                "(run again with --debug or BASTION_DEBUG=1 for the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None


def _rewrite_deprecated(root: TyperGroup, argv: list[str]) -> list[str]:
    """`--url X` / `--db=X` -> `--database-url ...` for commands that take --database-url (one note each)."""
    command: Any = root
    ctx = typer.Context(root)
    for token in argv:
        if not isinstance(command, TyperGroup):
            break
        if token.startswith("-"):
            continue
        sub = command.get_command(ctx, token)
        if sub is None:
            return argv
        command = sub
    takes_url = any(DATABASE_URL_OPTION in getattr(p, "opts", ()) for p in command.params)
    if not takes_url:
        return argv
    out: list[str] = []
    for token in argv:
        name, eq, value = token.partition("=")
        if name in DEPRECATED_DATABASE_OPTIONS:
            note(f"note: {name} is deprecated, use {DATABASE_URL_OPTION} (the old name goes away in the next release)")
            token = f"{DATABASE_URL_OPTION}{eq}{value}"
        out.append(token)
    return out


def parse_month(month: str, option: str = "--month") -> tuple[datetime, datetime]:
    """`2026-03` -> [2026-03-01, 2026-04-01) in UTC; anything else is a one-line error naming the format."""
    import re
    from datetime import UTC, datetime

    m = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise CliError(f"{option} {month!r}: expected a month as YYYY-MM, e.g. 2026-03")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end
