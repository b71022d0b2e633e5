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
    from bastion.stark.examples import FibonacciAir
    from bastion.stark.verifier import is_valid

    n_used = (1 << 8) - 128
    _, result = FibonacciAir.trace(n_used)
    assert is_valid(FibonacciAir(n_used, result), data)
    assert not is_valid(FibonacciAir(n_used, result + 1), data)


def test_unknown_example_is_a_clear_error() -> None:
    out = _bastion("stark", "example", "--air", "nope")
    assert out.returncode != 0
    assert "unknown example AIR" in out.stdout + out.stderr


def test_demo_writes_proofs(tmp_path: Path) -> None:
    out = _bastion("demo", "--out", str(tmp_path / "demo"), "--log-rows", "9")
    assert out.returncode == 0, out.stderr
    written = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert written == ["cubic-mix.proof", "fibonacci.proof", "hash-chain.proof", "range-check.proof"]
    assert "demo" in out.stdout
