"""Each fund's disclosure is generated from data: the operator's versioned words, funding sources and their
shares and usage from the fund's own ledger, for the period asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from bastion.funds.ledger import LiquidationIn, PoolKey, book_liquidations, inject
from bastion.funds.liquidation import PositionSide
from bastion.protection_fund import disclosures, incidents, ledger
from bastion.protection_fund.disclosures import Fund, Words

T0 = datetime(2026, 10, 1, tzinfo=UTC)
PRICES = {"USDT": D(1), "BTC": D(100_000)}


def test_protection_disclosure_from_the_ledger(session_factory: Any) -> None:
    with session_factory() as s:
        ledger.contribute(s, "a", "USDT", D(300_000), "treasury", T0, "cfo")
        ledger.contribute(s, "b", "BTC", D(1), "fee_share", T0 + timedelta(days=1), "cfo")
        ledger.transfer(s, "c", "USDT", D(100_000), "in", "risk_provision", T0 + timedelta(days=2), "cfo")
        ledger.contribute(s, "old", "USDT", D(5), "treasury", T0 - timedelta(days=40), "cfo")
        inc, _ = incidents.open_incident(
            s, "i", incidents.IncidentKind.HACK, "Breach", "", T0, "ciso", T0 + timedelta(days=3)
        )
        incidents.record_affected(s, inc.id, [incidents.Affected("u1", "USDT", D(500))], "ciso", T0 + timedelta(days=3))
        incidents.pay_incident(s, inc.id, "cfo", T0 + timedelta(days=4))
        s.commit()
        d = disclosures.protection(s, T0, T0 + timedelta(days=31), PRICES)
        assert d.version == 0 and d.words == disclosures.DEFAULTS[Fund.PROTECTION]
        shares = {x.name: (x.usd, x.share) for x in d.sources}
        assert shares == {
            "fee_share": (D(100_000), D(100_000) / D(500_000)),
            "risk_provision": (D(100_000), D(100_000) / D(500_000)),
            "treasury": (D(300_000), D(300_000) / D(500_000)),
        }
        assert sum(x.share for x in d.sources if x.share is not None) == 1
        assert d.usage["incidents"] == 1 and d.usage["users_paid"] == 1
        assert d.usage["payouts_by_ccy"] == {"USDT": D(500)} and d.usage["payouts_usd"] == D(500)
        # without a price for BTC its source has no USD value and no share
        partial = disclosures.protection(s, T0, T0 + timedelta(days=31), {"USDT": D(1)})
        assert {x.name: x.share for x in partial.sources}["fee_share"] is None


def test_operator_words_are_versioned(session_factory: Any) -> None:
    words = Words("Covers hacks.", "Segregated.", "Incidents.", ["Not a guarantee.", "USD at round prices."])
    with session_factory() as s:
        assert disclosures.set_words(s, Fund.PROTECTION, words, "legal", T0) == 1
        assert disclosures.set_words(s, Fund.PROTECTION, words, "legal", T0) == 1
        changed = Words(words.purpose, words.structure, words.triggers, ["Only a guarantee of nothing."])
        assert disclosures.set_words(s, Fund.PROTECTION, changed, "legal", T0) == 2
        s.commit()
        assert disclosures.words(s, Fund.PROTECTION) == (2, changed)
        assert disclosures.words(s, Fund.RISK_PROVISION)[0] == 0


def test_risk_provision_disclosure_from_its_ledger(session_factory: Any) -> None:
    pool = PoolKey("SWAP", "BTC-USDT", "USDT")
    with session_factory() as s:
        inject(s, "seed", pool, D(10_000), T0)
        liq = [
            LiquidationIn(
                "l1", pool, "BTC-USDT-SWAP", PositionSide.LONG, D(1), D(100), D(103), T0 + timedelta(hours=1)
            ),
            LiquidationIn("l2", pool, "BTC-USDT-SWAP", PositionSide.LONG, D(1), D(100), D(98), T0 + timedelta(hours=2)),
        ]
        book_liquidations(s, liq, now=T0)
        s.commit()
        d = disclosures.risk_provision(s, T0, T0 + timedelta(days=31), PRICES)
        assert {x.name: x.by_ccy for x in d.sources} == {
            "capital injection": {"USDT": D(10_000)},
            "liquidation surplus": {"USDT": D(3)},
        }
        assert d.usage["bankruptcy_losses_covered"] == 1 and d.usage["losses_by_ccy"] == {"USDT": D(2)}


def test_disclosures_over_http(live: Any) -> None:
    body = {"purpose": "P", "structure": "S", "triggers": "T", "disclaimers": ["D1"], "actor": "legal"}
    assert live.anon.put("/v1/funds/protection/disclosure", json=body).status_code == 401
    assert live.http.put("/v1/funds/protection/disclosure", json=body).json() == {"version": 1}
    assert live.http.put("/v1/funds/nope/disclosure", json=body).status_code == 422
    got = live.anon.get("/v1/public/funds/disclosures").json()["funds"]
    assert [f["fund"] for f in got] == ["protection", "risk_provision"]
    assert got[0]["disclaimers"] == ["D1"] and got[0]["defaults"] is False and got[1]["defaults"] is True
