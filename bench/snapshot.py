"""Benchmark of the PoR snapshot input: `python bench/snapshot.py [--users 100000 1000000] [--assets 22]`.

For each size: simulate the snapshot (`bastion.sim.liabilities`), then load and validate it
(`load_snapshot`) in a fresh subprocess, so the peak RSS is the loader's own (the baseline of an empty
interpreter with numpy, numba and pyarrow imported is printed beside it). Writes a Markdown table.
Target (issue 3): 10^7 rows in bounded memory; the simulator makes 10^6 users in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, resource, sys, time
from pathlib import Path
import numpy, numba, pyarrow, pyarrow.csv, pyarrow.compute
from bastion.por.liabilities.snapshot import load_snapshot
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
directory = Path(sys.argv[1])
if sys.argv[2] == "load":
    t0 = time.perf_counter()
    s = load_snapshot(directory)
    seconds = time.perf_counter() - t0
    rows, users = s.n_rows, s.n_users
else:
    seconds, rows, users = 0.0, 0, 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rows": rows, "users": users, "peak_kb": peak, "base_kb": baseline}))
"""


def _child(directory: Path, what: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(directory), what], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--assets", type=int, default=22)
    parser.add_argument("--parquet", action="store_true", help="Load balances.parquet instead of CSV.")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from bastion.sim.liabilities import simulate_liabilities

    _child(ROOT, "warm")  # compile/cache the numba kernel once, outside the timings
    lines = [
        f"Snapshot input, {args.assets} assets, {'Parquet' if args.parquet else 'CSV'}",
        "",
        "| users | rows | file MB | simulate s | load s | rows/s | peak RSS MB | baseline RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print("\n".join(lines), flush=True)
    for users in args.users:
        with tempfile.TemporaryDirectory(prefix="bastion-snapshot-") as tmp:
            directory = Path(tmp)
            t0 = time.perf_counter()
            truth = simulate_liabilities(directory, users=users, assets=args.assets, seed=1, parquet=args.parquet)
            simulate = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
            r = _child(directory, "load")
            if r["rows"] != truth.rows:
                raise SystemExit(f"loaded {r['rows']} rows, simulator wrote {truth.rows}")
            line = (
                f"| {users:,} | {truth.rows:,} | {size:.0f} | {simulate:.1f} | {r['seconds']:.1f} | "
                f"{truth.rows / r['seconds']:,.0f} | {r['peak_kb'] / 1024:.0f} | {r['base_kb'] / 1024:.0f} |"
            )
            lines.append(line)
            print(line, flush=True)


if __name__ == "__main__":
    main()
