"""Cardano: CIP-30 `signData` (CIP-8 COSE_Sign1) by a Shelley payment address's key.

`signature` is the COSE_Sign1 the wallet returns (hex CBOR, tag 18 optional) and `pubkey_or_script` its
COSE_Key (hex CBOR, the Ed25519 `x` at label -2) or the bare 32-byte key in hex. Checked, as CIP-8 says:
the protected header's algorithm is EdDSA (-8) and its `address` is this row's address; the payload is
the challenge (or, with the unprotected `hashed: true`, its BLAKE2b-224); the signature verifies over the
Sig_structure ["Signature1", protected, b"", payload]; and BLAKE2b-224 of the key is the address's
payment credential. Script-locked and Byron addresses are not accepted.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2

from bastion.por.reserves.chains.base import (
    ChainProofError,
    Context,
    NativeChain,
    NativeProof,
    ed25519_verify,
    from_hex,
    parsed_address,
)

MAINNET = 1
_KEY_PAYMENT_TYPES = (0, 2, 4, 6)  # base, base with script stake, pointer, enterprise: payment by a key hash
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def blake2b224(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=28).digest()


def _bech32_decode(text: str) -> tuple[str, bytes]:
    """BIP-173 bech32 without its 90-character limit (Cardano base addresses are 103 characters)."""
    from embit import bech32

    if text != text.lower() and text != text.upper():
        raise ValueError("mixed-case bech32 address")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or any(c not in _CHARSET for c in text[pos + 1 :]):
        raise ValueError("not a bech32 address")
    hrp, data = text[:pos], [_CHARSET.index(c) for c in text[pos + 1 :]]
    if bech32.bech32_verify_checksum(hrp, data) != bech32.Encoding.BECH32:
        raise ValueError("bech32 checksum does not match")
    raw = bech32.convertbits(data[:-6], 5, 8, False)
    if raw is None:
        raise ValueError("bech32 payload is not whole bytes")
    return hrp, bytes(raw)


def _bech32_encode(hrp: str, raw: bytes) -> str:
    from embit import bech32

    data = bech32.convertbits(raw, 8, 5, True)
    assert data is not None
    return str(bech32.bech32_encode(bech32.Encoding.BECH32, hrp, data))


def address_bytes(text: str) -> bytes:
    hrp, raw = _bech32_decode(text.strip())
    if hrp != "addr":
        raise ValueError(f"not a Cardano mainnet payment address (addr1..., got {hrp}1...)")
    if not raw or raw[0] & 0x0F != MAINNET:
        raise ValueError("address header is not mainnet's")
    kind = raw[0] >> 4
    if kind > 7:
        raise ValueError("not a Shelley payment address")
    if kind not in _KEY_PAYMENT_TYPES:
        raise ValueError("payment part is a script: only key-locked addresses can sign")
    if len(raw) < 29:
        raise ValueError("address too short")
    return raw


def normalize(text: str) -> str:
    return _bech32_encode("addr", address_bytes(text))


def enterprise_address(public_key: bytes) -> str:
    """The mainnet enterprise address (header 0x61) of a payment key, for the simulator."""
    return _bech32_encode("addr", bytes([0x60 | MAINNET]) + blake2b224(public_key))


def _public_key(text: str) -> bytes:
    raw = from_hex(text)
    if raw is None:
        raise ChainProofError("pubkey_or_script", "must be the COSE_Key (hex CBOR) or the 32-byte key in hex")
    if len(raw) == 32:
        return raw
    try:
        key: Any = cbor2.loads(raw)
    except Exception:
        raise ChainProofError("pubkey_or_script", "is not CBOR (a CIP-30 COSE_Key)") from None
    if not isinstance(key, dict) or key.get(1) != 1 or key.get(-1) != 6:
        raise ChainProofError("pubkey_or_script", "COSE_Key must be OKP (kty 1) on Ed25519 (crv 6)")
    x = key.get(-2)
    if not isinstance(x, bytes) or len(x) != 32:
        raise ChainProofError("pubkey_or_script", "COSE_Key has no 32-byte x (-2)")
    return x


def verify(address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    raw_address = parsed_address(address_bytes, address)
    if not pubkey:
        raise ChainProofError("pubkey_or_script", "is empty: give the COSE_Key that signData returned")
    key = _public_key(pubkey)
    if blake2b224(key) != raw_address[1:29]:
        raise ChainProofError("pubkey_or_script", "is not the key of the address's payment part")
    raw = from_hex(signature)
    try:
        sign1: Any = cbor2.loads(raw) if raw is not None else None
    except Exception:
        sign1 = None
    if isinstance(sign1, cbor2.CBORTag) and sign1.tag == 18:
        sign1 = sign1.value
    if not isinstance(sign1, list) or len(sign1) != 4:
        raise ChainProofError("signature", "must be the COSE_Sign1 (hex CBOR) that signData returned")
    protected_bstr, unprotected, payload, sig = sign1
    try:
        protected = cbor2.loads(protected_bstr) if protected_bstr else {}
    except Exception:
        protected = None
    if not isinstance(protected, dict) or protected.get(1) != -8:
        raise ChainProofError("signature", "COSE protected header must name EdDSA (alg -8)")
    if protected.get("address") != raw_address:
        raise ChainProofError("signature", "COSE protected header's address is not this row's address")
    hashed = isinstance(unprotected, dict) and unprotected.get("hashed") is True
    message = ctx.challenge.encode()
    expected = blake2b224(message) if hashed else message
    if payload != expected:
        raise ChainProofError("signature", "signed payload is not this round's challenge")
    to_sign = cbor2.dumps(["Signature1", protected_bstr, b"", payload])
    if not isinstance(sig, bytes) or not ed25519_verify(key, to_sign, sig):
        raise ChainProofError("signature", "does not verify for this key over this round's challenge")
    return NativeProof(key.hex(), "cip8-cose-sign1", normalize(address))


CHAIN = NativeChain("cardano", "ADA", normalize, verify, "CIP-30 signData (CIP-8 COSE_Sign1)")
