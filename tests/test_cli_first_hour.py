"""A stranger's first hour (issue 13): the real `bastion` command, run as a new user would run it.

Each test drives the installed entry point in a subprocess (what a shell sees: exit code, stdout, stderr) and
checks the exact behaviour: one line naming the file/row/field, the exit code, and no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
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


# ------------------------------------------------------------------------------------------- getting the command
VENV_SH = Path(__file__).resolve().parents[1] / "scripts" / "venv.sh"


def _fake_checkout(tmp_path: Path, installed: bool) -> Path:
    """A copy of the repository's venv.sh in a checkout whose .venv is already installed (or cannot be)."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "venv.sh").write_text(VENV_SH.read_text())
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    if installed:
        (root / ".venv" / "bin").mkdir(parents=True)
        (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
        (root / ".venv" / "bin" / "bastion").write_text("#!/bin/sh\necho bastion-here\n")
        (root / ".venv" / "bin" / "bastion").chmod(0o755)
        stamp = root / ".venv" / ".installed"
        stamp.touch()
        os.utime(stamp, (os.path.getmtime(root / "pyproject.toml") + 10,) * 2)
    return root


def _shell(script: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_sourcing_venv_sh_leaves_the_shell_as_it_was(tmp_path: Path) -> None:
    root = _fake_checkout(tmp_path, installed=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _shell(
        f"before=$-; source {root}/scripts/venv.sh; false; echo alive; pwd; "
        '[ "$before" = "$-" ] && echo same-options; bastion',
        cwd=elsewhere,
    )
    assert r.stdout.splitlines() == ["alive", str(elsewhere), "same-options", "bastion-here"], r.stdout + r.stderr


def test_the_readme_check_itself(tmp_path: Path) -> None:
    """The issue's own words: `bash -c 'source <the PATH script>; false; echo alive'` prints `alive`."""
    root = _fake_checkout(tmp_path, installed=True)
    r = _shell(f"source {root}/scripts/venv.sh; false; echo alive", cwd=tmp_path)
    assert r.stdout == "alive\n", r.stderr


def test_a_failed_install_returns_non_zero_and_the_shell_lives_on(tmp_path: Path) -> None:
    root = _fake_checkout(tmp_path, installed=False)
    r = _shell(f"source {root}/scripts/venv.sh; echo status=$?; echo alive", cwd=tmp_path, env={"PYTHON": "false"})
    assert "alive" in r.stdout and "status=0" not in r.stdout, r.stdout + r.stderr
    assert "venv: installing Bastion into" in r.stderr and "failed" in r.stderr


# ------------------------------------------------------------------------------------------- installs that cannot rot
# Imported only where a missing package is a one-line error naming the extra that brings it.
OPTIONAL_IMPORTS = {"ray": "ray"}


def test_every_third_party_module_imported_under_src_is_a_main_dependency() -> None:
    """The fast half of scripts/check-plain-install.sh (which .ci/run runs through scripts/test.sh): a module
    reached only through the dev extras or through another package's dependencies fails here."""
    import ast
    import re
    import tomllib
    from importlib.metadata import packages_distributions

    repo = Path(__file__).resolve().parents[1]
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]

    def canonical(requirement: str) -> str:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        return re.sub(r"[-_.]+", "-", name).lower()

    main = {canonical(r) for r in project["dependencies"]}
    imported: dict[str, str] = {}
    for path in (repo / "src" / "bastion").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else []
            )  # fmt: skip
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "bastion":
                    imported.setdefault(top, str(path.relative_to(repo)))
    providers = packages_distributions()
    undeclared = {}
    for module, where in imported.items():
        if module in OPTIONAL_IMPORTS:
            assert OPTIONAL_IMPORTS[module] in project["optional-dependencies"], module
            continue
        dists = {canonical(d) for d in providers.get(module, [])}
        if not dists & main:
            undeclared[module] = (where, sorted(dists))
    assert undeclared == {}, f"imported under src/ but not in [project].dependencies: {undeclared}"


def test_ci_runs_the_plain_install_check_first() -> None:
    repo = Path(__file__).resolve().parents[1]
    ci = (repo / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    steps = [line.strip() for line in (repo / "scripts" / "test.sh").read_text().splitlines()]
    commands = [s for s in steps if s and not s.startswith("#")]
    first_real = next(s for s in commands if "check-plain-install" in s or "venv.sh" in s)
    assert "check-plain-install" in first_real


# ------------------------------------------------------------------------------------------- output at 80 columns
def _decimal(cell: str) -> Decimal:
    return Decimal(cell.replace(",", "").replace("$", "").replace("+", ""))


def _close(shown: str, exact: str | Decimal) -> bool:
    """The figure shown equals the exact one at the precision shown (half a unit of its last digit)."""
    text = shown.replace(",", "").replace("$", "").replace("+", "")
    places = len(text.split(".")[1]) if "." in text else 0
    return abs(_decimal(shown) - Decimal(exact)) <= Decimal(1).scaleb(-places) / 2


def _table_lines(stdout: str, width: int) -> list[str]:
    lines = stdout.splitlines()
    for line in lines:
        assert "…" not in line, f"a cut figure: {line!r}"
        if not line.startswith(("VERIFIED", "INCLUDED", "not checked", "to check")):  # prose may wrap
            assert len(line.rstrip()) <= width, f"wider than {width} columns: {line!r}"
    return lines


def _row(lines: list[str], first_cell: str) -> list[str]:
    """The one line whose first cell is `first_cell`, split into cells (a row spanning two lines has none or
    a different number of cells)."""
    found = [line.split() for line in lines if line.split()[:1] == [first_cell]]
    assert len(found) == 1, (first_cell, lines)
    return found[0]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small real round (test STARK parameters) with verified reserve wallets, one under 100%, and a user's
    proof: everything the reserve table, `por verify` and `verify-user` print."""
    from bastion.por.format.round import read_round, write_json_atomic
    from bastion.por.liabilities.prover.pipeline import prove_round
    from bastion.por.liabilities.prover.plan import RoundConfig
    from bastion.por.liabilities.user_proofs import make_user_proof
    from bastion.por.reserves.report import write_reserves
    from bastion.por.reserves.round_view import load_round
    from bastion.por.reserves.verify import verify_wallet_set
    from bastion.por.reserves.walletset import read_wallet_set
    from bastion.sim.liabilities import simulate_liabilities
    from bastion.sim.wallets import make_wallet_set
    from bastion.stark.uni.params import INSECURE_TEST_PARAMS

    base = tmp_path_factory.mktemp("published")
    simulate_liabilities(base / "snapshot", users=80, assets=22, seed=5)
    round_dir = base / "round"
    prove_round(base / "snapshot", round_dir, RoundConfig(round_id="2026-11", params=INSECURE_TEST_PARAMS))
    doc = read_round(round_dir)
    wallets = base / "wallets.csv"
    make_wallet_set(doc, wallets, seed=1, shortfall={"BTC": Decimal("0.03")})
    write_reserves(verify_wallet_set(load_round(round_dir), read_wallet_set(wallets)), round_dir / "reserves.json")
    uid = (base / "snapshot" / "balances.csv").read_text().splitlines()[1].split(",")[0]
    write_json_atomic(base / "me.json", make_user_proof(round_dir, uid))
    return {"base": base, "round": round_dir, "proof": base / "me.json", "snapshot": base / "snapshot"}


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_por_report_rows_fit_and_match_the_json(published: dict[str, Path], columns: int) -> None:
    import json

    base = published["base"]
    table = run("por", "report", str(published["round"]), cwd=base, env={"COLUMNS": str(columns)})
    data = json.loads(run("por", "report", str(published["round"]), "--json", cwd=base).stdout)
    assert table.returncode == 1 and "NOT FULLY RESERVED (under 100%: BTC)" in table.stdout  # the shortfall
    lines = _table_lines(table.stdout, columns)
    header = _row(lines, "Asset")
    assert header[:5] == ["Asset", "User", "assets", "Wallet", "assets"]  # the same name as in `por verify`
    difference = "Difference" in header  # left out, never cut, when it does not fit
    assert difference or columns < 120
    assert difference or "(Difference left out to fit the terminal; all figures: --json)" in table.stdout
    for entry in data["assets"]:
        cells = _row(lines, entry["asset"])
        assert _close(cells[1], entry["liabilities"]) and _close(cells[2], entry["reserves"]), (cells, entry)
        assert cells[3] == entry["ratio_percent"]
        assert (cells[4:5] == ["under"]) == (entry["status"] == "under")
        if difference:
            assert _close(cells[-1], entry["difference"]), (cells, entry)
    total = _row(lines, "Total")
    assert _close(total[1], data["totals"]["liabilities_usd"]) and _close(total[2], data["totals"]["reserves_usd"])


def test_reserve_figures_line_up_on_the_decimal_point(published: dict[str, Path]) -> None:
    table = run("por", "report", str(published["round"]), cwd=published["base"], env={"COLUMNS": "80"})
    lines = [line for line in table.stdout.splitlines() if line[:6].strip() in ("BTC", "ETH", "USDT", "SHIB")]
    assert len(lines) == 4
    user_assets = [line.split()[1] for line in lines]
    ends = {
        line.index(cell) + (cell.index(".") if "." in cell else len(cell))
        for line, cell in zip(lines, user_assets, strict=True)
    }
    assert len(ends) == 1, lines  # every decimal point (or the end of a whole number) in the same column


def test_por_verify_fits_80_columns_and_matches_the_json(published: dict[str, Path]) -> None:
    import json

    base = published["base"]
    r = run("por", "verify", str(published["round"]), "--allow-insecure-params", cwd=base)
    as_json = run("por", "verify", str(published["round"]), "--allow-insecure-params", "--json", cwd=base)
    data = json.loads(as_json.stdout)
    assert r.returncode == 0 and data["ok"]
    lines = _table_lines(r.stdout, 80)
    assert _row(lines, "Asset") == ["Asset", "Equity", "Debt", "User", "assets"]
    for a in data["assets"]:
        cells = _row(lines, a["asset"])
        assert len(cells) == 4
        for shown, exact in zip(cells[1:], (a["total_equity"], a["total_debt"], a["net_liabilities"]), strict=True):
            assert _close(shown, exact), (cells, a)


def test_verify_user_fits_80_columns_and_matches_the_json(published: dict[str, Path]) -> None:
    import json

    base = published["base"]
    args = ("por", "verify-user", str(published["proof"]), "--round", str(published["round"]))
    r = run(*args, cwd=base)
    data = json.loads(run(*args, "--json", cwd=base).stdout)
    assert r.returncode == 0 and data["ok"] and data["checked_against_round"]
    lines = _table_lines(r.stdout, 80)
    assert any(line.startswith("VERIFIED: ") for line in lines)
    for row in data["rows"]:
        cells = _row(lines, row["asset"])
        assert _decimal(cells[1]) == Decimal(row["equity"]) and _decimal(cells[2]) == Decimal(row["debt"])
        assert cells[3] == f"#{row['leaf_index']:,}"


def test_verify_user_without_the_round_does_not_say_verified(published: dict[str, Path]) -> None:
    import json

    r = run("por", "verify-user", str(published["proof"]), cwd=published["base"])
    assert r.returncode == 0
    assert "VERIFIED" not in r.stdout
    assert "INCLUDED UNDER THE FILE'S OWN ROOT ONLY" in r.stdout
    assert "not checked: that the root in the file is the root the exchange published" in r.stdout
    data = json.loads(run("por", "verify-user", str(published["proof"]), "--json", cwd=published["base"]).stdout)
    assert data["ok"] and not data["checked_against_round"] and len(data["not_checked"]) == 2


def test_por_verify_on_a_missing_folder_exits_2(tmp_path: Path) -> None:
    r = run("por", "verify", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert r.returncode == 2
    assert error_line(r) == f"error: {tmp_path / 'nowhere'}: no round.json here (not a round directory)"


def test_por_report_json_is_a_switch_and_files_go_through_out(published: dict[str, Path], tmp_path: Path) -> None:
    import json

    out = tmp_path / "report.json"
    r = run("por", "report", str(published["round"]), "--json", "--out", str(out), cwd=tmp_path)
    assert json.loads(r.stdout) == json.loads(out.read_text())  # stdout: the JSON and nothing else
    assert f"wrote {out}" in r.stderr


def test_por_commands_are_listed_in_workflow_order(tmp_path: Path) -> None:
    r = run("por", "--help", cwd=tmp_path, env={"COLUMNS": "120"})
    order = ["prove", "challenge", "reserves", "report", "verify", "user-proof", "verify-user"]
    found = [w for line in r.stdout.splitlines() for w in line.replace("│", " ").split()[:1] if w in order]
    assert found == order


# ------------------------------------------------------------------------------------------- bad snapshots
def _snapshot(published: dict[str, Path], tmp_path: Path, balances: str) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "assets.csv").write_text((published["snapshot"] / "assets.csv").read_text())
    (snap / "balances.csv").write_text(balances)
    return snap


def test_a_header_only_balances_csv_is_one_line_and_leaves_nothing_behind(
    published: dict[str, Path], tmp_path: Path
) -> None:
    snap = _snapshot(published, tmp_path, "uid,asset,equity,debt\n")
    out = tmp_path / "round"
    r = run("por", "prove", str(snap), "--out", str(out), "--insecure-test-params", cwd=tmp_path)
    assert r.returncode == 2
    assert error_line(r) == "error: balances.csv: no rows under the header: a round needs at least one balance"
    assert not out.exists()
    # the rerun with a fixed file works on the same --out
    (snap / "balances.csv").write_text("uid,asset,equity,debt\nu1,BTC,1,0\n")
    again = run("por", "prove", str(snap), "--out", str(out), "--insecure-test-params", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (out / "round.json").is_file()


def test_a_huge_field_names_the_row_and_field(published: dict[str, Path], tmp_path: Path) -> None:
    big = "1" * (20 << 20)  # larger than the reader's 8 MB block: pyarrow alone only says "straddling object"
    snap = _snapshot(published, tmp_path, f"uid,asset,equity,debt\nu1,BTC,1,0\nu2,BTC,{big},0\n")
    r = run("por", "prove", str(snap), "--out", str(tmp_path / "round"), "--insecure-test-params", cwd=tmp_path)
    assert r.returncode == 2
    line = error_line(r)
    assert line == (
        "error: invalid snapshot: balances.csv, row 3, field equity: 20,971,520 characters long (at most 1,048,576)"
    )
    assert len(r.stderr) < 1000 and not (tmp_path / "round").exists()


def test_a_long_bad_value_is_quoted_short(published: dict[str, Path], tmp_path: Path) -> None:
    big = "9" * 500_000  # under the block size: read, then refused by value
    snap = _snapshot(published, tmp_path, f"uid,asset,equity,debt\nu1,BTC,{big},0\n")
    r = run("por", "prove", str(snap), "--out", str(tmp_path / "round"), "--insecure-test-params", cwd=tmp_path)
    assert r.returncode == 2
    line = error_line(r)
    assert line.startswith("error: invalid snapshot: balances.csv, row 2, field equity: '9999") and len(line) < 400


# ------------------------------------------------------------------------------------------- risk
@pytest.fixture(scope="module")
def month_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A simulated month through the real service (withdrawals held, blocked, reviewed) in a SQLite file."""
    from bastion.cli.sim_month import simulate_month

    out = tmp_path_factory.mktemp("month")
    url = f"sqlite:///{out / 'bastion.sqlite'}"
    simulate_month(out, "2026-10", users=30, seed=4, db_url=url, progress=False)
    return url


def test_risk_metrics_is_tables_that_fit_and_match_the_json(month_db: str, tmp_path: Path) -> None:
    import json

    r = run("risk", "metrics", "--month", "2026-10", "--database-url", month_db, cwd=tmp_path)
    data = json.loads(run("risk", "metrics", "--month", "2026-10", "--database-url", month_db, "--json",
                          cwd=tmp_path).stdout)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "{" not in r.stdout and "Decimal(" not in r.stdout  # no Python dicts or reprs
    lines = _table_lines(r.stdout, 80)
    assert data["withdrawals_evaluated"] > 0 and data["hits_per_rule"], data

    def figure(label: str) -> str:
        found = [line for line in lines if line.startswith(label + " ")]
        assert len(found) == 1, (label, lines)
        return found[0].split()[-1]

    for label, key in (("withdrawals evaluated", "withdrawals_evaluated"), ("held", "held"), ("blocked", "blocked"),
                       ("withdrawals intercepted", "withdrawals_intercepted"), ("users protected", "users_protected"),
                       ("false positives", "false_positives")):  # fmt: skip
        assert int(figure(label).replace(",", "")) == data[key], label
    assert _close(figure("value preserved (USD)"), data["value_preserved_usd"])
    for rule, hits in data["hits_per_rule"].items():
        assert int(_row(lines, rule)[-1].replace(",", "")) == hits
    for day, n in data["daily_interceptions"].items():
        assert int(_row(lines, day)[-1].replace(",", "")) == n


def test_risk_replay_against_no_service_is_one_line(tmp_path: Path) -> None:
    r = run("risk", "replay", "--base-url", "http://127.0.0.1:1", "--users", "10", cwd=tmp_path)
    assert r.returncode == 2
    assert error_line(r).startswith("error: cannot reach the service at http://127.0.0.1:1: ")
    assert r.stderr.count("replaying events") <= 1  # one bar, not a line per tick


def test_the_demo_step_headers_are_not_cut_at_80_columns() -> None:
    from rich.console import Console

    from bastion.cli import _demo_month

    title = "reserves: wallet ownership signatures over the round's challenge, balances, reserve ratios"
    saved = _demo_month.console
    _demo_month.console = Console(width=80, record=True, color_system=None)
    try:
        _demo_month._step(4, 6, title)
        text = " ".join(_demo_month.console.export_text().split())
    finally:
        _demo_month.console = saved
    assert f"4/6 {title}" in text and "…" not in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["risk", "metrics"], "error: Missing option '--month'. (see: bastion risk metrics --help)"),
        (["por", "report", ".", "--nope"], "error: No such option: --nope (see: bastion por report --help)"),
        (["nosuch"], "error: No such command 'nosuch'. (see: bastion --help)"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    r = subprocess.run(
        [sys.executable, "-c", "import sys; from bastion.cli import main; sys.argv[0] = 'bastion'; main()", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip() == expected and r.stdout == ""
