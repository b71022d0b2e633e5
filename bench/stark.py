"""Benchmark of the zk-STARK engine: `python bench/stark.py [--quick]` writes a Markdown table.

Rows: NTT per column at 2^20 and 2^22, Poseidon2 permutations per second, Merkle commitment, and prove
time, verify time, proof size and peak memory for a 2^20-row x 64-column AIR with degree-3
constraints (CubicMixAir) at the default (>= 100-bit) parameters. Each proving run happens in a fresh
subprocess so its peak RSS is its own. Targets (issue 2, 2-core machine): prove < 20 s, verify < 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up (JIT)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_ntt(log_n: int, columns: int) -> float:
    from bastion.stark.ntt import ntt

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(columns, 1 << log_n), dtype=np.uint64)
    return _best(lambda: ntt(a)) / columns


def bench_lde(log_n: int, columns: int) -> float:
    from bastion.stark.ntt import lde

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(columns, 1 << log_n), dtype=np.uint64)
    return _best(lambda: lde(a, 4, 7), repeat=1)


def bench_poseidon2(n: int) -> float | None:
    try:
        from bastion.stark import poseidon2
    except ImportError:
        return None
    fn = getattr(poseidon2, "bench_permutations", None)
    return float(fn(n)) if fn else None


def bench_merkle(log_n: int, width: int) -> float:
    from bastion.stark.merkle import MerkleTree

    rng = np.random.default_rng(0)
    cols = rng.integers(0, 2**63, size=(width, 1 << log_n), dtype=np.uint64)
    return _best(lambda: MerkleTree.commit(cols), repeat=1)


_CHILD = r"""
import json, resource, sys, time
from bastion.stark.examples import CubicMixAir
from bastion.stark.params import DEFAULT_PARAMS
from bastion.stark.prover import prove
from bastion.stark.verifier import verify
width, n_used = int(sys.argv[1]), int(sys.argv[2])
air, main = CubicMixAir.instance(width, n_used)
steps = {}
last = [time.perf_counter(), None]
def progress(msg):
    now = time.perf_counter()
    if last[1] is not None:
        steps[last[1]] = now - last[0]
    last[0], last[1] = now, msg
t0 = time.perf_counter()
proof = prove(air, main, DEFAULT_PARAMS, progress=progress)
prove_s = time.perf_counter() - t0
steps[last[1]] = time.perf_counter() - last[0]
verify(air, proof, DEFAULT_PARAMS)  # warm the verifier's kernels
t0 = time.perf_counter()
verify(air, proof, DEFAULT_PARAMS)
verify_s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"prove_s": prove_s, "verify_s": verify_s, "proof_bytes": len(proof),
                  "peak_bytes": peak, "steps": steps}))
"""


def bench_prove(log_rows: int, width: int) -> dict[str, object]:
    from bastion.stark.params import DEFAULT_PARAMS

    n_used = (1 << log_rows) - DEFAULT_PARAMS.zk_rows  # so the blinded trace is exactly 2^log_rows
    # a small warm-up run in its own process fills the numba cache so the timing excludes compilation
    subprocess.run([sys.executable, "-c", _CHILD, str(width), "200"], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(width), str(n_used)], check=True,
                         capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (2^16 rows) for a smoke run")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "stark.md")
    args = ap.parse_args()
    log_rows = 16 if args.quick else 20
    rows: list[tuple[str, str, str]] = []
    rows.append(("NTT 2^20, per column (batch of 8)", f"{bench_ntt(20, 8) * 1e3:.1f} ms", "~4.4 ms (numba ref.)"))
    rows.append(("NTT 2^22, per column (batch of 8)", f"{bench_ntt(22, 8) * 1e3:.1f} ms", ""))
    rows.append(("LDE x4 of 64 columns of 2^20", f"{bench_lde(20, 64):.2f} s", ""))
    perms = bench_poseidon2(1 << 18)
    rows.append(("Poseidon2 width-12 permutations", f"{perms / 1e6:.2f} M/s" if perms else "n/a",
                 "~2 M/s per core"))
    rows.append(("Merkle commit 2^22 rows x 64 cols", f"{bench_merkle(22, 64):.2f} s", ""))
    r = bench_prove(log_rows, 64)
    label = f"2^{log_rows} rows x 64 cols, degree 3"
    rows.append((f"prove {label}", f"{r['prove_s']:.1f} s", "< 20 s"))
    rows.append((f"verify {label}", f"{float(r['verify_s']) * 1e3:.0f} ms", "< 500 ms"))  # type: ignore[arg-type]
    rows.append((f"proof size {label}", f"{int(r['proof_bytes']) / 1024:.0f} KiB", ""))  # type: ignore[call-overload]
    rows.append((f"peak memory {label}", f"{int(r['peak_bytes']) / 2**30:.2f} GiB", ""))  # type: ignore[call-overload]
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in r["steps"].items())  # type: ignore[attr-defined]
    lines = [
        f"# bench/stark.py — {time.strftime('%Y-%m-%d %H:%M')} on {platform.processor() or platform.machine()},"
        f" {os.cpu_count()} cores",
        "",
        "| measurement | result | target / reference |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Prover steps: {steps}",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
