"""The page on a round made by the real pipeline, end to end: a simulated snapshot proven by `prove_round`
(small, insecure STARK parameters to stay fast), users' proofs from `make_user_proof`, a signed demo wallet
set verified by `bastion por reserves verify`, the reserve report by `bastion por report --json`.

What the page shows must equal what the CLI says: the same reserve table, and the same verdict on the same
proof files (`bastion por verify-user FILE --round DIR`).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from web_round import open_page, serve, verify_file

pytestmark = [pytest.mark.slow, pytest.mark.browser]


class Real:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.snap = base / "snap"
        self.round = base / "round"
        self.proofs = base / "proofs"  # what users download from their accounts

    def round_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.round / "round.json").read_text())
        return doc


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Real:
    from bastion.cli import app
    from bastion.por.liabilities.prover.pipeline import prove_round
    from bastion.por.liabilities.prover.plan import RoundConfig
    from bastion.por.liabilities.user_proofs import load_tree, make_user_proof
    from bastion.sim.liabilities import simulate_liabilities
    from bastion.sim.wallets import make_wallet_set
    from bastion.stark.uni.params import INSECURE_TEST_PARAMS

    r = Real(tmp_path_factory.mktemp("real"))
    simulate_liabilities(r.snap, users=40, assets=4, seed=5)
    prove_round(r.snap, r.round, RoundConfig(round_id="2026-11", exchange="Web Exchange",
                                            params=INSECURE_TEST_PARAMS))
    doc = r.round_json()
    levels = load_tree(r.round, doc["leaves"]["count"])
    r.proofs.mkdir()
    uids = sorted({row["uid"] for row in csv.DictReader((r.snap / "balances.csv").open())})
    for uid in uids[:6]:
        (r.proofs / f"{uid}.json").write_text(json.dumps(make_user_proof(r.round, uid, levels=levels)))

    wallets = r.base / "wallets.csv"
    make_wallet_set(doc, wallets, seed=1, shortfall={doc["assets"][-1]["asset"]: Decimal("0.05")},
                    wallets_per_asset=2)
    runner = CliRunner()
    verified = runner.invoke(app, ["por", "reserves", "verify", str(wallets), "--round", str(r.round)])
    assert verified.exit_code == 1, verified.output  # the shortfall asset is under 100%
    report = runner.invoke(app, ["por", "report", str(r.round), "--out", str(r.base / "report.json")])
    assert (r.base / "report.json").exists(), report.output
    return r


@pytest.fixture(scope="module")
def real_server(real: Real, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("srv-real"), real.round) as base_url:
        yield base_url


def test_the_reserve_table_is_the_cli_report(page: Any, real_server: str, real: Real) -> None:
    report = json.loads((real.base / "report.json").read_text())
    open_page(page, real_server)
    assert page.inner_text("#h-leaf-root") == real.round_json()["leaves"]["root"]
    for line in report["assets"]:
        row = page.locator(f"#reserve-table tr[data-asset='{line['asset']}']")
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == line["asset"]
        assert Decimal(cells[1].replace(",", "")) == Decimal(line["liabilities"])  # shown with separators
        assert Decimal(cells[2].replace(",", "")) == Decimal(line["reserves"])
        assert cells[3] == line["ratio_percent"]
        assert ("under" in (row.get_attribute("class") or "")) == (line["status"] == "under")
    assert page.inner_text("#reserves-status").startswith(report["summary"])
    assert report["status"] == "not_fully_reserved"


def test_real_proofs_verify_in_the_browser_and_with_the_cli(page: Any, real_server: str, real: Real) -> None:
    from bastion.cli import app

    balances: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for row in csv.DictReader((real.snap / "balances.csv").open()):
        balances[(row["uid"], row["asset"])] = (Decimal(row["equity"]), Decimal(row["debt"]))
    open_page(page, real_server)
    runner = CliRunner()
    for path in sorted(real.proofs.iterdir()):
        uid = path.stem
        assert verify_file(page, path) == "Your balances are included in round 2026-11"
        shown = page.locator("#balances tbody tr")
        for i in range(shown.count()):
            asset, equity, debt, _net, _usd = shown.nth(i).locator("td").all_inner_texts()
            assert (Decimal(equity.replace(",", "")), Decimal(debt.replace(",", ""))) == balances[(uid, asset)]
        assert shown.count() == sum(1 for (u, _) in balances if u == uid)
        cli = runner.invoke(app, ["por", "verify-user", str(path), "--round", str(real.round)])
        assert cli.exit_code == 0, cli.output


def test_a_tampered_real_proof_fails_in_both(page: Any, real_server: str, real: Real, tmp_path: Path) -> None:
    from bastion.cli import app

    doc = json.loads(next(iter(sorted(real.proofs.iterdir()))).read_text())
    bad = copy.deepcopy(doc)
    row = bad["rows"][0]
    units = int(row["equity_units"]) * 2 + 1
    row["equity_units"] = str(units)
    dec = row["decimals"]
    row["equity"] = format(Decimal(units).scaleb(-dec), "f").rstrip("0").rstrip(".") if dec else str(units)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(bad))
    open_page(page, real_server)
    verdict = verify_file(page, path)
    assert verdict.startswith("NOT verified: row 1") and "the leaf computed from your id" in verdict
    assert CliRunner().invoke(app, ["por", "verify-user", str(path), "--round", str(real.round)]).exit_code == 1


def test_the_real_round_publishes_its_files_and_none_of_its_secrets(real_server: str, real: Real) -> None:
    doc = real.round_json()
    files = {f["name"] for f in httpx.get(f"{real_server}/por/api/round").json()["files"]}
    # reserves verify published the signed wallet set and the price table beside reserves.json
    assert files == {
        "round.json", "leaves.bin", "reserves.json", "wallets.csv", "prices.json", *(b["file"] for b in doc["batches"]),
        doc["aggregate"]["file"],
    }  # fmt: skip
    listed = json.loads((real.round / "reserves.json").read_text())["public_files"]
    for entry in listed:
        body = httpx.get(f"{real_server}/por/files/{entry['file']}").content
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    leaves = httpx.get(f"{real_server}/por/files/leaves.bin").content
    assert hashlib.sha256(leaves).hexdigest() == doc["leaves"]["sha256"]
    for b in doc["batches"]:
        proof = httpx.get(f"{real_server}/por/files/{b['file']}").content
        assert hashlib.sha256(proof).hexdigest() == b["sha256"]
    secrets = sorted(p.relative_to(real.round).as_posix() for p in (real.round / "private").rglob("*") if p.is_file())
    assert "private/secret.bin" in secrets
    for name in secrets:
        assert httpx.get(f"{real_server}/por/files/{name}").status_code == 404, name
