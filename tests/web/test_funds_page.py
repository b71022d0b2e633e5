"""The public /funds/ page in headless Chromium: the protection fund's size in USD, its wallets with their
verification (a wrong signature shown as failed, with its reason), its size over time, and both funds'
disclosures, all equal to what the ledger and the recorded rounds say; operator words shown as text, never
run as markup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion.por.reserves.round_view import ROUND_FORMAT, load_round
from bastion.por.reserves.walletset import read_wallet_set, write_wallet_csv
from bastion.protection_fund import disclosures, ledger, public, wallets
from bastion.sim.protection_fund import fund_wallet_rows

EVIL = "<img src=x onerror=\"document.body.dataset.pwned='1'\">"


def _round(tmp: Path, round_id: str, snap: str, nonce: str, btc: str) -> tuple[Path, dict[str, Any]]:
    raw = {
        "format": ROUND_FORMAT, "exchange": "Demo Exchange", "round_id": round_id, "snapshot_time": snap,
        "nonce": nonce, "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
        "assets": [
            {"asset": a, "decimals": 8, "price_usd": p, "total_equity": "1", "total_debt": "0", "net_liabilities": "1"}
            for a, p in (("BTC", btc), ("USDT", "1"))
        ],
    }  # fmt: skip
    d = tmp / round_id
    d.mkdir(parents=True)
    (d / "round.json").write_text(json.dumps(raw))
    return d, raw


@pytest.fixture
def funds_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    from bastion.db.migrate import upgrade
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread
    from bastion.settings import Settings

    url = f"sqlite:///{tmp_path / 'funds.sqlite'}"
    upgrade(url)
    app = create_app(Settings(database_url=url, data_dir=tmp_path / "data", secret_key="x" * 40))  # type: ignore[arg-type]
    t0 = datetime(2026, 9, 15, tzinfo=UTC)
    now = datetime(2026, 11, 1, 2, tzinfo=UTC)
    with app.state.sessionmaker() as s:
        ledger.contribute(s, "c1", "USDT", Decimal("2000000"), "treasury", t0, "cfo")
        ledger.contribute(s, "c2", "BTC", Decimal("12.5"), "fee_share", t0, "cfo")
        ledger.contribute(s, "c3", "USDT", Decimal("250000.5"), "fee_share", datetime(2026, 10, 10, tzinfo=UTC), "cfo")
        words = disclosures.Words("Covers " + EVIL, "Segregated wallets.", "An incident.", ["Not a guarantee.", EVIL])
        disclosures.set_words(s, disclosures.Fund.PROTECTION, words, "legal", now)
        d1, raw1 = _round(tmp_path, "2026-10", "2026-10-01T00:00:00Z", "1" * 32, "60000")
        rows = fund_wallet_rows(raw1, ledger.balances(s, datetime(2026, 10, 1, tzinfo=UTC)))
        write_wallet_csv(tmp_path / "r1.csv", rows)
        wallets.verify_round(s, load_round(d1), read_wallet_set(tmp_path / "r1.csv"), now)
        d2, raw2 = _round(tmp_path, "2026-11", "2026-11-01T00:00:00Z", "2" * 32, "97000.5")
        rows = fund_wallet_rows(raw2, ledger.balances(s, datetime(2026, 11, 1, tzinfo=UTC)))
        usdt = next(r for r in rows if r["asset"] == "USDT")
        btc = next(r for r in rows if r["asset"] == "BTC")
        usdt["signature"] = fund_wallet_rows(raw1, {"USDT": Decimal(1)})[0]["signature"]  # another key, another round
        write_wallet_csv(tmp_path / "r2.csv", [btc, usdt])
        wallets.verify_round(s, load_round(d2), read_wallet_set(tmp_path / "r2.csv"), now)
        s.commit()
        size = public.fund_size(s)
    with ServerThread(app) as base:
        yield base, size
    app.state.engine.dispose()


def test_funds_page_shows_the_ledger_and_the_wallets(page: Any, funds_server: tuple[str, Any]) -> None:
    base, size = funds_server
    api = httpx.get(f"{base}/v1/public/protection-fund").json()
    assert Decimal(api["total_usd"]) == Decimal("2250000.5") + Decimal("12.5") * Decimal("97000.5") == size.total_usd
    r = httpx.get(f"{base}/funds/")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(f"{base}/funds/static/../index.html").status_code == 404

    page.goto(f"{base}/funds/")
    page.wait_for_selector("body[data-ready='true']")
    assert page.inner_text("#total-usd") == "$3,462,506.75"
    assert "round 2026-11" in page.inner_text("#total-note")
    balances = [tr.inner_text().split("\t") for tr in page.query_selector_all("#balances tbody tr")]
    assert balances == [["BTC", "12.5", "97,000.5", "$1,212,506.25"], ["USDT", "2,250,000.5", "1", "$2,250,000.50"]]
    status = page.inner_text("#wallets-status")
    assert "1 of 2 wallets verified" in status and "do NOT cover" in status
    states = {tr.query_selector("td:nth-child(2)").inner_text(): tr.get_attribute("data-verified")
              for tr in page.query_selector_all("#wallets tbody tr")}  # fmt: skip
    assert states == {"BTC": "true", "USDT": "false"}
    assert "recovers another address over this round's challenge" in page.inner_text("#wallet-failures")
    assert "nonce: " + "2" * 32 in (page.text_content("#challenge") or "")
    history = [tr.inner_text().split("\t")[:3] for tr in page.query_selector_all("#history tbody tr")]
    assert history == [
        ["2026-10", "2026-10-01T00:00:00Z", "$2,750,000.00"],
        ["2026-11", "2026-11-01T00:00:00Z", "$3,462,506.75"],
    ]
    assert page.query_selector("#history-chart svg circle") is not None
    prot = page.inner_text("#disclosure-protection")
    assert "(version 1)" in prot and EVIL in prot and "Not a guarantee." in prot
    assert "treasury" in prot and "fee_share" in prot
    assert "(default wording)" in page.inner_text("#disclosure-risk_provision")
    assert page.evaluate("document.body.dataset.pwned") is None
    assert page.query_selector("#disclosures img") is None
    assert not [c for c in page.recorded.console if c.startswith(("error", "pageerror"))], page.recorded.console
    assert all(req.url.startswith(base) for req in page.recorded.requests)
