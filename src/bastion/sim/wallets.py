"""A demo exchange's reserve wallets for a round: real keys, real signatures over the round's challenge.

Reserves cover each asset's net liabilities by a few percent (2-8%, seeded), except the assets named in
`shortfall`, whose reserves are `net_liabilities * (1 - shortfall[asset])`. Wallet types:
- BTC: P2PKH (BIP-137), P2WPKH (BIP-322 and BIP-137), P2SH-P2WPKH (BIP-322), taproot (BIP-322) and one
  2-of-3 P2WSH multisig (two rows, one BIP-137 signature per key, the witness script in pubkey_or_script);
- ETH on Ethereum, Arbitrum and Optimism; TRX on TRON; BNB on BSC; AVAX on Avalanche C-Chain; USDT on
  Ethereum, TRON and BSC;
- SOL, XRP, DOGE, LTC, BCH, DOT, ADA, TON, NEAR, APT on their own chains (`NATIVE_BY_ASSET`), signed as
  those chains' wallets sign (`bastion.sim.native_wallets`);
- the remaining assets (tokens: USDC, LINK, SHIB, DAI, UNI, PEPE) as ERC-20 tokens on Ethereum, Polygon and BSC.
Keys come from `random.Random(seed)`: demo keys only, never for real funds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any

from bastion.por.reserves import bitcoin, evm
from bastion.por.reserves.challenge import challenge_message
from bastion.por.reserves.round import parse_round
from bastion.por.reserves.walletset import write_wallet_csv
from bastion.sim.native_wallets import ROUND_SIGNERS, SIGNERS

BTC_KINDS = ("p2pkh", "p2wpkh", "p2sh-p2wpkh", "p2tr", "p2wpkh-bip137")
EVM_BY_ASSET = {
    "ETH": ("ethereum", "arbitrum", "optimism"),
    "USDT": ("ethereum", "tron", "bsc"),
    "TRX": ("tron",),
    "BNB": ("bsc",),
    "AVAX": ("avalanche",),
}
NATIVE_BY_ASSET = {
    "SOL": "solana",
    "XRP": "xrpl",
    "DOGE": "dogecoin",
    "LTC": "litecoin",
    "BCH": "bitcoin-cash",
    "DOT": "polkadot",
    "ADA": "cardano",
    "TON": "ton",
    "NEAR": "near",
    "APT": "aptos",
}
TOKEN_CHAINS = ("ethereum", "polygon", "bsc")


@dataclass
class SimWallets:
    path: Path
    rows: int
    wallets: int
    reserves: dict[str, Decimal] = field(default_factory=dict)


def signing_secret(rng: random.Random) -> bytes:
    """A valid secp256k1 private key drawn from `rng` (seeded: the same wallets every run)."""
    import coincurve

    while True:
        candidate = rng.randbytes(32)
        try:
            coincurve.PrivateKey(candidate)
            return candidate
        except Exception:
            continue


def make_wallet_set(
    round_json: dict[str, Any],
    out_csv: Path,
    *,
    seed: int = 0,
    shortfall: dict[str, Decimal] | None = None,
    wallets_per_asset: int = 6,
) -> SimWallets:
    """Write `out_csv` for the round; returns what was written (per-asset reserves included)."""
    rnd = parse_round(round_json)
    message = challenge_message(rnd)
    raw = message.encode()
    rng = random.Random(seed)
    shortfall = shortfall or {}
    rows: list[dict[str, str]] = []
    result = SimWallets(out_csv, 0, 0)

    def secret() -> bytes:
        return signing_secret(rng)

    def height(chain: str) -> str:
        return str(rnd.block_heights.get(chain, 0))

    for name, asset in rnd.assets.items():
        if name in shortfall:
            target = asset.net_liabilities * (1 - shortfall[name])
        else:
            target = asset.net_liabilities * (1 + Decimal(rng.randint(200, 800)) / 10_000)
        quantum = Decimal(1).scaleb(-asset.decimals)
        target = target.quantize(quantum, rounding=ROUND_UP)
        n = max(1, wallets_per_asset)
        weights = [rng.random() + 0.2 for _ in range(n)]
        total_w = sum(weights)
        parts = [(target * Decimal(w / total_w)).quantize(quantum, rounding=ROUND_DOWN) for w in weights[:-1]]
        parts.append(target - sum(parts, Decimal(0)))
        result.reserves[name] = target
        for i, balance in enumerate(parts):
            bal = format(balance, "f")
            result.wallets += 1
            if name == "BTC":
                if i == n - 1 and n > 1:
                    rows.extend(_multisig_rows(secret, raw, message, bal, height("bitcoin")))
                    continue
                rows.append(_btc_row(BTC_KINDS[i % len(BTC_KINDS)], secret(), raw, message, bal, height("bitcoin")))
                continue
            if name in NATIVE_BY_ASSET:
                chain = NATIVE_BY_ASSET[name]
                if chain in ROUND_SIGNERS:
                    signed = ROUND_SIGNERS[chain](secret(), message, rnd.exchange, rnd.nonce)
                else:
                    signers = SIGNERS[chain]
                    signed = signers[i % len(signers)](secret(), message)
                address, signature, script = signed
                rows.append(_row(chain, name, address, bal, height(chain), message, signature, script))
                continue
            chains = EVM_BY_ASSET.get(name, TOKEN_CHAINS)
            chain = chains[i % len(chains)]
            key = secret()
            if chain == "tron":
                from eth_keys.datatypes import PrivateKey as EthPrivateKey

                address = evm.tron_address(bytes(EthPrivateKey(key).public_key.to_canonical_address()))
                signature = evm.sign_tron(key, message)
            else:
                from eth_keys.datatypes import PrivateKey as EthPrivateKey

                address = EthPrivateKey(key).public_key.to_checksum_address()
                signature = evm.sign_eip191(key, message)
            rows.append(_row(chain, name, address, bal, height(chain), message, signature, ""))
    write_wallet_csv(out_csv, rows)
    result.rows = len(rows)
    return result


def _row(
    chain: str, asset: str, address: str, balance: str, height: str, message: str, signature: str, script: str
) -> dict[str, str]:
    return {
        "chain": chain,
        "asset": asset,
        "address": address,
        "balance": balance,
        "snapshot_height": height,
        "message": message,
        "signature": signature,
        "pubkey_or_script": script,
    }


def _btc_row(kind: str, key: bytes, raw: bytes, message: str, balance: str, height: str) -> dict[str, str]:
    import coincurve

    pub = coincurve.PrivateKey(key).public_key.format(compressed=True)
    if kind == "p2pkh":
        address = bitcoin.address_of(bitcoin.p2pkh_script(pub))
        return _row("bitcoin", "BTC", address, balance, height, message, bitcoin.sign_bip137(key, raw), pub.hex())
    if kind == "p2wpkh-bip137":
        address = bitcoin.address_of(bitcoin.p2wpkh_script(pub))
        sig = bitcoin.sign_bip137(key, raw, "p2wpkh")
        return _row("bitcoin", "BTC", address, balance, height, message, sig, "")
    spk = {
        "p2wpkh": bitcoin.p2wpkh_script(pub),
        "p2sh-p2wpkh": bitcoin.p2sh_script(bitcoin.p2wpkh_script(pub)),
        "p2tr": bitcoin.p2tr_script(pub),
    }[kind]
    address = bitcoin.address_of(spk)
    sig = bitcoin.sign_bip322_simple(key, bitcoin.parse_address(address), raw)
    return _row("bitcoin", "BTC", address, balance, height, message, sig, pub.hex())


def _multisig_rows(secret: Any, raw: bytes, message: str, balance: str, height: str) -> list[dict[str, str]]:
    import coincurve

    keys = [secret() for _ in range(3)]
    pubs = sorted(coincurve.PrivateKey(k).public_key.format(compressed=True) for k in keys)
    by_pub = {coincurve.PrivateKey(k).public_key.format(compressed=True): k for k in keys}
    script = bytes([0x52]) + b"".join(bytes([33]) + p for p in pubs) + bytes([0x53, 0xAE])
    address = bitcoin.address_of(bitcoin.p2wsh_script(script))
    return [
        _row("bitcoin", "BTC", address, balance, height, message, bitcoin.sign_bip137(by_pub[p], raw), script.hex())
        for p in pubs[:2]
    ]
