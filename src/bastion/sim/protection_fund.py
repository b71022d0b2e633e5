"""A demo protection fund's wallets for a round: real keys, real ownership signatures over the round's
challenge, in the reserves' wallet-set format, holding the balances asked for (the fund's ledger).

BTC sits in P2WPKH addresses signed with BIP-322; every other asset on Ethereum (EIP-191 personal_sign).
Keys come from `random.Random(seed)`: demo keys only, never for real funds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bastion.por.reserves import bitcoin, evm
from bastion.por.reserves.amounts import fmt_amount
from bastion.por.reserves.challenge import challenge_message
from bastion.por.reserves.round import parse_round
from bastion.por.reserves.walletset import write_wallet_csv
from bastion.sim.wallets import signing_secret


def fund_wallet_rows(
    round_json: dict[str, Any], balances: dict[str, Decimal], *, seed: int = 0
) -> list[dict[str, str]]:
    """One signed row per asset with a balance; assets the round does not list are left out (the verifier
    would refuse them)."""
    from eth_keys.datatypes import PrivateKey as EthPrivateKey

    rnd = parse_round(round_json)
    message = challenge_message(rnd)
    rng = random.Random(f"protection-fund-{seed}")
    rows = []
    for asset, balance in sorted(balances.items()):
        if asset not in rnd.assets or balance <= 0:
            continue
        key = signing_secret(rng)
        if asset == "BTC":
            import coincurve

            pub = coincurve.PrivateKey(key).public_key.format(compressed=True)
            address = bitcoin.address_of(bitcoin.p2wpkh_script(pub))
            chain = "bitcoin"
            signature = bitcoin.sign_bip322_simple(key, bitcoin.parse_address(address), message.encode())
            script = pub.hex()
        else:
            chain = "ethereum"
            address = EthPrivateKey(key).public_key.to_checksum_address()
            signature = evm.sign_eip191(key, message)
            script = ""
        rows.append(
            {
                "chain": chain,
                "asset": asset,
                "address": address,
                "balance": fmt_amount(balance),
                "snapshot_height": str(rnd.block_heights.get(chain, 0)),
                "message": message,
                "signature": signature,
                "pubkey_or_script": script,
            }
        )
    return rows


def make_fund_wallet_set(
    round_json: dict[str, Any], balances: dict[str, Decimal], out_csv: Path, *, seed: int = 0
) -> Path:
    write_wallet_csv(out_csv, fund_wallet_rows(round_json, balances, seed=seed))
    return out_csv


# ------------------------------------------------------------------------------------------------ the month
@dataclass
class FundTruth:
    contributions_by_source: dict[str, dict[str, str]] = field(default_factory=dict)
    incidents: int = 0
    users_paid: int = 0
    payouts_by_ccy: dict[str, str] = field(default_factory=dict)
    balances_end: dict[str, str] = field(default_factory=dict)


@dataclass
class FundMonth:
    calls: list[tuple[datetime, str, str, dict[str, Any]]]  # at, method, path (incident id as {iid}), body
    truth: FundTruth


def simulate_month(*, seed: int, start: datetime, days: int, prefix: str = "") -> FundMonth:
    """Money in (treasury at the start, a weekly fee share, a transfer from the risk provision fund), one
    hack mid-month with its affected users paid (the payout sent twice, as a client retrying would), closed."""
    rng = random.Random(f"protection-fund-month-{seed}")
    calls: list[tuple[datetime, str, str, dict[str, Any]]] = []
    sources: dict[str, dict[str, Decimal]] = {}
    bal: dict[str, Decimal] = {}

    def contribute(at: datetime, ref: str, ccy: str, amount: Decimal, source: str) -> None:
        body = {"ref": f"{prefix}{ref}", "ccy": ccy, "amount": str(amount), "source": source,
                "ts": at.isoformat(), "actor": "treasury-desk"}  # fmt: skip
        calls.append((at, "POST", "/v1/pfund/contributions", body))
        sources.setdefault(source, {})[ccy] = sources.get(source, {}).get(ccy, Decimal(0)) + amount
        bal[ccy] = bal.get(ccy, Decimal(0)) + amount

    contribute(start + timedelta(hours=1), "seed-usdt", "USDT", Decimal(5_000_000), "treasury")
    contribute(start + timedelta(hours=1), "seed-btc", "BTC", Decimal(25), "treasury")
    for week in range(days // 7 + 1):
        at = start + timedelta(days=7 * week, hours=12)
        if at < start + timedelta(days=days):
            contribute(at, f"fees-w{week}", "USDT", Decimal(rng.randint(20_000, 80_000)), "fee_share")
    mid = start + timedelta(days=days // 2)
    calls.append((mid, "POST", "/v1/pfund/transfers", {
        "ref": f"{prefix}from-risk-provision", "ccy": "USDT", "amount": "100000", "direction": "in",
        "counterparty": "risk_provision", "ts": mid.isoformat(), "actor": "treasury-desk",
    }))  # fmt: skip
    sources.setdefault("risk_provision", {})["USDT"] = Decimal(100_000)
    bal["USDT"] += Decimal(100_000)
    hack = start + timedelta(days=int(days * 0.6), hours=3)
    calls.append((hack, "POST", "/v1/pfund/incidents", {
        "ref": f"{prefix}hack-1", "kind": "hack", "title": "Hot wallet key compromised",
        "description": "Withdrawals from one hot wallet were signed by an attacker.",
        "occurred_at": (hack - timedelta(hours=2)).isoformat(), "actor": "security-lead",
    }))  # fmt: skip
    affected = []
    for i in range(rng.randint(15, 30)):
        affected.append({"user_id": f"{prefix}victim-{i:03d}", "ccy": "USDT", "amount": str(rng.randint(100, 50_000))})
        if i % 5 == 0:
            affected.append(
                {"user_id": f"{prefix}victim-{i:03d}", "ccy": "BTC", "amount": str(Decimal(rng.randint(1, 500)) / 1000)}
            )
    calls.append(
        (
            hack + timedelta(hours=6),
            "POST",
            "/v1/pfund/incidents/{iid}/affected",
            {"actor": "security-lead", "users": affected},
        )
    )
    pay_at = hack + timedelta(days=2)
    calls.append((pay_at, "POST", "/v1/pfund/incidents/{iid}/payouts", {"actor": "treasury-desk"}))
    calls.append(
        (pay_at + timedelta(minutes=1), "POST", "/v1/pfund/incidents/{iid}/payouts", {"actor": "treasury-desk"})
    )
    calls.append((pay_at + timedelta(hours=4), "POST", "/v1/pfund/incidents/{iid}/close", {"actor": "security-lead"}))
    paid: dict[str, Decimal] = {}
    for a in affected:
        paid[a["ccy"]] = paid.get(a["ccy"], Decimal(0)) + Decimal(a["amount"])
        bal[a["ccy"]] -= Decimal(a["amount"])
    truth = FundTruth(
        contributions_by_source={
            s: {c: fmt_amount(v) for c, v in sorted(by.items())} for s, by in sorted(sources.items())
        },
        incidents=1,
        users_paid=len({a["user_id"] for a in affected}),
        payouts_by_ccy={c: fmt_amount(v) for c, v in sorted(paid.items())},
        balances_end={c: fmt_amount(v) for c, v in sorted(bal.items())},
    )
    calls.sort(key=lambda c: c[0])
    return FundMonth(calls, truth)


def send_month(client: Any, month: FundMonth, set_time: Callable[[datetime], None]) -> None:
    """Each call at its simulated time; the incident's id comes from the service's answer."""
    iid = ""
    for at, method, path, body in month.calls:
        set_time(at)
        r = client.request(method, path.replace("{iid}", iid), json=body)
        if r.status_code != 200:
            raise RuntimeError(f"{method} {path} at {at}: HTTP {r.status_code} {r.text[:300]}")
        if path == "/v1/pfund/incidents":
            iid = str(r.json()["id"])
