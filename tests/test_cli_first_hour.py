"""A stranger's first hour (issue 13): the real `bastion` command, run as a new user would run it.

Each test drives the installed entry point in a subprocess (what a shell sees: exit code, stdout, stderr) and
checks the exact behaviour: one line naming the file/row/field, the exit code, and no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASTION = [sys.executable, "-c", "from bastion.cli import main; main()"]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_") or k.startswith("BASTION_TEST")}
    full_env.update({"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"})
    full_env.update(env or {})
    return subprocess.run(
        [*BASTION, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error: ...` line on stderr; fails on a traceback or on more than one error line."""
    both = result.stdout + result.stderr
    assert "Traceback" not in both, both
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# ------------------------------------------------------------------------------------------- databases
@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list", "--user", "42"],
        ["risk", "metrics", "--month", "2026-03"],
        ["funds", "check"],
        ["keys", "sweep", "--dry-run"],
        ["report", "monthly", "--month", "2026-03", "--no-pdf"],
    ],
)
def test_a_new_machine_gets_one_line_not_no_such_table(tmp_path: Path, command: list[str]) -> None:
    r = run(*command, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    line = error_line(r)
    default = tmp_path / "bastion-data" / "bastion.sqlite"
    assert f"no database at {default}" in line and "bastion db upgrade --database-url" in line, line
    # It said which database it looked for, and said it is the default.
    assert f"database: {default} (SQLite), the default" in r.stderr
    assert not default.exists(), "a read command created the database file"


def test_a_typo_in_a_sqlite_url_creates_nothing(tmp_path: Path) -> None:
    r = run("keys", "list", "--user", "42", "--database-url", "sqlite:///bastoin.sqlite", cwd=tmp_path)
    assert r.returncode == 2
    assert f"no database at {tmp_path / 'bastoin.sqlite'}" in error_line(r)
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_the_schema_names_the_fix(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("create table something (a)").connection.close()
    r = run("funds", "check", "--database-url", f"sqlite:///{other}", cwd=tmp_path)
    assert r.returncode == 2
    line = error_line(r)
    assert "has no Bastion schema" in line and f"bastion db upgrade --database-url 'sqlite:///{other}'" in line


def test_after_the_named_fix_the_command_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.sqlite'}"
    up = run("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    r = run("keys", "list", "--user", "42", "--database-url", url, cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"database: {tmp_path / 'b.sqlite'} (SQLite)" in r.stderr.splitlines()


def test_a_write_command_brings_a_new_sqlite_database_up_to_date(tmp_path: Path) -> None:
    r = run(
        "keys", "register-app", "--name", "Tracker", "--redirect-uri", "https://tracker.example/cb",
        "--ip", "203.0.113.7", "--json", cwd=tmp_path, env={"BASTION_DATABASE_URL": "sqlite:///new.sqlite"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "new.sqlite").is_file()
    assert r.stdout.startswith("{"), "stdout holds only the JSON"


def test_an_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    r = run("risk", "metrics", "--month", "2026-03", "--database-url", url, cwd=tmp_path)
    assert r.returncode == 2
    line = error_line(r)
    assert line.startswith("error: cannot open the database postgresql+psycopg://nobody:***@127.0.0.1:1/none")
    assert "secret" not in r.stderr


# ------------------------------------------------------------------------------------------- vocabulary
@pytest.mark.parametrize("old", ["--url", "--db"])
def test_old_database_option_names_still_work_with_a_note(tmp_path: Path, old: str) -> None:
    url = f"sqlite:///{tmp_path / 'b.sqlite'}"
    r = run("db", "upgrade", old, url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"note: {old} is deprecated, use --database-url" in r.stderr
    assert (tmp_path / "b.sqlite").is_file()


def test_every_command_that_uses_the_database_has_database_url_and_help_on_every_option() -> None:
    from typer.main import get_command

    from bastion.cli import app

    root = get_command(app)
    missing_help: list[str] = []
    with_db: list[str] = []

    def walk(cmd: object, path: str) -> None:
        commands = getattr(cmd, "commands", None)
        if commands:
            for name, sub in commands.items():
                walk(sub, f"{path} {name}")
            return
        for p in getattr(cmd, "params", []):
            if getattr(p, "hidden", False):
                continue
            if not getattr(p, "help", None) and p.param_type_name == "option":
                missing_help.append(f"{path} {p.opts[0]}")
            for legacy in ("--url", "--db"):
                assert legacy not in p.opts, f"{path} still declares {legacy}"
            if "--database-url" in p.opts:
                with_db.append(path)

    walk(root, "bastion")
    assert missing_help == []
    for needed in ("keys list", "risk metrics", "funds check", "keys sweep", "report monthly", "db upgrade", "serve"):
        assert f"bastion {needed}" in with_db


def test_database_url_help_states_the_default_location(tmp_path: Path) -> None:
    r = run("keys", "list", "--help", cwd=tmp_path, env={"COLUMNS": "200"})
    text = " ".join(r.stdout.split())
    assert "./bastion-data" in text and "secret.key" in text and "BASTION_DATABASE_URL" in text


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("command", [["risk", "metrics"], ["report", "monthly", "--no-pdf"]])
@pytest.mark.parametrize("month", ["March", "2026-13", "2026-3-1"])
def test_a_wrong_month_is_one_line_naming_the_format(tmp_path: Path, command: list[str], month: str) -> None:
    r = run(*command, "--month", month, cwd=tmp_path)
    assert r.returncode == 2
    assert error_line(r) == f"error: --month {month!r}: expected a month as YYYY-MM, e.g. 2026-03"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = run("--debug", "risk", "metrics", "--month", "March", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr + r.stdout


def _liquidations(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "liq.csv"
    path.write_text("id,instType,instFamily,ccy,instId,posSide,sz,bkPx,fillPx,ts\n" + "".join(rows))
    return path


def test_funds_import_reads_okx_millisecond_timestamps(tmp_path: Path) -> None:
    csv = _liquidations(tmp_path, ["L1,SWAP,BTC-USDT,USDT,BTC-USDT-SWAP,long,1,100,101,1772323200000\n"])
    r = run("funds", "import", str(csv), "--database-url", f"sqlite:///{tmp_path / 'f.sqlite'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 rows: 1 booked" in r.stdout


def test_funds_import_names_the_line_in_the_file(tmp_path: Path) -> None:
    csv = _liquidations(
        tmp_path,
        [
            "L1,SWAP,BTC-USDT,USDT,BTC-USDT-SWAP,long,1,100,101,1772323200000\n",
            "L2,SWAP,BTC-USDT,USDT,BTC-USDT-SWAP,long,1,100,oops,1772323200000\n",
        ],
    )
    r = run("funds", "import", str(csv), "--database-url", f"sqlite:///{tmp_path / 'f.sqlite'}", cwd=tmp_path)
    assert r.returncode == 2
    assert error_line(r) == f"error: {csv}: row 3, fillPx: cannot read 'oops'; nothing imported"


def test_funds_import_of_a_header_only_file(tmp_path: Path) -> None:
    csv = _liquidations(tmp_path, [])
    r = run("funds", "import", str(csv), "--database-url", f"sqlite:///{tmp_path / 'f.sqlite'}", cwd=tmp_path)
    assert r.returncode == 2
    assert error_line(r) == f"error: {csv}: no rows under the header; nothing imported"
