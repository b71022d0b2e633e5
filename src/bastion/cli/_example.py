"""Shared body of `bastion stark example` and (until the full demo exists) `bastion demo`."""

from __future__ import annotations

import random
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _build(air_name: str, log_rows: int):  # type: ignore[no-untyped-def]
    from bastion.cli.stark_examples import CubicMixAir, FibonacciAir, RangeCheckAir

    n_used = (1 << log_rows) - 128  # leave room for the blinding rows inside 2^log_rows
    n_used = max(n_used, 2)
    if air_name == "fibonacci":
        main, result = FibonacciAir.trace(n_used)
        return FibonacciAir(n_used, result), main
    if air_name == "cubic-mix":
        return CubicMixAir.instance(16, n_used)
    if air_name == "range-check":
        bits = min(16, max(1, log_rows - 1))
        rng = random.Random(1)
        return RangeCheckAir.instance([rng.randrange(1 << bits) for _ in range(max(n_used, 1 << bits))], bits)
    if air_name == "hash-chain":
        import importlib

        poseidon2_air = importlib.import_module("bastion.stark.air.poseidon2_air")
        return poseidon2_air.HashChainAir.instance(n_used)
    raise typer.BadParameter(f"unknown example AIR {air_name!r}", param_hint="--air")


def prove_and_verify(air_name: str, log_rows: int, out: Path | None) -> dict[str, object]:
    from bastion.stark.uni.params import DEFAULT_PARAMS
    from bastion.stark.uni.prover import prove
    from bastion.stark.uni.verifier import verify

    with console.status(f"[bold]{air_name}[/]: building the trace"):
        air, main = _build(air_name, log_rows)
    with console.status(f"[bold]{air_name}[/]: proving {air.n_used} rows x {air.main_width} columns") as st:
        t0 = time.perf_counter()
        proof = prove(air, main, DEFAULT_PARAMS, progress=lambda msg: st.update(f"[bold]{air_name}[/]: {msg}"))
        prove_s = time.perf_counter() - t0
    with console.status(f"[bold]{air_name}[/]: verifying"):
        t0 = time.perf_counter()
        verify(air, proof, DEFAULT_PARAMS)
        verify_s = time.perf_counter() - t0
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(proof)
    return {
        "air": air_name,
        "rows": air.n_used,
        "columns": air.main_width,
        "prove_s": prove_s,
        "verify_s": verify_s,
        "proof_bytes": len(proof),
        "file": str(out) if out else "",
    }


def _table(rows: list[dict[str, object]]) -> Table:
    table = Table(title="zk-STARK example proofs (>= 100-bit conjectured security)")
    for col in ("AIR", "rows", "cols", "prove", "verify", "proof size", "file"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["air"]), f"{r['rows']:,}", str(r["columns"]), f"{r['prove_s']:.2f} s",
            f"{float(r['verify_s']) * 1000:.0f} ms",  # type: ignore[arg-type]
            f"{int(r['proof_bytes']) / 1024:.1f} KiB",  # type: ignore[call-overload]
            str(r["file"]),
        )
    return table


def run_example(air_name: str, log_rows: int, out: Path | None) -> None:
    console.print(_table([prove_and_verify(air_name, log_rows, out)]))
