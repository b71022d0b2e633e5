"""TON: TonConnect's `ton_proof` by a standard wallet contract, whose StateInit gives the address and key.

On TON an address is the hash of the account's StateInit (code and data), not of a key. `pubkey_or_script`
holds the StateInit BOC (base64 or hex; TonConnect's `account.walletStateInit`): its hash must be the
address, its code a standard wallet's (v3r1, v3r2, v4r2, by code hash), and the public key is read from
the wallet's data. `signature` is the `proof` object of TonConnect's `ton_proof` reply, as JSON:
`{"timestamp": ..., "domain": {"lengthBytes": ..., "value": ...}, "payload": ..., "signature": base64}`.
The payload must be the challenge; the signature is ed25519 over
sha256(0xffff ++ "ton-connect" ++ sha256("ton-proof-item-v2/" ++ workchain (int32 BE) ++ address hash
++ domain length (uint32 LE) ++ domain ++ timestamp (uint64 LE) ++ payload)).
Cells, BOCs and addresses are pytoniq-core's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

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

# Code cell hashes of the standard wallets whose data is seqno (32) + subwallet id (32) + public key (256).
WALLET_CODES = {
    "b61041a58a7980b946e8fb9e198e3c904d24799ffa36574ea4251c41a566f581": "v3r1",
    "84dafa449f98a6987789ba232358072bc0f76dc4524002a5d0918b9a75d2d599": "v3r2",
    "feb5ff6820e2ff0d9483e7e0d62c817d846789fb4ae580c878866d959dabd5c0": "v4r2",
}


def _address(text: str) -> tuple[int, bytes]:
    from pytoniq_core.boc.address import Address

    try:
        address = Address(text.strip())
    except Exception:
        raise ValueError("not a TON address (raw 0:<hex> or user-friendly base64)") from None
    return int(address.wc), bytes(address.hash_part)


def normalize(text: str) -> str:
    wc, hash_part = _address(text)
    return f"{wc}:{hash_part.hex()}"


def proof_message(wc: int, hash_part: bytes, domain: str, timestamp: int, payload: str) -> bytes:
    """The 32 bytes a wallet signs for a ton_proof."""
    body = domain.encode()
    message = (
        b"ton-proof-item-v2/"
        + wc.to_bytes(4, "big", signed=True)
        + hash_part
        + len(body).to_bytes(4, "little")
        + body
        + timestamp.to_bytes(8, "little")
        + payload.encode()
    )
    return hashlib.sha256(b"\xff\xff" + b"ton-connect" + hashlib.sha256(message).digest()).digest()


def _state_init(text: str) -> tuple[bytes, bytes, str]:
    """(hash, public key, wallet version) of a StateInit BOC."""
    from pytoniq_core.boc.cell import Cell
    from pytoniq_core.tlb.account import StateInit

    raw = from_hex(text)
    if raw is None:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ChainProofError("pubkey_or_script", "must be the wallet's StateInit BOC (base64 or hex)") from None
    try:
        cell = Cell.one_from_boc(raw)
        state = StateInit.deserialize(cell.begin_parse())  # type: ignore[no-untyped-call]
        code_hash = bytes(state.code.hash).hex()
        data = state.data.begin_parse()
    except Exception:
        raise ChainProofError("pubkey_or_script", "is not a StateInit BOC with code and data") from None
    version = WALLET_CODES.get(code_hash)
    if version is None:
        raise ChainProofError("pubkey_or_script", "StateInit code is not a standard wallet's (v3r1, v3r2, v4r2)")
    try:
        key = bytes(data.skip_bits(64).load_bytes(32))
    except Exception:
        raise ChainProofError("pubkey_or_script", "wallet data holds no public key") from None
    return bytes(cell.hash), key, version


def verify(address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    wc, hash_part = parsed_address(_address, address)
    if not pubkey:
        raise ChainProofError("pubkey_or_script", "is empty: give the wallet's StateInit (walletStateInit)")
    state_hash, key, version = _state_init(pubkey)
    if state_hash != hash_part:
        raise ChainProofError("pubkey_or_script", "StateInit does not hash to this address")
    proof: dict[str, Any] = json_object(signature, "signature", ("timestamp", "domain", "payload", "signature"))
    domain = proof["domain"]
    domain_value = domain.get("value") if isinstance(domain, dict) else domain
    timestamp = proof["timestamp"]
    if not isinstance(domain_value, str) or not domain_value:
        raise ChainProofError("signature", "ton_proof domain must be a non-empty string")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp < 2**64:
        raise ChainProofError("signature", "ton_proof timestamp must be an integer from 0 to 2^64 - 1")
    if proof["payload"] != ctx.challenge:
        raise ChainProofError("signature", "ton_proof payload is not this round's challenge")
    try:
        sig = base64.b64decode(str(proof["signature"]), validate=True)
    except (binascii.Error, ValueError):
        raise ChainProofError("signature", "ton_proof signature must be base64") from None
    digest = proof_message(wc, hash_part, domain_value, timestamp, ctx.challenge)
    if len(sig) != 64 or not ed25519_verify(key, digest, sig):
        raise ChainProofError("signature", "does not verify for the wallet's key over this round's challenge")
    return NativeProof(key.hex(), f"ton-proof-{version}", f"{wc}:{hash_part.hex()}")


CHAIN = NativeChain("ton", "TON", normalize, verify, "TonConnect ton_proof with the wallet's StateInit")
