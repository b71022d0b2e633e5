"""A demo protection fund's wallets for a round: real keys, real ownership signatures over the round's
challenge, in the reserves' wallet-set format, holding the balances asked for (the fund's ledger).

BTC sits in P2WPKH addresses signed with BIP-322; every other asset on Ethereum (EIP-191 personal_sign).
Keys come from `random.Random(seed)`: demo keys only, never for real funds.
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from bastion.por.reserves import bitcoin, evm
from bastion.por.reserves.amounts import fmt_amount
from bastion.por.reserves.challenge import challenge_message
from bastion.por.reserves.round import parse_round
from bastion.por.reserves.walletset import write_wallet_csv


def _secret(rng: random.Random) -> bytes:
    import coincurve

    while True:
        candidate = rng.randbytes(32)
        try:
            coincurve.PrivateKey(candidate)
            return candidate
        except Exception:
            continue


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
        key = _secret(rng)
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
