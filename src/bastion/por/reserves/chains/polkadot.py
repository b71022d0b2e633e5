"""Polkadot: SS58 addresses (network prefix 0) of sr25519 keys; `signRaw` signatures.

polkadot.js extensions (and Talisman, SubWallet, Nova) sign `<Bytes>` + message + `</Bytes>` when asked
to `signRaw` a text, so a signed text can never be a valid extrinsic; that wrapped form is accepted, and
so is the bare message (`Keypair.sign` of substrate-interface). Signatures are 64 bytes hex, or 65 with
the MultiSignature type byte 0x01 (sr25519) in front. sr25519 (schnorrkel) verification is
py-sr25519-bindings'. Only sr25519 accounts are accepted.
"""

from __future__ import annotations

import hashlib

import base58

from bastion.por.reserves.chains.base import (
    ChainProofError,
    Context,
    NativeChain,
    NativeProof,
    from_hex,
    parsed_address,
)

SS58_PREFIX = 0  # Polkadot relay chain


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(b"SS58PRE" + data, digest_size=64).digest()[:2]


def public_key_of(address: str) -> bytes:
    try:
        raw = base58.b58decode(address.strip())
    except ValueError:
        raise ValueError("not an SS58 address (base58)") from None
    if len(raw) != 35:
        raise ValueError("not an SS58 address of a 32-byte account id")
    if raw[0] != SS58_PREFIX:
        raise ValueError(f"SS58 network prefix {raw[0]} is not Polkadot's ({SS58_PREFIX})")
    if _checksum(raw[:33]) != raw[33:]:
        raise ValueError("SS58 checksum does not match")
    return raw[1:33]


def ss58_address(public_key: bytes) -> str:
    data = bytes([SS58_PREFIX]) + public_key
    return base58.b58encode(data + _checksum(data)).decode()


def normalize(address: str) -> str:
    return ss58_address(public_key_of(address))


def wrap(message: bytes) -> bytes:
    return b"<Bytes>" + message + b"</Bytes>"


def verify(address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    import sr25519

    key = parsed_address(public_key_of, address)
    if pubkey and from_hex(pubkey) != key:
        raise ChainProofError("pubkey_or_script", "is not the address's key")
    sig = from_hex(signature)
    if sig is not None and len(sig) == 65:
        if sig[0] != 0x01:
            raise ChainProofError("signature", "MultiSignature type byte must be 0x01 (sr25519)")
        sig = sig[1:]
    if sig is None or len(sig) != 64:
        raise ChainProofError("signature", "must be a 64-byte sr25519 signature in hex")
    raw = ctx.challenge.encode()
    for message, scheme in ((wrap(raw), "sr25519-bytes"), (raw, "sr25519")):
        try:
            if sr25519.verify(sig, message, key):
                return NativeProof(key.hex(), scheme, ss58_address(key))
        except (ValueError, TypeError):
            break
    raise ChainProofError(
        "signature", "does not verify for this address over this round's challenge (<Bytes>-wrapped or bare)"
    )


CHAIN = NativeChain("polkadot", "DOT", normalize, verify, "sr25519 signRaw of <Bytes>challenge</Bytes>")
