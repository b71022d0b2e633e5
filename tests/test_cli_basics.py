"""The command line a stranger meets first: --help, --version, the example proof and the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bastion import __version__


def _bastion(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from bastion.cli import main; main()", *args],
        capture_output=True, text=True, timeout=600, cwd=cwd,
    )


def test_version_and_help() -> None:
    out = _bastion("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"bastion {__version__}"
    helped = _bastion("--help")
    assert helped.returncode == 0
    for command in ("demo", "stark", "por", "serve", "keys"):
        assert command in helped.stdout


def test_example_proof_writes_a_verifiable_file(tmp_path: Path) -> None:
    proof_file = tmp_path / "fib.proof"
    out = _bastion("stark", "example", "--air", "fibonacci", "--log-rows", "8", "--out", str(proof_file))
    assert out.returncode == 0, out.stderr
    data = proof_file.read_bytes()
    assert data[:4] == b"BSTK"
    # the file is a real proof: it verifies for the statement it claims and not for another
    from bastion.cli.stark_examples import FibonacciAir
    from bastion.stark.uni.verifier import is_valid

    n_used = (1 << 8) - 128
    _, result = FibonacciAir.trace(n_used)
    assert is_valid(FibonacciAir(n_used, result), data)
    assert not is_valid(FibonacciAir(n_used, result + 1), data)


def test_unknown_example_is_a_clear_error() -> None:
    out = _bastion("stark", "example", "--air", "nope")
    assert out.returncode != 0
    assert "unknown example AIR" in out.stdout + out.stderr


def test_demo_runs_the_month_end_to_end(tmp_path: Path) -> None:
    # the README's first command at a small size: month through the service, proof of reserves, report
    out = _bastion("demo", "--out", str(tmp_path / "demo"), "--users", "40", "--holders", "300", "--month", "2026-09")
    assert out.returncode == 0, out.stdout + out.stderr
    demo = tmp_path / "demo"
    for path in ("report/report.html", "report/report.pdf", "round/round.json", "round/leaves.bin",
                 "round/reserves.json", "month/ground-truth.json"):
        assert (demo / path).is_file(), path
    assert (demo / "report" / "report.pdf").read_bytes()[:5] == b"%PDF-"
    proofs = list(demo.glob("user-proof-*.json"))
    assert len(proofs) == 1
    labels = [line.split(":")[0] for line in out.stdout.strip().splitlines()]
    ending = ["report", "signed", "round", "wallets", "user proof", "web page", "reserve table", "risk", "API keys",
              "fund", "funds page", "pfund"]  # fmt: skip
    assert labels[-len(ending):] == ending, labels[-len(ending):]
    lines = out.stdout.strip().splitlines()
    command = lines[labels.index("signed")].split(":", 1)[1].split()  # the printed `bastion report verify ...`
    assert command[:3] == ["bastion", "report", "verify"]
    signed = _bastion(*command[1:])
    assert signed.returncode == 0 and signed.stdout.startswith("OK"), signed.stdout + signed.stderr
    # the user protection fund's wallets verified in the round, and its section in the report
    assert "user protection fund: 2/2 wallets verified" in out.stdout
    report = (demo / "report" / "report.html").read_text()
    assert "User protection fund" in report and "Beginner protection" in report
    check = _bastion("por", "verify-user", str(proofs[0]), "--round", str(demo / "round"))
    assert check.returncode == 0 and "VERIFIED" in check.stdout
    # Every command the README's table offers to try on the demo's output runs as printed there (from a scratch
    # directory: what a command writes by default, e.g. ./bastion-data, stays out of the checkout).
    for command in _readme_demo_commands(demo, month="2026-09"):
        done = _bastion(*command[1:], cwd=tmp_path)
        assert done.returncode == 0, f"README command {' '.join(command)} failed:\n{done.stdout}{done.stderr}"


def _readme_demo_commands(demo: Path, month: str) -> list[list[str]]:
    """The `bastion ...` commands of the README's "What runs today" table, with the demo's paths filled in.

    A command that starts a server (`serve`) or names a placeholder the reader fills in (`--uid U`) is left out.
    """
    import glob
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert not re.search(r"^(<{7}|={7}|>{7})( |$)", readme, re.M), "README.md holds merge-conflict markers"
    table = readme.split("## What runs today", 1)[1].split("\n\n")
    rows = [line for block in table[:4] for line in block.splitlines() if line.startswith("| ")]
    db = f"sqlite:///{demo / 'month' / 'bastion.sqlite'}"
    commands: list[list[str]] = []
    for row in rows:
        for text in re.findall(r"`(bastion [^`]+)`", row.rsplit("|", 2)[-2]):
            words = text.replace("$DB", db).replace("$M", month).replace("demo-out", str(demo)).split()
            if words[1] == "serve" or "U" in words:
                continue
            commands.append([w for pattern in words for w in (sorted(glob.glob(pattern)) or [pattern])])
    assert len(commands) >= 12, commands  # the table was found and read
    return commands
