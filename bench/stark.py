"""Benchmark of the zk-STARK engine: `python bench/stark.py [--quick] [--runs 3]` writes a Markdown table.

Rows: NTT per column at 2^20 (batch of 32) and 2^22 (batch of 8), the x4 low-degree extension of 64 columns
of 2^20, Poseidon2 permutations per second, the Merkle commitment of 2^22 rows x 64 columns, and prove time,
verify time, proof size and peak memory for a 2^20-row x 64-column AIR with degree-3 constraints
(CubicMixAir) at the default (>= 100-bit) parameters, with a breakdown of where the prover's time goes.

Every figure is the MEDIAN of ``--runs`` (>= 3) timed runs, with the min and max beside it; never the best
run. Each figure is timed in wall-clock seconds and in process CPU seconds (all threads): on a shared machine
the wall clock moves with everyone else's load, the CPU time much less, so compare CPU time (or alternate
old and new runs) to judge a change. The header states the core count and the load average at the start
and the end. Kernels are compiled (or loaded from the numba cache) by a warm-up call outside every timing.
Each proving run happens in a fresh subprocess so its peak RSS is its own. Targets: issue #19.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


class Sample:
    """Wall and CPU seconds of repeated runs: median, min, max."""

    def __init__(self, wall: list[float], cpu: list[float]) -> None:
        self.wall = wall
        self.cpu = cpu

    def scaled(self, factor: float) -> Sample:
        return Sample([w * factor for w in self.wall], [c * factor for c in self.cpu])

    @staticmethod
    def _fmt(values: list[float], unit: str, scale: float, digits: int) -> str:
        med = statistics.median(values) * scale
        return f"{med:.{digits}f} {unit} (min {min(values) * scale:.{digits}f}, max {max(values) * scale:.{digits}f})"

    def wall_text(self, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
        return self._fmt(self.wall, unit, scale, digits)

    def cpu_text(self, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
        return self._fmt(self.cpu, unit, scale, digits)


def measure(fn: Callable[[], object], runs: int) -> Sample:
    fn()  # warm-up: compile or load the kernels, fault in the twiddle caches
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Sample(wall, cpu)


def bench_ntt(log_n: int, columns: int, runs: int) -> Sample:
    from bastion.stark.poly.ntt import ntt

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(columns, 1 << log_n), dtype=np.uint64)
    return measure(lambda: ntt(a), runs).scaled(1 / columns)


def bench_lde(log_n: int, columns: int, runs: int) -> Sample:
    from bastion.stark.poly.ntt import lde

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(columns, 1 << log_n), dtype=np.uint64)
    lde(a[:, :1024], 4, 7)  # compile on a small input: the timed calls then all do the full work
    return measure(lambda: lde(a, 4, 7), runs)


def bench_poseidon2(n: int, runs: int) -> list[float] | None:
    try:
        from bastion.stark.hash import poseidon2
    except ImportError:
        return None
    fn = getattr(poseidon2, "bench_permutations", None)
    if fn is None:
        return None
    fn(1 << 12)
    return [float(fn(n)) for _ in range(runs)]


def bench_merkle(log_n: int, width: int, runs: int) -> Sample:
    from bastion.stark.commit.merkle import MerkleTree

    rng = np.random.default_rng(0)
    cols = rng.integers(0, 2**63, size=(width, 1 << log_n), dtype=np.uint64)
    MerkleTree.commit(cols[:, : 1 << 14])
    return measure(lambda: MerkleTree.commit(cols), runs)


# The proving child: times prove() as a whole and, through wrappers around the prover's module-level steps,
# where its time goes (wall and CPU seconds per phase). The wrappers cost a few function calls a proof.
_CHILD = r"""
import functools, json, resource, sys, time
from bastion.stark.commit import merkle
from bastion.stark.uni import prover as PV
from bastion.cli.stark_examples import CubicMixAir
from bastion.stark.uni.params import DEFAULT_PARAMS
from bastion.stark.uni.verifier import verify
width, n_used = int(sys.argv[1]), int(sys.argv[2])
air, main = CubicMixAir.instance(width, n_used)
phases = {}
stack = []  # time spent in timed calls nested in the open ones: each phase's figures are exclusive
def timed(label, f):
    @functools.wraps(f)
    def g(*a, **k):
        stack.append([0.0, 0.0])
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            w, c = time.perf_counter() - t0, time.process_time() - c0
            inner = stack.pop()
            p = phases.setdefault(label, [0.0, 0.0])
            p[0] += w - inner[0]
            p[1] += c - inner[1]
            if stack:
                stack[-1][0] += w
                stack[-1][1] += c
    return g
LDE = "LDE (interpolate + coset evaluation)"
for name, label in [("lde", LDE), ("intt_bitrev", LDE), ("coset_evaluate_bitrev", LDE), ("coset_evaluate", LDE),
                    ("_periodic_lde", LDE), ("_public_lde", LDE),
                    ("_blind", "blinding rows"),
                    ("_composition", "constraint evaluation"),
                    ("coset_interpolate", "quotient interpolation + chunks"),
                    ("randomized_chunks", "quotient interpolation + chunks"),
                    ("_point_values_from_evals", "out-of-domain values"),
                    ("_ext_point_values", "out-of-domain values"),
                    ("_deep_composition", "DEEP composition")]:
    setattr(PV, name, timed(label, getattr(PV, name)))
PV.fri.commit_phase = timed("FRI folds", PV.fri.commit_phase)
PV.fri.query_openings = timed("openings", PV.fri.query_openings)
merkle.MerkleTree.open = timed("openings", merkle.MerkleTree.open)
_commit = merkle.MerkleTree.commit.__func__
merkle.MerkleTree.commit = classmethod(timed("Merkle commitments (trace, quotient, FRI layers)", _commit))
t0, c0 = time.perf_counter(), time.process_time()
proof = PV.prove(air, main, DEFAULT_PARAMS)
prove_s, prove_cpu = time.perf_counter() - t0, time.process_time() - c0
verify(air, proof, DEFAULT_PARAMS)  # warm the verifier's kernels
t0 = time.perf_counter()
verify(air, proof, DEFAULT_PARAMS)
verify_s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"prove_s": prove_s, "prove_cpu": prove_cpu, "verify_s": verify_s, "proof_bytes": len(proof),
                  "peak_bytes": peak, "phases": phases}))
"""


def bench_prove(log_rows: int, width: int, runs: int) -> list[dict[str, object]]:
    from bastion.stark.uni.params import DEFAULT_PARAMS

    n_used = (1 << log_rows) - DEFAULT_PARAMS.zk_rows  # so the blinded trace is exactly 2^log_rows
    # a small warm-up run in its own process fills the numba cache so the timing excludes compilation
    subprocess.run([sys.executable, "-c", _CHILD, str(width), "200"], check=True, capture_output=True)
    out = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-c", _CHILD, str(width), str(n_used)], check=True,
                             capture_output=True, text=True)
        out.append(dict(json.loads(res.stdout.strip().splitlines()[-1])))
    return out


def _spread(values: list[float], scale: float = 1.0, unit: str = "s", digits: int = 1) -> str:
    med = statistics.median(values) * scale
    return f"{med:.{digits}f} {unit} (min {min(values) * scale:.{digits}f}, max {max(values) * scale:.{digits}f})"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (2^16 rows) for a smoke run")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per figure (>= 3; the median is reported)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "stark.md")
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs must be at least 3: a figure is the median of at least three runs")
    runs = args.runs
    load_start = _load()
    started = time.strftime("%Y-%m-%d %H:%M")
    log_rows = 16 if args.quick else 20
    big = 18 if args.quick else 22
    rows: list[tuple[str, str, str, str]] = []  # measurement, wall, CPU, target
    at = " at 2^20" if args.quick else ""  # the targets are for the full sizes

    s = bench_ntt(log_rows, 32, runs)
    rows.append((f"NTT 2^{log_rows}, per column (batch of 32)", s.wall_text("ms", 1e3, 1), s.cpu_text("ms", 1e3, 1),
                 f"<= 6 ms{at} (#19; was 15.8 ms)"))
    s = bench_ntt(big, 8, runs)
    rows.append((f"NTT 2^{big}, per column (batch of 8)", s.wall_text("ms", 1e3, 1), s.cpu_text("ms", 1e3, 1), ""))
    s = bench_lde(log_rows, 64, runs)
    rows.append((f"LDE x4 of 64 columns of 2^{log_rows}", s.wall_text(), s.cpu_text(),
                 f"<= 1.8 s{at} (#19; was 4.45 s)"))
    perms = bench_poseidon2(1 << 18, runs)
    rows.append(("Poseidon2 width-12 permutations", _spread(perms, 1e-6, "M/s", 2) if perms else "n/a", "",
                 "~2 M/s per core"))
    s = bench_merkle(big, 64, runs)
    rows.append((f"Merkle commit 2^{big} rows x 64 cols", s.wall_text(), s.cpu_text(), ""))

    from bastion.stark.poly import buffers

    buffers.release()  # the proving children need the memory the transforms above left idle in this process
    results = bench_prove(log_rows, 64, runs)
    label = f"2^{log_rows} rows x 64 cols, degree 3"

    def col(key: str) -> list[float]:
        return [float(r[key]) for r in results]  # type: ignore[arg-type]

    rows.append((f"prove {label}", _spread(col("prove_s")), _spread(col("prove_cpu")), f"< 10 s{at} (#19; was 19.7 s)"))
    rows.append((f"verify {label}", _spread(col("verify_s"), 1e3, "ms", 0), "", f"< 500 ms{at}"))
    rows.append((f"proof size {label}", f"{statistics.median(col('proof_bytes')) / 1024:.0f} KiB", "", ""))
    rows.append((f"peak memory {label}", _spread(col("peak_bytes"), 2**-30, "GiB", 2), "", ""))

    # the breakdown of the median proving run (by wall time)
    ordered = sorted(results, key=lambda r: float(r["prove_s"]))  # type: ignore[arg-type]
    median_run = ordered[len(ordered) // 2]
    phases: dict[str, list[float]] = median_run["phases"]  # type: ignore[assignment]
    total_wall = float(median_run["prove_s"])  # type: ignore[arg-type]
    total_cpu = float(median_run["prove_cpu"])  # type: ignore[arg-type]
    accounted = sum(w for w, _ in phases.values())
    breakdown = [
        f"| {name} | {w:.2f} s | {c:.2f} s | {100 * w / total_wall:.0f}% |"
        for name, (w, c) in sorted(phases.items(), key=lambda kv: -kv[1][0])
    ]
    breakdown.append(f"| other (transcript, grinding, proof encoding...) | {total_wall - accounted:.2f} s | | "
                     f"{100 * (total_wall - accounted) / total_wall:.0f}% |")
    load_end = _load()
    lines = [
        f"# bench/stark.py — {started} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "",
        f"Load average (1/5/15 min) at start {load_start}, at end {load_end}. Figures: median of {runs} runs"
        " (min, max); wall clock and process CPU time (all threads). On a shared machine judge changes by the"
        " CPU time; wall-clock targets need a quiet machine.",
        "",
        "| measurement | wall (median, min, max) | CPU | target |",
        "| --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"Where prove's time goes (the median run: {total_wall:.1f} s wall, {total_cpu:.1f} s CPU):",
        "",
        "| phase | wall | CPU | share of wall |",
        "| --- | --- | --- | --- |",
        *breakdown,
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
