"""Secrets at rest: AES-256-GCM with a key derived from BASTION_SECRET_KEY, bound to where the value lives.

The associated data (e.g. b"totp:<user>") ties a sealed value to its row, so a value copied into another
user's row does not open there.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Sealer:
    def __init__(self, key_material: bytes, purpose: str) -> None:
        # One derived key per purpose: a leak of one domain's key does not open another's values.
        self._aead = AESGCM(
            hashlib.blake2b(key_material, digest_size=32, person=purpose.encode()[:16]).digest()
        )

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], context)
