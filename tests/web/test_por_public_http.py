"""The public page's HTTP side against the real server: what it publishes, and what it must never serve."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from web_round import WebRound, serve


def _raw_get(base_url: str, raw_path: str) -> int:
    """GET a path exactly as written (no client-side normalisation of '..' or percent escapes)."""
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_root_redirects_to_the_page_and_the_page_allows_only_its_own_scripts(por_server: str) -> None:
    r = httpx.get(f"{por_server}/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/por/"
    page = httpx.get(f"{por_server}/por/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
    # Nothing on the page comes from anywhere else.
    assert "http://" not in page.text and "https://" not in page.text
    js = httpx.get(f"{por_server}/por/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{por_server}/por/static/nope.js").status_code == 404


def test_the_published_round_is_round_json(por_server: str, web_round: WebRound) -> None:
    view = httpx.get(f"{por_server}/por/api/round").json()
    rj = web_round.round_json
    assert view["round"]["exchange"] == rj["exchange"]
    assert view["round"]["round_id"] == rj["round_id"]
    assert view["round"]["snapshot_time"] == rj["snapshot_time"]
    assert view["round"]["circuit_digest"] == rj["circuit"]["digest"]
    assert view["round"]["leaf_root"] == rj["leaves"]["root"]
    assert view["round"]["leaf_count"] == rj["leaves"]["count"]
    reserves = json.loads((web_round.path / "reserves.json").read_text())
    assert [a["asset"] for a in view["assets"]] == [a["asset"] for a in rj["assets"]]
    for line, asset in zip(view["assets"], rj["assets"], strict=True):
        assert line["net_liabilities"] == asset["net_liabilities"]
        held = Decimal(reserves["assets"][asset["asset"]]["reserves"])
        assert Decimal(line["reserves"]) == held
        ratio = held / Decimal(asset["net_liabilities"])
        assert line["ratio_percent"] == f"{(ratio * 100).quantize(Decimal('0.01'))}%"
    assert view["reserves"]["status"] == "ok"
    assert view["reserves_missing"] is None


def test_a_round_without_reserves_shows_liabilities_only(bare_server: str, bare_round: WebRound) -> None:
    view = httpx.get(f"{bare_server}/por/api/round").json()
    assert view["reserves"] is None
    assert "reserves.json" in view["reserves_missing"]
    assert [line["net_liabilities"] for line in view["assets"]] == [
        a["net_liabilities"] for a in bare_round.round_json["assets"]
    ]
    assert all(line["reserves"] is None and line["ratio_percent"] is None for line in view["assets"])


def test_public_files_download_with_the_digests_of_round_json(por_server: str, web_round: WebRound) -> None:
    view = httpx.get(f"{por_server}/por/api/round").json()
    names = {f["name"] for f in view["files"]}
    assert names == {"round.json", "leaves.bin", "batches/batch-00000.proof", "aggregate.proof", "reserves.json"}
    rj = web_round.round_json
    leaves = httpx.get(f"{por_server}/por/files/leaves.bin")
    assert leaves.status_code == 200 and hashlib.sha256(leaves.content).hexdigest() == rj["leaves"]["sha256"]
    batch = httpx.get(f"{por_server}/por/files/batches/batch-00000.proof")
    assert hashlib.sha256(batch.content).hexdigest() == rj["batches"][0]["sha256"]
    agg = httpx.get(f"{por_server}/por/files/aggregate.proof")
    assert agg.status_code == 200 and hashlib.sha256(agg.content).hexdigest() == rj["aggregate"]["sha256"]
    assert httpx.get(f"{por_server}/por/files/round.json").json() == rj


@pytest.mark.parametrize(
    "raw_path",
    [
        "/por/files/private/user-salts.json",
        "/por/files/private/",
        "/por/files/users/u000000.json",
        "/por/files/batches/../private/user-salts.json",
        "/por/files/../round.json",
        "/por/files/%2e%2e/%2e%2e/etc/passwd",
        "/por/files/batches/%2e%2e/private/user-salts.json",
        "/por/files/private%2fuser-salts.json",
        "/por/files//etc/passwd",
        "/por/files/./round.json",
        "/por/files/batches",
        "/por/files/",
    ],
)
def test_private_files_and_traversal_are_refused(por_server: str, web_round: WebRound, raw_path: str) -> None:
    assert (web_round.path / "private" / "user-salts.json").exists()
    assert _raw_get(por_server, raw_path) == 404


def test_a_round_json_naming_secret_files_or_symlinks_to_them_gets_nothing(
    web_round: WebRound, tmp_path: Path
) -> None:
    """round.json is the exchange's own file, but even a wrong one must not publish private/ or users/."""
    rd = tmp_path / "round"
    shutil.copytree(web_round.path, rd)
    os.symlink(rd / "private" / "user-salts.json", rd / "batches" / "batch-00001.proof")
    os.symlink(rd / "users", rd / "batches" / "people")
    raw = json.loads((rd / "round.json").read_text())
    for name in ("batches/batch-00001.proof", "private/user-salts.json", "users/u000000.json",
                 "batches/people/u000000.json", "/etc/passwd", "../round/private/user-salts.json"):
        raw["batches"].append({"index": 9, "file": name, "sha256": "00"})
    (rd / "round.json").write_text(json.dumps(raw))
    with serve(tmp_path / "srv", rd) as base_url:
        listed = {f["name"] for f in httpx.get(f"{base_url}/por/api/round").json()["files"]}
        assert listed == {"round.json", "leaves.bin", "batches/batch-00000.proof", "aggregate.proof", "reserves.json"}
        for name in ("batches/batch-00001.proof", "private/user-salts.json", "users/u000000.json",
                     "batches/people/u000000.json"):
            assert httpx.get(f"{base_url}/por/files/{name}").status_code == 404, name
        assert _raw_get(base_url, "/por/files/../round/private/user-salts.json") == 404


def test_without_a_round_the_page_says_so(tmp_path: Path) -> None:
    with serve(tmp_path / "srv", None) as base_url:
        r = httpx.get(f"{base_url}/por/api/round")
        assert r.status_code == 404 and "BASTION_ROUND_DIR" in r.text
        assert httpx.get(f"{base_url}/por/files/round.json").status_code == 404
        assert httpx.get(f"{base_url}/por/").status_code == 200


def test_bastion_serve_round_publishes_the_directory(web_round: WebRound, tmp_path: Path) -> None:
    """The real command: `bastion serve --round DIR` (workers read the directory from BASTION_ROUND_DIR)."""
    import subprocess
    import sys
    import time

    from bastion.service.testing import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env |= {"BASTION_DATA_DIR": str(tmp_path / "data"), "BASTION_KEYS_SWEEP_INTERVAL_SECONDS": "0",
            "COLUMNS": "400"}
    cli = [sys.executable, "-c", "from bastion.cli import main; main()", "serve"]
    bad = subprocess.run([*cli, "--round", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "has no round.json" in bad.stderr

    port = free_port()
    proc = subprocess.Popen([*cli, "--round", str(web_round.path), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/por/api/round", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "bastion serve did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["round"]["leaf_root"] == web_round.round_json["leaves"]["root"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
