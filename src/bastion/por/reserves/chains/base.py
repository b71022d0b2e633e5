"""What every native-chain module shares: the proof's result, the refusal naming a field, byte decoders.

A chain module exposes `CHAIN` (a `NativeChain`): how to normalize an address (so the same wallet written
two ways is one wallet) and how to verify a row's signature over the round's challenge. Modules never see
a `WalletRow` (that would make the wallet-set reader and the chains import each other): they get the
row's fields and a `Context` with the round's values.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import base58


class ChainProofError(Exception):
    """The proof does not show ownership. `field` is the wallet-set column at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class NativeProof:
    signer: str  # the key that signed, hex
    scheme: str  # e.g. "solana-ed25519", "cip8", "ton-proof"
    address: str  # normalized


@dataclass(frozen=True, slots=True)
class Context:
    """The round's values a proof is bound to, and what balance sources learned about accounts' keys."""

    challenge: str
    exchange: str
    round_id: str
    nonce: str
    # (chain, normalized address) -> public keys (hex) allowed to sign for the account, for chains whose
    # accounts are not a key hash (NEAR named accounts, Aptos after a key rotation): filled by the sources.
    account_keys: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NativeChain:
    name: str
    native_asset: str
    normalize: Callable[[str], str]  # ValueError with a reason when it is not an address of the chain
    verify: Callable[[str, str, str, Context], NativeProof]  # (address, signature, pubkey_or_script, ctx)
    schemes: str  # for the docs and error texts


T = TypeVar("T")


def parsed_address(parse: Callable[[str], T], address: str) -> T:
    """`parse(address)`, its ValueError turned into a refusal naming the address column."""
    try:
        return parse(address)
    except ValueError as exc:
        raise ChainProofError("address", str(exc)) from None


def from_hex(text: str) -> bytes | None:
    body = text[2:] if text[:2].lower() == "0x" else text
    try:
        return bytes.fromhex(body)
    except ValueError:
        return None


def decode_bytes(text: str, field: str, sizes: tuple[int, ...], *, base58_ok: bool = False) -> bytes:
    """Hex (0x optional), base64 or (when allowed) base58 text of one of `sizes` bytes."""
    text = text.strip()
    candidates: list[bytes] = []
    raw = from_hex(text)
    if raw is not None:
        candidates.append(raw)
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(text, validate=True))
    if base58_ok:
        with contextlib.suppress(ValueError):
            candidates.append(base58.b58decode(text))
    for candidate in candidates:
        if len(candidate) in sizes:
            return candidate
    want = " or ".join(str(s) for s in sizes)
    kinds = "hex, base64" + (" or base58" if base58_ok else "")
    raise ChainProofError(field, f"must be {want} bytes ({kinds})")


def json_object(text: str, field: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object written in a CSV cell (a wallet's answer as it returns it), with `keys` present."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ChainProofError(field, f"must be the wallet's JSON answer with {', '.join(keys)}") from None
    if not isinstance(value, dict):
        raise ChainProofError(field, "must be a JSON object")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ChainProofError(field, f"JSON lacks {', '.join(missing)}")
    return value


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
