"""Secrets sealed at rest and passphrases hashed: try to read, move, tamper and guess them."""

from __future__ import annotations

import base64

import pytest

from bastion.db.sealing import Keyring
from bastion.keys import crypto
from bastion.keys.errors import KeyInputError

FAST = crypto.Argon2Params(time_cost=1, memory_kib=1024)


def test_generated_material_has_okx_shape_and_is_unique() -> None:
    keys = {crypto.new_api_key() for _ in range(200)}
    secrets = {crypto.new_secret() for _ in range(200)}
    assert len(keys) == len(secrets) == 200
    s = next(iter(secrets))
    assert len(s) == 32 and s == s.upper() and int(s, 16) >= 0
    crypto.check_passphrase(crypto.new_passphrase())


def _key() -> bytes:
    return base64.b64decode(crypto.new_encryption_key())


def test_sealed_secret_opens_only_for_its_own_key() -> None:
    box = Keyring([_key()])
    sealed = box.seal_text("SECRET", "key-a")
    assert "SECRET" not in sealed
    assert box.open_text(sealed, "key-a") == "SECRET"
    with pytest.raises(ValueError, match="tampered or moved"):
        box.open_text(sealed, "key-b")  # a ciphertext copied onto another key's row
    prefix, payload = sealed.split(":")
    flipped = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    with pytest.raises(ValueError):
        box.open_text(f"{prefix}:{flipped}", "key-a")
    with pytest.raises(ValueError, match="unknown encryption key"):
        Keyring([_key()]).open_text(sealed, "key-a")  # wrong master key
    assert box.seal_text("SECRET", "key-a") != sealed  # fresh nonce each time


def test_rotation_first_key_seals_all_keys_open() -> None:
    old, new = crypto.new_encryption_key(), crypto.new_encryption_key()
    sealed_old = Keyring.from_setting(old).seal_text("S", "k")
    rotated = Keyring.from_setting(f"{new},{old}")
    assert rotated.open_text(sealed_old, "k") == "S"
    assert rotated.needs_reseal(sealed_old)
    assert not rotated.needs_reseal(rotated.seal_text("S", "k"))


@pytest.mark.parametrize("bad", ["", "not base64!", "AAAA"])
def test_bad_master_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Keyring.from_setting(bad)


@pytest.mark.parametrize(
    ("passphrase", "why"),
    [
        ("short1", "8 to 32"),
        ("a1" * 17, "8 to 32"),
        ("onlyletters", "digit"),
        ("12345678", "letter"),
        ("pässwörd123", "ASCII"),
        ("pass word1", "ASCII"),
    ],
)
def test_passphrase_rules(passphrase: str, why: str) -> None:
    with pytest.raises(KeyInputError, match=why) as exc:
        crypto.check_passphrase(passphrase)
    assert exc.value.field == "passphrase"


def test_passphrase_hash_and_verified_cache() -> None:
    v = crypto.PassphraseVerifier(FAST, cache_size=2)
    h = v.hash("Passphrase1!")
    assert h.startswith("$argon2id$") and "Passphrase1!" not in h
    assert not v.verify("k", h, "passphrase1!")  # a wrong one before any success
    assert v.verify("k", h, "Passphrase1!")
    assert v.verify("k", h, "Passphrase1!")  # now from the cache
    assert not v.verify("k", h, "Passphrase1")  # the cache does not turn a near miss into a hit
    assert not v.verify("other", h, "Passphrase1") and not v.verify("k", "garbage", "Passphrase1!")
    # A changed (or wiped) stored hash invalidates what was cached for it.
    h2 = v.hash("Another123")
    assert not v.verify("k", h2, "Passphrase1!")
    assert v.verify("k", h2, "Another123")
    v.forget("k")
    assert v.verify("k", h2, "Another123")
    for i in range(5):  # the cache is bounded
        v.verify(f"k{i}", h2, "Another123")
    assert len(v._verified) == 2
