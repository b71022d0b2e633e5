"""One sealing module for every secret at rest: values sealed by the two former wrappers still open (fixed
vectors made by that code before it was removed), rotation keeps old values readable, moved or tampered values
never open."""

from __future__ import annotations

import base64
import os

import pytest

from bastion.db.sealing import Keyring, SealError, derive_key
from bastion.keys.crypto import derive_encryption_key

MATERIAL = b"legacy-vector-material-0123456789abcdef"

# `bastion.db.sealed.Sealer(MATERIAL, "totp").seal(b"JBSWY3DPEHPK3PXP", b"totp:alice")`, by the former code.
SEALER_VECTOR = bytes.fromhex(
    "72124e41804f65f5003c4e03884b45c01e5a339b24b98e97885ea0aa84f99491684aef0c96602f59937bf9bb"
)
# `bastion.keys.crypto.SecretBox([KEY]).seal(KEY_ID, SECRET)`, by the former code.
BOX_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
BOX_KEY_ID = "3f1c9a52-0000-4000-8000-000000000001"
BOX_VECTOR = "aesgcm1:630dcd29:KQgMmnbWX2r4diG4w2kSBDeQjptOziTRJq9eUTwttYbeCbqyA86ZBR4GZLGV6IKCNy5Yps9HC5DEk8qA"
# `SecretBox([derive_encryption_key(MATERIAL)]).seal("key-x", "SECRETDERIVED")`: a deployment without a keyring.
DERIVED_VECTOR = "aesgcm1:6aa5c8c5:EEuMOiAF8CtSN8uCXoZnS+uSsdVsvH/9FMJsr/u7EWYwGY0U45fgCtw="


def test_values_of_the_former_sealer_still_open() -> None:
    ring = Keyring.derived(MATERIAL, "totp")
    assert ring.open(SEALER_VECTOR, b"totp:alice") == b"JBSWY3DPEHPK3PXP"
    assert ring.needs_reseal(SEALER_VECTOR)
    with pytest.raises(SealError):
        ring.open(SEALER_VECTOR, b"totp:mallory")  # copied onto another user's row
    with pytest.raises(SealError):
        Keyring.derived(MATERIAL, "anti-phishing").open(SEALER_VECTOR, b"totp:alice")  # another purpose's key
    # after a rotation the old material still opens it
    rotated = Keyring.derived([os.urandom(32), MATERIAL], "totp")
    assert rotated.open(SEALER_VECTOR, b"totp:alice") == b"JBSWY3DPEHPK3PXP"


def test_values_of_the_former_secret_box_still_open() -> None:
    assert Keyring.from_setting(BOX_KEY).open_text(BOX_VECTOR, BOX_KEY_ID) == "0123456789ABCDEF0123456789ABCDEF"
    assert Keyring.from_setting(derive_encryption_key(MATERIAL)).open_text(DERIVED_VECTOR, "key-x") == "SECRETDERIVED"
    rotated = Keyring.from_setting(f"{base64.b64encode(os.urandom(32)).decode()},{BOX_KEY}")
    assert rotated.open_text(BOX_VECTOR, BOX_KEY_ID) == "0123456789ABCDEF0123456789ABCDEF"
    assert rotated.needs_reseal(BOX_VECTOR)
    with pytest.raises(SealError, match="tampered or moved"):
        rotated.open_text(BOX_VECTOR, "another-key-id")
    with pytest.raises(SealError, match="unknown encryption key"):
        Keyring([os.urandom(32)]).open_text(BOX_VECTOR, BOX_KEY_ID)


def test_rotation_newest_key_seals_every_key_opens() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = Keyring([old]).seal(b"seed", b"ctx")
    ring = Keyring([new, old])
    after = ring.seal(b"seed", b"ctx")
    assert ring.open(before, b"ctx") == ring.open(after, b"ctx") == b"seed"
    assert ring.needs_reseal(before) and not ring.needs_reseal(after)
    assert Keyring([new]).open(after, b"ctx") == b"seed"  # the new value needs only the new key
    with pytest.raises(SealError, match="unknown encryption key"):
        Keyring([old]).open(after, b"ctx")  # so it really was sealed with the new key, not the old one
    text = ring.seal_text("secret", "key-1")
    assert ring.open_text(text, "key-1") == "secret" and not ring.needs_reseal(text)
    assert Keyring([old, new]).needs_reseal(text)  # rotated back: re-seal under `old`


def test_tampered_or_truncated_values_never_open() -> None:
    ring = Keyring([os.urandom(32)])
    sealed = ring.seal(b"personal data", b"row:1")
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 0x01
        with pytest.raises(SealError):
            ring.open(bytes(bad), b"row:1")
    for cut in (0, 5, 20, len(sealed) - 1):
        with pytest.raises(SealError):
            ring.open(sealed[:cut], b"row:1")
    with pytest.raises(SealError, match="malformed"):
        ring.open_text("sealed1:not base64!", "row:1")


def test_purposes_derive_different_keys_and_bad_keys_are_refused() -> None:
    assert derive_key(MATERIAL, "totp") != derive_key(MATERIAL, "diligence")
    with pytest.raises(ValueError):
        Keyring([])
    with pytest.raises(ValueError):
        Keyring([b"short"])
