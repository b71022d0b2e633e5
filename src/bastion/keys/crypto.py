"""Key material: generating keys, the secret encrypted at rest, the passphrase as an argon2 hash.

The signing secret must be readable by the server (it recomputes every HMAC), so it cannot be hashed: it is
sealed (`bastion.db.sealing`, AES-256-GCM) under a key from the environment, with the API key id as associated
data so a ciphertext copied onto another key's row does not open. Several encryption keys may be configured:
the first seals, all open, so the key can be rotated without a flag day.

The passphrase is only ever compared, so it is stored as an argon2id hash. Argon2 is deliberately slow
(tens of ms), too slow to run on every request; after one successful check the verifier remembers a keyed
digest of the passphrase (process-local random key, never stored) and later requests compare against that.
A wrong passphrase always pays the full argon2 cost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bastion.keys.errors import KeyInputError

PASSPHRASE_MIN, PASSPHRASE_MAX = 8, 32
_PASSPHRASE_CHARS = set(string.ascii_letters + string.digits + string.punctuation)


def new_api_key() -> str:
    """A key id shaped like OKX's (a random UUID)."""
    return str(uuid.uuid4())


def new_secret() -> str:
    """A signing secret shaped like OKX's: 32 upper-case hex characters, 128 random bits."""
    return secrets.token_hex(16).upper()


def new_passphrase() -> str:
    """A random passphrase for keys issued to a third-party app (Fast API): letters, digits, one symbol."""
    alphabet = string.ascii_letters + string.digits
    # OKX requires a letter and a digit: put one of each in, then shuffle so their places are random too
    chars = [secrets.choice(string.ascii_letters), secrets.choice(string.digits)]
    chars += [secrets.choice(alphabet) for _ in range(21)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars) + "!"


def check_passphrase(passphrase: str) -> None:
    """OKX's rule: 8 to 32 printable ASCII characters, at least one letter and one digit."""
    if not PASSPHRASE_MIN <= len(passphrase) <= PASSPHRASE_MAX:
        raise KeyInputError("passphrase", f"must be {PASSPHRASE_MIN} to {PASSPHRASE_MAX} characters long")
    if any(c not in _PASSPHRASE_CHARS for c in passphrase):
        raise KeyInputError("passphrase", "only letters, digits and ASCII punctuation are allowed")
    if not any(c.isalpha() for c in passphrase) or not any(c.isdigit() for c in passphrase):
        raise KeyInputError("passphrase", "needs at least one letter and one digit")


def derive_encryption_key(material: bytes) -> str:
    """An AES-256 key for secrets at rest derived (HKDF-SHA256) from the service's general secret key, so a
    deployment that sets only BASTION_SECRET_KEY still seals with a key of its own purpose."""
    raw = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"bastion/keys/secret-box/v1").derive(material)
    return base64.b64encode(raw).decode("ascii")


def new_encryption_key() -> str:
    """A fresh value for BASTION_KEYS_ENCRYPTION_KEYS (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True)
class Argon2Params:
    # OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): ~50 ms a check on one core.
    time_cost: int = 2
    memory_kib: int = 19456
    parallelism: int = 1


class PassphraseVerifier:
    """argon2id hashing plus a bounded cache of passphrases already verified in this process."""

    def __init__(self, params: Argon2Params | None = None, cache_size: int = 100_000) -> None:
        p = params or Argon2Params()
        self._hasher = PasswordHasher(
            time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism
        )
        self._pepper = os.urandom(
            32
        )  # process-local: the cache is useless to anyone who reads memory dumps later
        self._verified: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def hash(self, passphrase: str) -> str:
        return self._hasher.hash(passphrase)

    def _digest(self, passphrase: str) -> bytes:
        return hmac.new(self._pepper, passphrase.encode("utf-8"), hashlib.sha256).digest()

    def verify(self, key_id: str, stored_hash: str, passphrase: str) -> bool:
        # The cache is keyed by the stored hash too, so a key whose passphrase hash changed (or was wiped on
        # revoke) never matches an old entry.
        slot = (key_id, stored_hash)
        digest = self._digest(passphrase)
        with self._lock:
            known = self._verified.get(slot)
        if known is not None:
            return hmac.compare_digest(known, digest)
        try:
            self._hasher.verify(stored_hash, passphrase)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        with self._lock:
            self._verified[slot] = digest
            self._verified.move_to_end(slot)
            while len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return True

    def verify_cached(self, key_id: str, stored_hash: str, passphrase: str) -> bool | None:
        """`verify` from the cache alone: None when this hash has not been verified in this process yet (the
        answer needs an argon2 run)."""
        with self._lock:
            known = self._verified.get((key_id, stored_hash))
        if known is None:
            return None
        return hmac.compare_digest(known, self._digest(passphrase))

    def forget(self, key_id: str) -> None:
        with self._lock:
            for slot in [s for s in self._verified if s[0] == key_id]:
                del self._verified[slot]
