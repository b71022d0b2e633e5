"""EVM (EIP-191 personal_sign) and TRON (TIP-191 signed message) ownership proofs.

EIP-191 version 0x45 hashing is eth-account's (`defunct_hash_message`); key recovery is eth-keys' (backed by
libsecp256k1 through coincurve). TRON signs the same way under its own prefix,
`keccak256("\\x19TRON Signed Message:\\n" + len(message) + message)` (TronWeb's `signMessageV2`), and its
address is the same 20-byte key hash as Ethereum's behind version byte 0x41 in base58check.
"""

from __future__ import annotations

import sys

from eth_keys.datatypes import PrivateKey, PublicKey, Signature
from eth_utils.address import is_checksum_address
from eth_utils.crypto import keccak

# Importing eth-account imports py_ecc (through eth_keyfile), which raises the WHOLE process's recursion limit
# to 100,000 as a side effect. In a service worker that turns a deeply nested JSON body into a C stack
# overflow (SIGSEGV) instead of a RecursionError; the limit is put back as it was once the import is done.
_RECURSION_LIMIT = sys.getrecursionlimit()
try:
    from eth_account.messages import defunct_hash_message
finally:
    sys.setrecursionlimit(_RECURSION_LIMIT)

EVM_CHAINS = frozenset(
    {"ethereum", "arbitrum", "optimism", "base", "polygon", "bsc", "avalanche", "linea", "zksync", "scroll"}
)
TRON_PREFIX = b"\x19TRON Signed Message:\n"


class EvmProofError(Exception):
    pass


def parse_evm_address(text: str) -> bytes:
    """20 bytes of a 0x address; a mixed-case address must carry a valid EIP-55 checksum."""
    if len(text) != 42 or not text.startswith("0x"):
        raise ValueError("EVM address must be 0x followed by 40 hex digits")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError("EVM address must be 0x followed by 40 hex digits") from None
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise ValueError("EVM address has a wrong EIP-55 checksum")
    return raw


def parse_tron_address(text: str) -> bytes:
    """20-byte key hash of a base58check TRON address (version byte 0x41)."""
    from embit import base58

    try:
        raw = base58.decode_check(text)
    except Exception:
        raise ValueError("not a valid TRON address (base58check)") from None
    if len(raw) != 21 or raw[0] != 0x41:
        raise ValueError("TRON address must be base58check of 0x41 + 20 bytes")
    return bytes(raw[1:])


def tron_address(key_hash: bytes) -> str:
    from embit import base58

    return str(base58.encode_check(b"\x41" + key_hash))


def eip191_hash(message: str) -> bytes:
    return bytes(defunct_hash_message(text=message))


def tron_hash(message: str) -> bytes:
    body = message.encode()
    return bytes(keccak(TRON_PREFIX + str(len(body)).encode() + body))


def _signature(text: str) -> Signature:
    raw_text = text[2:] if text.startswith("0x") else text
    try:
        raw = bytes.fromhex(raw_text)
    except ValueError:
        raise EvmProofError("signature is not hex") from None
    if len(raw) != 65:
        raise EvmProofError("signature must be 65 bytes (r, s, v)")
    v = raw[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise EvmProofError(f"signature recovery byte v={raw[64]} is not 27/28 (or 0/1)")
    try:
        return Signature(vrs=(v, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")))
    except Exception as exc:
        raise EvmProofError(f"malformed signature: {exc}") from None


def recover_signer(digest: bytes, signature: str) -> PublicKey:
    sig = _signature(signature)
    try:
        return sig.recover_public_key_from_msg_hash(digest)
    except Exception:
        raise EvmProofError("no public key can be recovered from the signature") from None


def key_hash(public_key: PublicKey) -> bytes:
    return bytes(public_key.to_canonical_address())


def parse_public_key(text: str) -> PublicKey:
    """64-byte, 65-byte (0x04...) or 33-byte compressed secp256k1 public key in hex."""
    raw_text = text[2:] if text.startswith("0x") else text
    try:
        raw = bytes.fromhex(raw_text)
        if len(raw) == 33:
            return PublicKey.from_compressed_bytes(raw)
        if len(raw) == 65 and raw[0] == 4:
            raw = raw[1:]
        return PublicKey(raw)
    except Exception:
        raise ValueError("not a secp256k1 public key (hex, 33, 64 or 65 bytes)") from None


def sign_eip191(secret: bytes, message: str) -> str:
    """0x-hex personal_sign signature with v in {27, 28} (for tests and the simulator)."""
    sig = PrivateKey(secret).sign_msg_hash(eip191_hash(message))
    return "0x" + sig.to_bytes()[:64].hex() + format(sig.v + 27, "02x")


def sign_tron(secret: bytes, message: str) -> str:
    sig = PrivateKey(secret).sign_msg_hash(tron_hash(message))
    return "0x" + sig.to_bytes()[:64].hex() + format(sig.v + 27, "02x")
