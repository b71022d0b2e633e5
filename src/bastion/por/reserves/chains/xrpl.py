"""XRP Ledger: classic addresses (`r...`) and the keypairs' `sign` of the challenge.

The account id is RIPEMD-160(SHA-256(public key)) of the 33-byte public key: a compressed secp256k1 key, or
0xED followed by an ed25519 key. `pubkey_or_script` must hold that key (XRPL signatures do not recover
it). As xrpl.js / xrpl-py `keypairs.sign` do: ed25519 signs the message bytes; secp256k1 signs the first
half of SHA-512 of them, DER-encoded, canonical (low S). Only the account's master key is checked: an
account that disabled its master key or signs with a regular key is not supported.
"""

from __future__ import annotations

import hashlib

import base58
import coincurve

from bastion.por.reserves.chains.base import (
    ChainProofError,
    Context,
    NativeChain,
    NativeProof,
    ed25519_verify,
    from_hex,
    parsed_address,
)

_ACCOUNT_VERSION = b"\x00"


def _account_id_of(text: str) -> bytes:
    text = text.strip()
    if text.startswith(("X", "T")):
        raise ValueError("X-addresses are not accepted: write the classic address (r...)")
    try:
        raw = base58.b58decode_check(text, alphabet=base58.XRP_ALPHABET)
    except ValueError:
        raise ValueError("not an XRP Ledger classic address (base58check, r...)") from None
    if len(raw) != 21 or raw[:1] != _ACCOUNT_VERSION:
        raise ValueError("not an XRP Ledger account address (version 0, 20 bytes)")
    return raw[1:]


def classic_address(public_key: bytes) -> str:
    sha = hashlib.sha256(public_key).digest()
    account_id = hashlib.new("ripemd160", sha).digest()
    return base58.b58encode_check(_ACCOUNT_VERSION + account_id, alphabet=base58.XRP_ALPHABET).decode()


def normalize(address: str) -> str:
    return base58.b58encode_check(_ACCOUNT_VERSION + _account_id_of(address), alphabet=base58.XRP_ALPHABET).decode()


def verify_message(message: bytes, signature: bytes, public_key: bytes) -> bool:
    """keypairs.is_valid_message: ed25519 over the bytes, or secp256k1 DER over SHA-512-half."""
    if len(public_key) == 33 and public_key[0] == 0xED:
        return ed25519_verify(public_key[1:], message, signature)
    try:
        return bool(
            coincurve.PublicKey(public_key).verify(signature, hashlib.sha512(message).digest()[:32], hasher=None)
        )
    except Exception:
        return False


def verify(address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    normal = parsed_address(normalize, address)
    if not pubkey:
        raise ChainProofError(
            "pubkey_or_script", "is empty: XRPL signatures need the signing public key (33 bytes hex)"
        )
    key = from_hex(pubkey)
    if key is None or len(key) != 33:
        raise ChainProofError("pubkey_or_script", "must be the 33-byte public key in hex (02/03... or ED...)")
    if classic_address(key) != normal:
        raise ChainProofError("pubkey_or_script", "is not the key of this address")
    sig = from_hex(signature)
    if sig is None:
        raise ChainProofError("signature", "must be hex (DER for secp256k1, 64 bytes for ed25519)")
    if not verify_message(ctx.challenge.encode(), sig, key):
        raise ChainProofError("signature", "does not verify for this key over this round's challenge")
    scheme = "xrpl-ed25519" if key[0] == 0xED else "xrpl-secp256k1"
    return NativeProof(key.hex(), scheme, normal)


CHAIN = NativeChain("xrpl", "XRP", normalize, verify, "keypairs.sign (secp256k1 or ed25519) of the challenge")
