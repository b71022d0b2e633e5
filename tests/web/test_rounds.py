"""Rounds over time: `bastion serve --rounds DIR` publishes every round in DIR, numbered in order of snapshot
time (not of folder name), with the change since the previous round and the trend per asset, computed here
independently from each round's round.json and reserves.json; every round keeps its own page and files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_round import WebRound, make_round, serve, verify_file

# (folder, round id, snapshot time, seed, users, asset under 100%): folders deliberately not in time order
ROUNDS = [
    ("b-nov", "2026-11", "2026-11-30T23:59:59Z", 31, 9, None),
    ("a-sep", "2026-09", "2026-09-30T23:59:59Z", 32, 6, None),
    ("c-oct", "2026-10", "2026-10-31T23:59:59Z", 33, 7, "ETH"),
]
ORDER = ["2026-09", "2026-10", "2026-11"]


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, WebRound]:
    base = tmp_path_factory.mktemp("rounds") / "published"
    out = {}
    for folder, rid, snap, seed, users, short in ROUNDS:
        out[rid] = make_round(base / folder, seed=seed, users=users, round_id=rid, snapshot_time=snap,
                              reserves_shortfall=short)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def rounds_server(rounds: dict[str, WebRound], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = next(iter(rounds.values())).path.parent
    with serve(tmp_path_factory.mktemp("srv-rounds"), None, base) as url:
        yield url


def _expected(r: WebRound) -> dict[str, Any]:
    """A round's figures straight from its files: user assets, wallet assets and prices per asset."""
    reserves = json.loads((r.path / "reserves.json").read_text())["assets"]
    return {
        a["asset"]: (Decimal(a["net_liabilities"]), Decimal(reserves[a["asset"]]["reserves"]), Decimal(a["price_usd"]))
        for a in r.round_json["assets"]
    }


def test_the_index_numbers_rounds_by_snapshot_time_with_totals_change_and_trend(
    rounds_server: str, rounds: dict[str, WebRound]
) -> None:
    h = httpx.get(f"{rounds_server}/por/api/rounds").json()
    assert h["count"] == 3 and h["latest"] == "2026-11"
    assert [r["id"] for r in h["rounds"]] == ORDER
    assert [r["number"] for r in h["rounds"]] == [1, 2, 3]
    assert [r["publication"] for r in h["rounds"]] == [
        "the 1st consecutive monthly publication",
        "the 2nd consecutive monthly publication",
        "the 3rd consecutive monthly publication",
    ]
    assert [r["previous_round_id"] for r in h["rounds"]] == [None, "2026-09", "2026-10"]
    assert [r["status"] for r in h["rounds"]] == ["ok", "not_fully_reserved", "ok"]
    for i, r in enumerate(h["rounds"]):
        now = _expected(rounds[r["id"]])
        users_usd = sum(net * price for net, _, price in now.values())
        wallets_usd = sum(held * price for _, held, price in now.values())
        assert Decimal(r["totals"]["user_assets_usd"]) == users_usd
        assert Decimal(r["totals"]["wallet_assets_usd"]) == wallets_usd
        assert Decimal(r["totals"]["ratio"]) == wallets_usd / users_usd
        if i == 0:
            assert r["totals"]["user_assets_usd_change"] is None
            assert all(a["user_assets_change"] is None for a in r["assets"])
            continue
        before = _expected(rounds[ORDER[i - 1]])
        before_usd = sum(net * price for net, _, price in before.values())
        assert Decimal(r["totals"]["user_assets_usd_change"]) == users_usd - before_usd
        for a in r["assets"]:
            net, held, _ = now[a["asset"]]
            assert Decimal(a["user_assets_change"]) == net - before[a["asset"]][0]
            assert Decimal(a["wallet_assets_change"]) == held - before[a["asset"]][1]
            assert Decimal(a["previous_ratio"]) == before[a["asset"]][1] / before[a["asset"]][0]
    # the trend: each asset's figures in every round, oldest first
    for asset, points in h["trend"].items():
        assert [p["round_id"] for p in points] == ORDER
        for p in points:
            net, held, _ = _expected(rounds[p["round_id"]])[asset]
            assert (Decimal(p["user_assets"]), Decimal(p["wallet_assets"])) == (net, held)
            assert Decimal(p["ratio"]) == held / net
    eth = [Decimal(p["ratio"]) for p in h["trend"]["ETH"]]
    assert eth[1] < 1 <= eth[0] and eth[2] >= 1  # October's ETH shortfall shows in the trend


def test_each_round_keeps_its_page_data_and_files_and_never_its_secrets(
    rounds_server: str, rounds: dict[str, WebRound]
) -> None:
    newest = httpx.get(f"{rounds_server}/por/api/round").json()
    assert newest["round"]["round_id"] == "2026-11" and newest["history"]["number"] == 3
    assert newest["history"]["rounds"] == 3
    for number, rid in enumerate(ORDER, start=1):
        r = rounds[rid]
        view = httpx.get(f"{rounds_server}/por/api/rounds/{rid}").json()
        assert view["round"]["leaf_root"] == r.round_json["leaves"]["root"]
        assert view["history"]["number"] == number
        files = {f["name"]: f["url"] for f in view["files"]}
        assert files["round.json"] == f"/por/rounds/{rid}/files/round.json"
        for name, url in files.items():
            assert httpx.get(f"{rounds_server}{url}").content == (r.path / name).read_bytes(), name
        for secret in ("private/user-salts.json", f"users/{r.uids[0]}.json"):
            assert httpx.get(f"{rounds_server}/por/rounds/{rid}/files/{secret}").status_code == 404
    missing = httpx.get(f"{rounds_server}/por/api/rounds/2026-12")
    assert missing.status_code == 404 and "2026-12" in missing.text
    assert httpx.get(f"{rounds_server}/por/rounds/2026-12/files/round.json").status_code == 404
    # the newest round's files stay at their old address too
    newest_json = (rounds["2026-11"].path / "round.json").read_bytes()
    assert httpx.get(f"{rounds_server}/por/files/round.json").content == newest_json


def test_a_round_added_later_is_numbered_next(rounds: dict[str, WebRound], tmp_path: Path) -> None:
    base = tmp_path / "published"
    shutil.copytree(next(iter(rounds.values())).path.parent, base)
    with serve(tmp_path / "srv", None, base) as url:
        assert httpx.get(f"{url}/por/api/rounds").json()["count"] == 3
        make_round(base / "d-jan", seed=40, users=4, round_id="2027-01", snapshot_time="2027-01-31T23:59:59Z")
        h = httpx.get(f"{url}/por/api/rounds").json()
        assert [r["id"] for r in h["rounds"]] == [*ORDER, "2027-01"]
        # December was not published: the 4th publication, but the 1st of a new run of consecutive months
        assert h["rounds"][-1]["publication"] == "the 4th publication (1st consecutive month)"
        assert httpx.get(f"{url}/por/api/round").json()["round"]["round_id"] == "2027-01"


def test_two_folders_with_one_round_id_are_refused(rounds: dict[str, WebRound], tmp_path: Path) -> None:
    base = tmp_path / "published"
    shutil.copytree(next(iter(rounds.values())).path.parent, base)
    shutil.copytree(base / "a-sep", base / "z-sep-again")
    with serve(tmp_path / "srv", None, base) as url:
        r = httpx.get(f"{url}/por/api/rounds")
        assert r.status_code == 500 and "'2026-09' is in both a-sep and z-sep-again" in r.text
    cli = subprocess.run([*CLI, "--rounds", str(base)], env=_env(tmp_path), capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert cli.returncode == 2 and "is in both a-sep and z-sep-again" in cli.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    cli = subprocess.run([*CLI, "--rounds", str(empty)], env=_env(tmp_path), capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert cli.returncode == 2 and "has no round directory" in cli.stderr
    both = subprocess.run([*CLI, "--rounds", str(base), "--round", str(base / "a-sep")], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert both.returncode == 2 and "not both" in both.stderr


CLI = [sys.executable, "-c", "from bastion.cli import main; main()", "serve"]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    return env | {"BASTION_DATA_DIR": str(tmp / "data"), "BASTION_KEYS_SWEEP_INTERVAL_SECONDS": "0", "COLUMNS": "400"}


def test_bastion_serve_rounds_publishes_every_round(rounds: dict[str, WebRound], tmp_path: Path) -> None:
    """The real command, `bastion serve --rounds DIR` (workers read BASTION_ROUNDS_DIR)."""
    from bastion.service.testing import free_port

    base = next(iter(rounds.values())).path.parent
    port = free_port()
    proc = subprocess.Popen([*CLI, "--rounds", str(base), "--port", str(port)], env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/por/api/rounds", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "bastion serve did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and [x["id"] for x in r.json()["rounds"]] == ORDER
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.browser
def test_the_rounds_page_lists_them_and_each_round_page_verifies_its_own_proofs(
    page: Any, rounds_server: str, rounds: dict[str, WebRound]
) -> None:
    page.goto(f"{rounds_server}/por/rounds")
    page.wait_for_selector("body[data-loaded='1']")
    rows = page.locator("#rounds tbody tr")
    assert rows.count() == 3
    listed = [rows.nth(i).locator("td").all_inner_texts() for i in range(3)]
    assert [(r[0], r[1]) for r in listed] == [("3", "2026-11"), ("2", "2026-10"), ("1", "2026-09")]
    assert listed[2][6] == "first round"
    assert "the 3rd consecutive monthly publication" in page.inner_text("#rounds-lead")
    assert "NOT FULLY RESERVED" in listed[1][7]
    eth = page.locator("#trend tr[data-asset='ETH'] td[data-round='2026-10'] .ratio").inner_text()
    assert eth.startswith("95.") and eth.endswith("▼")
    # each round's own page: its header, and the proofs of its users (and only of its users)
    page.click("#rounds tr[data-round='2026-09'] a")
    page.wait_for_selector("body[data-loaded='1']")
    assert "round=2026-09" in page.url
    sep = rounds["2026-09"]
    assert page.inner_text("#h-round-id") == "2026-09"
    assert page.inner_text("#h-leaf-root") == sep.round_json["leaves"]["root"]
    assert page.inner_text("#h-round-number").startswith("No. 1: the 1st consecutive")
    assert verify_file(page, sep.proof_path(sep.uids[0])) == "Your balances are included in round 2026-09"
    nov = rounds["2026-11"]
    assert verify_file(page, nov.proof_path(nov.uids[0])).startswith("NOT verified")
    page.goto(f"{rounds_server}/por/")
    page.wait_for_selector("body[data-loaded='1']")
    assert page.inner_text("#h-round-id") == "2026-11"
    assert page.inner_text("#h-previous-round") == "2026-10"
    assert verify_file(page, nov.proof_path(nov.uids[0])) == "Your balances are included in round 2026-11"
    assert not page.recorded.console, page.recorded.console
