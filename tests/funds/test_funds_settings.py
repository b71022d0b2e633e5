"""Fund thresholds and the mistaken-deposit listing and fees come from the environment, end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from auth_support import OPERATOR, OPERATOR_TOKEN
from bastion.funds.settings import FundsSettings, default_policy
from bastion.protection.settings import DepositsSettings, default_deposits
from bastion.service.app import create_app
from bastion.service.testing import ServerThread
from bastion.settings import Settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POOL = {"instType": "SWAP", "instFamily": "BTC-USDT", "ccy": "USDT"}


def test_defaults_are_the_documented_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WARNING_DRAWDOWN", "ADL_DRAWDOWN", "WINDOW_HOURS", "ADL_EXIT_MINUTES"):
        monkeypatch.delenv(f"BASTION_FUNDS_{name}", raising=False)
    policy = FundsSettings().policy()
    assert policy == default_policy()
    assert (policy.warning_drawdown, policy.adl_drawdown) == (D("0.20"), D("0.30"))
    assert (policy.window, policy.adl_cooldown) == (timedelta(hours=8), timedelta(hours=1))
    fees = default_deposits().fees()
    assert (fees.manual_rate, fees.manual_min_usd, fees.network_fee_usd) == (D("0.05"), D(20), D(2))


def test_inconsistent_values_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_FUNDS_WARNING_DRAWDOWN", "0.5")
    with pytest.raises(ValidationError, match="warning_drawdown"):
        FundsSettings()
    monkeypatch.setenv("BASTION_DEPOSITS_MEMO_CHAINS", '["NOPE"]')
    with pytest.raises(ValidationError, match="memo_chains"):
        DepositsSettings()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_env_overrides_take_effect_in_the_service(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_FUNDS_WARNING_DRAWDOWN", "0.05")
    monkeypatch.setenv("BASTION_FUNDS_ADL_DRAWDOWN", "0.10")
    monkeypatch.setenv("BASTION_DEPOSITS_TOKENS", '{"ETH": ["ETH", "PEPE9"], "XRP": ["XRP"]}')
    monkeypatch.setenv("BASTION_DEPOSITS_MEMO_CHAINS", '["XRP"]')
    monkeypatch.setenv("BASTION_DEPOSITS_AUTO_RETURN_CHAINS", '["ETH"]')
    monkeypatch.setenv("BASTION_DEPOSITS_NETWORK_FEE_USD", "5")
    monkeypatch.setenv("BASTION_OPERATOR_TOKEN", OPERATOR_TOKEN)
    app = create_app(Settings(database_url=db_url, data_dir=tmp_path / "data"))
    with ServerThread(app) as url, httpx.Client(headers=OPERATOR, base_url=url, timeout=15) as c:
        seed = {**POOL, "id": "seed", "amt": "1000", "ts": T0.isoformat()}
        assert c.post("/v1/funds/injections", json=seed).status_code == 200
        loss = {**POOL, "id": "L1", "instId": "BTC-USDT-SWAP", "posSide": "long", "sz": "1", "bkPx": "200",
                "fillPx": "50", "ts": (T0 + timedelta(minutes=1)).isoformat()}  # fmt: skip
        booked = c.post("/v1/liquidations", json=loss).json()
        # 15% below the peak: "normal" under the default 20/30%, ADL under 5/10%.
        assert (booked["type"], booked["balance"], booked["state"]) == ("bankruptcy_loss", "850", "adl")

        def observe(txid: str, token: str) -> dict[str, object]:
            body = {"chain": "ETH", "txid": txid, "token": token, "to_address": "0xabc", "amount": "10",
                    "usd_value": "100", "observed_at": T0.isoformat()}  # fmt: skip
            r = c.post("/v1/deposits/observed", json=body)
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]

        # PEPE9 is listed on ETH now: an ordinary deposit, no case (by default it would be returned).
        assert observe("0x1", "PEPE9")["case"] is None
        # USDT is listed nowhere now: unlisted, returned automatically for the 5 USD network fee.
        case = observe("0x2", "USDT")["case"]
        assert isinstance(case, dict)
        assert (case["reason"], case["state"], D(case["fee"])) == ("unlisted_token", "closed", D("0.5"))
