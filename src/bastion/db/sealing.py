"""Secrets at rest, sealed with AES-256-GCM under a keyring: the newest key seals, every key opens (rotation).

One module for every sealed value (TOTP seeds, anti-phishing codes, contact addresses, due-diligence answers and
documents, Travel Rule messages, API key secrets). As with Fernet's MultiFernet, a keyring is an ordered list of
keys: `seal` always uses the first, `open` finds the key a value was sealed with, so a new key can be put first
while the old ones still open what they sealed; `needs_reseal` tells which values to re-seal before an old key is
dropped.

The associated data (`context`, e.g. b"totp:<user>" or an API key id) binds a value to where it lives, so a value
copied onto another row does not open there.

A value sealed here is `MAGIC | key id (4 bytes) | nonce (12) | ciphertext+tag` (`seal`, for binary columns), or
that envelope in base64 behind "sealed1:" (`seal_text`, for text columns). Two older formats still open:
- the former `db.sealed.Sealer` (binary): `nonce | ciphertext+tag`, no key id: every key of the ring is tried;
- the former `keys.crypto.SecretBox` (text): "aesgcm1:<key id, 8 hex>:<base64 of nonce | ciphertext+tag>".
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE = 12
_KID = 4
_MAGIC = b"BSL\x01"
_TEXT_PREFIX = "sealed1:"
_LEGACY_TEXT_PREFIX = "aesgcm1"


class SealError(ValueError):
    """A sealed value that does not open: malformed, tampered, moved to another row, or under an unknown key."""


def key_id(key: bytes) -> bytes:
    """A key's public name (first 4 bytes of its SHA-256; the former SecretBox showed the same bytes in hex)."""
    return hashlib.sha256(key).digest()[:_KID]


def derive_key(material: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose from the service's key material: a leak of one purpose's key opens no other
    purpose's values. (BLAKE2b keyed by the purpose, as the former `Sealer` derived it, so its values open.)"""
    return hashlib.blake2b(material, digest_size=KEY_BYTES, person=purpose.encode()[:16]).digest()


def decode_keys(setting: str) -> list[bytes]:
    """Keys from a comma-separated list of base64 32-byte keys (as BASTION_KEYS_ENCRYPTION_KEYS holds them)."""
    out: list[bytes] = []
    for i, encoded in enumerate(k for k in setting.split(",") if k.strip()):
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            raise ValueError(f"encryption key #{i + 1} is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise ValueError(f"encryption key #{i + 1} must be {KEY_BYTES} bytes, got {len(raw)}")
        out.append(raw)
    return out


class Keyring:
    """AES-256-GCM keys, newest first: the first seals, all open."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        for i, raw in enumerate(keys):
            if len(raw) != KEY_BYTES:
                raise ValueError(f"encryption key #{i + 1} must be {KEY_BYTES} bytes, got {len(raw)}")
        self._keys: list[tuple[bytes, AESGCM]] = [(key_id(raw), AESGCM(raw)) for raw in keys]
        self._by_id = {kid: aead for kid, aead in reversed(self._keys)}

    @classmethod
    def from_setting(cls, value: str) -> Keyring:
        """From a comma-separated list of base64 keys, the first one sealing."""
        return cls(decode_keys(value))

    @classmethod
    def derived(cls, materials: bytes | Sequence[bytes], purpose: str) -> Keyring:
        """One key per piece of key material (newest first), each derived for `purpose`."""
        return cls([derive_key(m, purpose) for m in ([materials] if isinstance(materials, bytes) else materials)])

    @property
    def current(self) -> bytes:
        """The id of the key that seals."""
        return self._keys[0][0]

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        kid, aead = self._keys[0]
        nonce = os.urandom(_NONCE)
        return _MAGIC + kid + nonce + aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plaintext; SealError when the value was sealed for another context, tampered or under no key here."""
        head = len(_MAGIC) + _KID
        why = "tampered or moved"
        if sealed[: len(_MAGIC)] == _MAGIC and len(sealed) >= head + _NONCE:
            aead = self._by_id.get(sealed[len(_MAGIC) : head])
            if aead is None:
                why = f"sealed under an unknown encryption key {sealed[len(_MAGIC) : head].hex()!r}"
            else:
                try:
                    return aead.decrypt(sealed[head : head + _NONCE], sealed[head + _NONCE :], context)
                except InvalidTag:
                    pass  # a former Sealer value whose random nonce happened to start like this: tried below
        # The former Sealer's format carries no key id: try each key, newest first.
        for _kid, aead in self._keys:
            try:
                return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context)
            except (InvalidTag, ValueError):
                continue
        raise SealError(f"sealed value does not open here ({why})")

    def seal_text(self, plaintext: str, context: str) -> str:
        return _TEXT_PREFIX + base64.b64encode(self.seal(plaintext.encode("utf-8"), context.encode("utf-8"))).decode()

    def open_text(self, sealed: str, context: str) -> str:
        if sealed.startswith(_TEXT_PREFIX):
            try:
                blob = base64.b64decode(sealed[len(_TEXT_PREFIX) :], validate=True)
            except ValueError:
                raise SealError("sealed value is malformed") from None
            if blob[: len(_MAGIC)] != _MAGIC:
                raise SealError("sealed value is malformed")
            return self.open(blob, context.encode("utf-8")).decode("utf-8")
        return self._open_legacy_text(sealed, context)

    def _open_legacy_text(self, sealed: str, context: str) -> str:
        """The former SecretBox's "aesgcm1:<kid hex>:<base64>"."""
        try:
            prefix, kid_hex, payload = sealed.split(":", 2)
            blob = base64.b64decode(payload, validate=True)
            kid = bytes.fromhex(kid_hex)
        except ValueError:
            raise SealError("sealed value is malformed") from None
        aead = self._by_id.get(kid)
        if prefix != _LEGACY_TEXT_PREFIX or aead is None:
            raise SealError(f"sealed value uses an unknown encryption key {kid_hex!r}")
        try:
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], context.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise SealError("sealed value does not open here (tampered or moved)") from None

    def needs_reseal(self, sealed: bytes | str) -> bool:
        """True when `sealed` is in a former format or was sealed with an older key (re-seal before dropping it)."""
        if isinstance(sealed, str):
            if not sealed.startswith(_TEXT_PREFIX):
                return True
            try:
                sealed = base64.b64decode(sealed[len(_TEXT_PREFIX) :], validate=True)
            except ValueError:
                return True
        return sealed[: len(_MAGIC)] != _MAGIC or sealed[len(_MAGIC) : len(_MAGIC) + _KID] != self.current
