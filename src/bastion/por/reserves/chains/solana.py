"""Solana: the address is the base58 ed25519 public key; wallets' `signMessage` signs the message bytes.

Phantom, Solflare and the wallet standard's `solana:signMessage` return a plain ed25519 signature over the
UTF-8 bytes they were given (here the challenge); it is written base58 (Solana's usual form), base64 or hex.
"""

from __future__ import annotations

import base58

from bastion.por.reserves.chains.base import (
    ChainProofError,
    Context,
    NativeChain,
    NativeProof,
    decode_bytes,
    ed25519_verify,
)


def normalize(address: str) -> str:
    try:
        raw = base58.b58decode(address.strip())
    except ValueError:
        raise ValueError("not a Solana address (base58)") from None
    if len(raw) != 32:
        raise ValueError(f"a Solana address is 32 bytes of base58, this is {len(raw)}")
    return base58.b58encode(raw).decode()


def verify(address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    try:
        key = base58.b58decode(normalize(address))
    except ValueError as exc:
        raise ChainProofError("address", str(exc)) from None
    if pubkey and decode_bytes(pubkey, "pubkey_or_script", (32,), base58_ok=True) != key:
        raise ChainProofError("pubkey_or_script", "is not the address's key (a Solana address is its key)")
    sig = decode_bytes(signature, "signature", (64,), base58_ok=True)
    if not ed25519_verify(key, ctx.challenge.encode(), sig):
        raise ChainProofError("signature", "does not verify for this address over this round's challenge")
    return NativeProof(key.hex(), "solana-ed25519", normalize(address))


CHAIN = NativeChain("solana", "SOL", normalize, verify, "ed25519 signMessage over the challenge")
