"""Three rounds made by the real pipeline (a simulated snapshot each month, `prove_round` on small test STARK
parameters, signed demo wallets through `bastion por reserves verify`), published together with
`--rounds`: every round still verifies, the numbers follow the snapshots, and the change since the previous
round and the trend are those of `bastion por report ROUND --previous OLD --json`, the CLI's own report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from web_round import serve

pytestmark = [pytest.mark.slow]

MONTHS = [("2026-09", "2026-09-30T23:59:59Z", None), ("2026-10", "2026-10-31T23:59:59Z", "0.04"),
          ("2026-11", "2026-11-30T23:59:59Z", None)]  # fmt: skip


@dataclass
class Pipeline:
    base: Path  # the published rounds: base/<round id>/
    work: Path
    uids: dict[str, list[str]]

    def round_dir(self, rid: str) -> Path:
        return self.base / rid


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    import csv

    from bastion.cli import app
    from bastion.por.liabilities.prover.pipeline import prove_round
    from bastion.por.liabilities.prover.plan import RoundConfig
    from bastion.sim.liabilities import simulate_liabilities
    from bastion.sim.wallets import make_wallet_set
    from bastion.stark.uni.params import INSECURE_TEST_PARAMS

    root = tmp_path_factory.mktemp("pipeline")
    p = Pipeline(root / "rounds", root / "work", {})
    runner = CliRunner()
    for i, (rid, snap, short) in enumerate(MONTHS):
        snap_dir = p.work / f"snap-{rid}"
        simulate_liabilities(snap_dir, users=24 + 6 * i, assets=3, seed=50 + i)
        prove_round(snap_dir, p.round_dir(rid), RoundConfig(round_id=rid, snapshot_time=snap, exchange="Web Exchange",
                                                             params=INSECURE_TEST_PARAMS))  # fmt: skip
        doc = json.loads((p.round_dir(rid) / "round.json").read_text())
        wallets = p.work / f"wallets-{rid}.csv"
        shortfall = {doc["assets"][1]["asset"]: Decimal(short)} if short else None
        make_wallet_set(doc, wallets, seed=60 + i, shortfall=shortfall, wallets_per_asset=2)
        out = runner.invoke(app, ["por", "reserves", "verify", str(wallets), "--round", str(p.round_dir(rid))])
        assert out.exit_code == (1 if short else 0), out.output
        p.uids[rid] = sorted({row["uid"] for row in csv.DictReader((snap_dir / "balances.csv").open())})
    return p


@pytest.fixture(scope="module")
def pipeline_server(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("srv-pipeline")
    with serve(tmp, None, pipeline.base, migrate=True) as url:
        yield url, tmp / "data"


def _cli_report(pipeline: Pipeline, rid: str, previous: str | None) -> dict[str, Any]:
    from bastion.cli import app

    out = pipeline.work / f"report-{rid}.json"
    args = ["por", "report", str(pipeline.round_dir(rid)), "--out", str(out)]
    if previous:
        args += ["--previous", str(pipeline.round_dir(previous))]
    result = CliRunner().invoke(app, args)
    assert out.exists(), result.output
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_every_round_still_verifies(pipeline: Pipeline) -> None:
    from bastion.por.verify.round import verify_round

    for rid, _, _ in MONTHS:
        verdict = verify_round(pipeline.round_dir(rid), allow_insecure_params=True)
        assert verdict.ok, (rid, verdict.reason)


def test_numbers_change_and_trend_are_the_cli_reports(pipeline: Pipeline, pipeline_server: tuple[str, Path]) -> None:
    h = httpx.get(f"{pipeline_server[0]}/por/api/rounds").json()
    assert [(r["number"], r["id"]) for r in h["rounds"]] == [(1, "2026-09"), (2, "2026-10"), (3, "2026-11")]
    assert h["rounds"][2]["publication"] == "the 3rd consecutive monthly publication"
    previous = None
    for r in h["rounds"]:
        cli = _cli_report(pipeline, r["id"], previous)
        assert r["previous_round_id"] == cli["previous_round_id"] == previous
        assert r["status"] == cli["status"] and r["summary"] == cli["summary"]
        for key, cli_key in (("user_assets_usd_change", "liabilities_usd_change"),
                             ("wallet_assets_usd_change", "reserves_usd_change")):  # fmt: skip
            mine, theirs = r["totals"][key], cli["totals"][cli_key]
            assert (mine is None and theirs is None) or Decimal(mine) == Decimal(theirs), (r["id"], key)
        for mine, theirs in zip(r["assets"], cli["assets"], strict=True):
            assert mine["asset"] == theirs["asset"]
            assert Decimal(mine["user_assets"]) == Decimal(theirs["liabilities"])
            assert Decimal(mine["wallet_assets"]) == Decimal(theirs["reserves"])
            for key, cli_key in (("user_assets_change", "liabilities_change"),
                                 ("wallet_assets_change", "reserves_change")):  # fmt: skip
                a, b = mine[key], theirs[cli_key]
                assert (a is None and b is None) or Decimal(a) == Decimal(b), (r["id"], mine["asset"], key)
            # the trend holds the same figures, round by round
            point = next(x for x in h["trend"][mine["asset"]] if x["round_id"] == r["id"])
            assert Decimal(point["ratio"]) == Decimal(theirs["ratio"])
        previous = r["id"]
    assert h["rounds"][1]["status"] == "not_fully_reserved"  # October's shortfall


@pytest.mark.browser
def test_a_signed_in_user_verifies_their_own_proof_in_any_round_with_one_click(
    page: Any, pipeline: Pipeline, pipeline_server: tuple[str, Path]
) -> None:
    """The proofs are made by the service from each round's private data (no users/ folder is published)."""
    import csv

    from bastion.access import sessions

    url, data_dir = pipeline_server
    for rid in ("2026-10", "2026-11"):
        newcomer = pipeline.uids[rid][len(pipeline.uids[rid]) // 2]  # each month's snapshot has its own uids
        token = sessions.issue(sessions.dev_key(data_dir), newcomer)
        assert not (pipeline.round_dir(rid) / "users").exists()
        page.goto(f"{url}/por/?round={rid}#session={token}")
        page.wait_for_selector("body[data-loaded='1']")
        page.evaluate("delete document.body.dataset.verified")
        page.click("#verify-mine")
        page.wait_for_selector("body[data-verified]")
        assert page.inner_text("#verdict") == f"Your balances are included in round {rid}"
        expected = {(row["asset"]): (Decimal(row["equity"]), Decimal(row["debt"]))
                    for row in csv.DictReader((pipeline.work / f"snap-{rid}" / "balances.csv").open())
                    if row["uid"] == newcomer}  # fmt: skip
        shown = page.locator("#balances tbody tr")
        got = {}
        for i in range(shown.count()):
            asset, equity, debt, *_ = shown.nth(i).locator("td").all_inner_texts()
            got[asset] = (Decimal(equity.replace(",", "")), Decimal(debt.replace(",", "")))
        assert got == expected
    # September's round never had November's user: the service says so, and hands nobody else's proof
    assert newcomer not in pipeline.uids["2026-09"]
    page.goto(f"{url}/por/?round=2026-09#session={token}")
    page.wait_for_selector("body[data-loaded='1']")
    page.evaluate("delete document.body.dataset.verified")
    page.click("#verify-mine")
    page.wait_for_selector("body[data-verified]")
    assert "round 2026-09 holds no inclusion proof for you" in page.inner_text("#verdict")
    r = httpx.get(f"{url}/v1/por/my-proof", params={"round": "2026-09"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
