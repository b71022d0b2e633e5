"""A month of Travel Rule deposits, seeded: the wallet service reports deposits from addresses no VASP claims; the
ones above the threshold (USD 1,000, the FATF rule for an unidentified source) are held until the user supplies
the originator (IVMS101) or proves the sending wallet is their own (EIP-191 signature), or are returned by the
compliance sweep once their 14-day deadline has passed; small ones are cleared on arrival. Sent through the
running service with injected time; the ground truth is what the plan says the month's figures must be.

One service instance: no counterparty exchange, so no messages are sent or received (the two-exchange traffic is
exercised by tests/travel_rule/test_figures.py)."""

from __future__ import annotations

import hashlib
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eth_keys.datatypes import PrivateKey

from bastion.por.reserves import evm

HOLD_DAYS = 14  # TravelRuleSettings.hold_days (the default the simulator's service runs with)
DEPOSIT_ADDRESS = "0x" + "5a" * 20  # the exchange's deposit address the users receive on
ORIGINATOR = {"originatorPersons": [{"naturalPerson": {"name": [{"nameIdentifier": [
    {"primaryIdentifier": "Sim Sender", "nameIdentifierType": "LEGL"}]}]}}]}  # fmt: skip


@dataclass
class TravelRuleTruth:
    messages_sent: int = 0  # one instance: no counterparty to message
    messages_received: int = 0
    deposits_cleared: int = 0  # below the threshold: never held
    deposits_held: int = 0
    deposits_released: int = 0
    released_by: dict[str, int] = field(default_factory=dict)  # originator | ownership
    deposits_returned: int = 0
    median_hours_to_release: float | None = None


@dataclass
class _Deposit:
    ref: str
    user: str
    kind: str  # cleared | originator | ownership | returned
    at: datetime
    amount_usd: int
    wallet_key: bytes
    release_at: datetime | None = None


@dataclass
class Plan:
    start: datetime
    end: datetime
    sweep_at: datetime
    deposits: list[_Deposit]
    truth: TravelRuleTruth


def simulate(seed: int, users: int, start: datetime, days: int, prefix: str) -> Plan:
    rng = random.Random(seed)
    end = start + timedelta(days=days)
    # Arrivals early enough that every deadline (14 days) passes before the sweep, a day before the month's end.
    latest = (days - HOLD_DAYS - 2) * 24 * 60
    deposits: list[_Deposit] = []
    n = max(8, users // 20)
    kinds = ["originator", "ownership", "returned", "cleared"]
    for i in range(n):
        # every path in even the smallest month, then seeded choices
        kind = kinds[i] if i < len(kinds) else rng.choice(kinds)
        at = start + timedelta(minutes=rng.randrange(0, latest))
        d = _Deposit(
            ref=f"{prefix}tr-{i}", user=f"{prefix}tr-{i}", kind=kind, at=at,
            amount_usd=rng.randint(100, 900) if kind == "cleared" else rng.randint(1500, 40000),
            wallet_key=rng.randrange(1, 2**255).to_bytes(32, "big"),
        )  # fmt: skip
        if kind in ("originator", "ownership"):
            d.release_at = at + timedelta(minutes=rng.randint(30, 72 * 60))  # whole minutes: exact hours below
        deposits.append(d)
    truth = TravelRuleTruth()
    hours: list[float] = []
    for d in deposits:
        if d.kind == "cleared":
            truth.deposits_cleared += 1
            continue
        truth.deposits_held += 1
        if d.release_at is None:
            truth.deposits_returned += 1
            continue
        truth.deposits_released += 1
        truth.released_by[d.kind] = truth.released_by.get(d.kind, 0) + 1
        hours.append((d.release_at - d.at).total_seconds() / 3600)
    truth.released_by = dict(sorted(truth.released_by.items()))
    truth.median_hours_to_release = round(statistics.median(hours), 3) if hours else None
    return Plan(start, end, end - timedelta(days=1), deposits, truth)


def send(client: Any, plan: Plan, set_time: Callable[[datetime], None], user_headers: Callable[[str], dict[str, str]],
         progress: Callable[[int, int], None] | None = None) -> None:  # fmt: skip
    """The month through the service, in time order; raises on any answer other than the plan's."""
    steps: list[tuple[datetime, int, str, _Deposit | None]] = []
    for dep in plan.deposits:
        steps.append((dep.at, 0, "deposit", dep))
        if dep.release_at is not None:
            steps.append((dep.release_at, 1, dep.kind, dep))
    steps.append((plan.sweep_at, 2, "sweep", None))
    steps.sort(key=lambda s: (s[0], s[1], s[3].ref if s[3] else ""))
    ids: dict[str, int] = {}
    for i, (at, _, what, d) in enumerate(steps):
        set_time(at)
        if d is None:  # the compliance sweep: every deadline has passed
            r = client.post("/v1/compliance/travel-rule/sweep", json={})
            _ok(r, 200)
            if len(r.json()["returned"]) != plan.truth.deposits_returned:
                raise RuntimeError(f"travel rule sweep returned {len(r.json()['returned'])}, the plan says otherwise")
        elif what == "deposit":
            address = PrivateKey(d.wallet_key).public_key.to_checksum_address()
            body = {"deposit_id": d.ref, "user_id": d.user, "chain": "ethereum", "asset": "ETH",
                    "amount": f"{d.amount_usd / 3000:.8f}", "amount_usd": str(d.amount_usd),
                    "txid": "0x" + hashlib.sha256(d.ref.encode()).hexdigest(),
                    "to_address": DEPOSIT_ADDRESS, "from_address": address}  # fmt: skip
            r = client.post("/v1/travel-rule/deposits", json=body)
            _ok(r, 200)
            want = "cleared" if d.kind == "cleared" else "held"
            if r.json()["status"] != want:
                raise RuntimeError(f"{d.ref}: the service says {r.json()['status']}, the plan {want}")
            ids[d.ref] = r.json()["id"]
        elif what == "originator":
            r = client.post(f"/v1/account/travel-rule/deposits/{ids[d.ref]}/originator", json=ORIGINATOR,
                            headers=user_headers(d.user))  # fmt: skip
            _ok(r, 200)
        else:  # ownership: the user signs the challenge with the sending wallet's key
            # signed with eth-keys (the reserves verifier's own EIP-191 helper), not eth-account, whose import
            # pulls in py_ecc and raises the whole process's recursion limit (tests/service/test_import_state.py)
            address = PrivateKey(d.wallet_key).public_key.to_checksum_address()
            h = user_headers(d.user)
            r = client.post("/v1/account/travel-rule/wallets/challenge", headers=h,
                            json={"chain": "ethereum", "address": address})  # fmt: skip
            _ok(r, 200)
            signature = evm.sign_eip191(d.wallet_key, r.json()["message"])
            r = client.post("/v1/account/travel-rule/wallets/proof", headers=h,
                            json={"chain": "ethereum", "address": address, "signature": signature})  # fmt: skip
            _ok(r, 200)
            if r.json()["released_deposits"] != [ids[d.ref]]:
                raise RuntimeError(f"{d.ref}: the proof released {r.json()['released_deposits']}")
        if progress is not None:
            progress(i + 1, len(steps))


def _ok(r: Any, status: int) -> None:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: HTTP {r.status_code} {r.text[:200]}")
