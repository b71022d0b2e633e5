"""NEAR: NEP-413 `signMessage` by a full-access key of the account.

The exchange asks each wallet for `signMessage({message: challenge, recipient: <exchange>, nonce})` with
the round's own values: `recipient` is round.json's `exchange` and `nonce` the SHA-256 of the challenge
(32 bytes), so the signed payload is fixed by the round. The wallet signs SHA-256 of the Borsh encoding of
(u32 tag 2^31 + 413, message, nonce, recipient, callbackUrl = None); `signature` is its base64 (or hex)
signature and `pubkey_or_script` the key (`ed25519:<base58>`, or hex).

Who may sign: an implicit account (64 hex characters) *is* its key. A named account (`exchange.near`) is
checked against its full-access keys, which only a node knows: without a NEAR balance source listing them
(`view_access_key_list` at the snapshot height, `--node near=URL`) the row is refused.
"""

from __future__ import annotations

import hashlib
import re

import base58

from bastion.por.reserves.chains.base import (
    ChainProofError,
    Context,
    NativeChain,
    NativeProof,
    decode_bytes,
    ed25519_verify,
    parsed_address,
)

TAG = 2**31 + 413
_ACCOUNT = re.compile(r"(?:[a-z\d]+[-_])*[a-z\d]+(?:\.(?:[a-z\d]+[-_])*[a-z\d]+)*")
_IMPLICIT = re.compile(r"[0-9a-f]{64}")


def normalize(account: str) -> str:
    account = account.strip()
    if not 2 <= len(account) <= 64 or not _ACCOUNT.fullmatch(account):
        raise ValueError("not a NEAR account id (2-64 lowercase letters, digits, - _ .)")
    if account.startswith("0x") and len(account) == 42:
        raise ValueError("ETH-implicit accounts are not supported (no ed25519 key)")
    return account


def nonce_for(challenge: str) -> bytes:
    return hashlib.sha256(challenge.encode()).digest()


def _string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(4, "little") + raw


def payload_hash(message: str, nonce: bytes, recipient: str) -> bytes:
    """What a NEP-413 wallet signs: SHA-256 of the Borsh-encoded tag and payload (no callback URL)."""
    data = TAG.to_bytes(4, "little") + _string(message) + nonce + _string(recipient) + b"\x00"
    return hashlib.sha256(data).digest()


def public_key(text: str) -> bytes:
    text = text.strip()
    if text.startswith("ed25519:"):
        try:
            raw = base58.b58decode(text[len("ed25519:") :])
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ChainProofError("pubkey_or_script", "ed25519:<base58> must hold 32 bytes")
        return raw
    if text.startswith("secp256k1:"):
        raise ChainProofError("pubkey_or_script", "only ed25519 keys are supported")
    return decode_bytes(text, "pubkey_or_script", (32,))


def verify(address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    account = parsed_address(normalize, address)
    if not pubkey:
        raise ChainProofError("pubkey_or_script", "is empty: give the signing key (ed25519:<base58>)")
    key = public_key(pubkey)
    if _IMPLICIT.fullmatch(account):
        if key.hex() != account:
            raise ChainProofError("pubkey_or_script", "is not the key of this implicit account")
    else:
        keys = ctx.account_keys.get(("near", account))
        if keys is None:
            raise ChainProofError(
                "address",
                "a named account's full-access keys come from a NEAR node: verify with --node near=URL",
            )
        if key.hex() not in keys:
            raise ChainProofError("pubkey_or_script", "is not a full-access key of the account at the snapshot")
    sig = decode_bytes(signature, "signature", (64,))
    digest = payload_hash(ctx.challenge, nonce_for(ctx.challenge), ctx.exchange)
    if not ed25519_verify(key, digest, sig):
        raise ChainProofError(
            "signature", "does not verify (NEP-413: this round's challenge, nonce and recipient) for this key"
        )
    return NativeProof(key.hex(), "nep413", account)


CHAIN = NativeChain("near", "NEAR", normalize, verify, "NEP-413 signMessage")
