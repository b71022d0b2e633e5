"""What the benchmarks share: measuring the server they start (bench/*.py run as scripts, so this folder is on
their import path)."""

from __future__ import annotations

import os
from pathlib import Path


def server_cpu_seconds(pid: int) -> float:
    """CPU (user + system) of the server process and its workers so far, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total
