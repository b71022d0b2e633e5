"""`bastion serve` as a real process for tests: started with its stderr in a file (a pipe nobody reads fills up and
blocks the server), waited for with a deadline, stopped in any case. A server that does not come up is killed
before its output is read, so the test fails with that output instead of hanging on a pipe that never closes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bastion.service.testing import free_port

BIN = Path(sys.executable).with_name("bastion")
# A loaded 2-core machine can take a minute to import, migrate and bind.
READY_SECONDS = 120.0


@dataclass(frozen=True)
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        """Everything the server printed on stderr so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start(env: dict[str, str], log_dir: Path, *args: str) -> Served:
    """`bastion serve --port <free> *args`, not waited for."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"serve-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), *args], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    return Served(proc, f"http://127.0.0.1:{port}", log)


def wait_ready(served: Served, seconds: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if served.proc.poll() is not None or time.monotonic() > deadline:
            stop(served)
            raise RuntimeError(f"bastion serve did not start: {served.output()}")
        time.sleep(0.1)


def stop(*servers: Served) -> None:
    """SIGTERM to all (they shut down in parallel), then wait; killed after 20 s."""
    for served in servers:
        if served.proc.poll() is None:
            served.proc.terminate()
    for served in servers:
        try:
            served.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait()


@contextmanager
def serving(envs: list[dict[str, str]], log_dir: Path, *args: str) -> Iterator[list[Served]]:
    """One `bastion serve` per environment, all ready, stopped when the block ends."""
    started = [start(env, log_dir, *args) for env in envs]
    try:
        for served in started:
            wait_ready(served)
        yield started
    finally:
        stop(*started)
