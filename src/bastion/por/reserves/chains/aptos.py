"""Aptos: the wallet standard's `signMessage` (AIP-62), whose signature covers its "full message".

The exchange asks for `signMessage({message: challenge, nonce: <round nonce>, address: true})`; the wallet
returns `fullMessage` ("APTOS\\naddress: 0x...\\n...message: <challenge>\\nnonce: <nonce>") and an
ed25519 `signature` over its UTF-8 bytes. `signature` holds that reply as JSON
(`{"fullMessage": ..., "signature": hex}`) and `pubkey_or_script` the 32-byte ed25519 key (hex). The
full message must start with "APTOS", carry this round's challenge and nonce and, if it names an address,
this row's. The account must be the key's: authentication key SHA3-256(key ++ 0x00) equal to the address
(an account that rotated its key is checked against the key an Aptos source reads at the snapshot).
"""

from __future__ import annotations

import hashlib

from bastion.por.reserves.chains.base import (
    ChainProofError,
    Context,
    NativeChain,
    NativeProof,
    ed25519_verify,
    from_hex,
    json_object,
    parsed_address,
)

ED25519_SCHEME = b"\x00"


def normalize(address: str) -> str:
    text = address.strip().lower()
    body = text[2:] if text.startswith("0x") else ""
    if not body or len(body) > 64 or from_hex(body.rjust(64, "0")) is None:
        raise ValueError("not an Aptos address (0x and up to 64 hex digits)")
    return "0x" + body.rjust(64, "0")


def authentication_key(public_key: bytes) -> str:
    return "0x" + hashlib.sha3_256(public_key + ED25519_SCHEME).hexdigest()


def full_message_fields(full: str) -> dict[str, str]:
    """The `key: value` lines of a full message; `message` runs up to the final `\\nnonce: `."""
    if not full.startswith("APTOS\n"):
        raise ChainProofError("signature", 'fullMessage must start with "APTOS"')
    body, sep, nonce = full[len("APTOS\n") :].rpartition("\nnonce: ")
    if not sep:
        raise ChainProofError("signature", "fullMessage has no nonce line")
    head, sep, message = body.partition("message: ")
    if not sep:
        raise ChainProofError("signature", "fullMessage has no message line")
    fields = {"message": message, "nonce": nonce}
    for line in head.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    return fields


def verify(address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    account = parsed_address(normalize, address)
    key = from_hex(pubkey) if pubkey else None
    if key is None or len(key) != 32:
        raise ChainProofError("pubkey_or_script", "must be the 32-byte ed25519 public key in hex")
    allowed = ctx.account_keys.get(("aptos", account))
    if allowed is not None:
        # an Aptos source read the account's authentication key at the snapshot (it may have been rotated)
        if "authkey:" + authentication_key(key) not in allowed:
            raise ChainProofError("pubkey_or_script", "is not the account's authentication key at the snapshot")
    elif authentication_key(key) != account:
        raise ChainProofError("pubkey_or_script", "is not the key of this address (SHA3-256(key ++ 0x00))")
    reply = json_object(signature, "signature", ("fullMessage", "signature"))
    full = reply["fullMessage"]
    if not isinstance(full, str):
        raise ChainProofError("signature", "fullMessage must be a string")
    fields = full_message_fields(full)
    if fields["message"] != ctx.challenge:
        raise ChainProofError("signature", "the signed message is not this round's challenge")
    if fields["nonce"] != ctx.nonce:
        raise ChainProofError("signature", "the signed nonce is not this round's nonce")
    if "address" in fields and normalize_or_none(fields["address"]) != account:
        raise ChainProofError("signature", "the signed address is not this row's address")
    sig = from_hex(str(reply["signature"]))
    if sig is None or len(sig) != 64 or not ed25519_verify(key, full.encode(), sig):
        raise ChainProofError("signature", "does not verify for this key over the full message")
    return NativeProof(key.hex(), "aptos-signmessage", account)


def normalize_or_none(text: str) -> str | None:
    try:
        return normalize(text)
    except ValueError:
        return None


CHAIN = NativeChain("aptos", "APT", normalize, verify, "signMessage (AIP-62) full message")
