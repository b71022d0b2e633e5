"""Detached Ed25519 signatures of the report's files, so a reader can check that the copy they hold is the one
the exchange signed, with the exchange's published public key.

    key = generate_key(Path("report-signing.key"))     # PEM (PKCS#8), mode 0600; publish public_key_hex(key)
    sign_file(Path("report.pdf"), key)                   # writes report.pdf.sig
    verify_file(Path("report.pdf"), Path("report.pdf.sig"), "<public key hex>")  # -> Verdict

The signature file (JSON, `bastion-report-signature/1`) holds the file's SHA-256, the signer's public key and
the Ed25519 signature over `b"bastion-report-signature/1\\n" + sha256 hex`. Verifying recomputes the digest
from the file, so one changed byte fails; a signature by any key other than the one the reader names fails.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_FORMAT = "bastion-report-signature/1"
SUFFIX = ".sig"


class SignatureInputError(ValueError):
    """A key or signature file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    file: str
    sha256: str
    public_key: str
    reason: str = ""


def _message(sha256_hex: str) -> bytes:
    return f"{SIGNATURE_FORMAT}\n{sha256_hex}".encode()


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def generate_key(path: Path) -> Ed25519PrivateKey:
    """A new signing key written to `path` (PEM, PKCS#8, readable by its owner only); refuses to overwrite."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file (PKCS#8), or a file holding its 32 raw bytes in hex."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SignatureInputError(f"{path}: cannot read the signing key: {exc.strerror or exc}") from None
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text, password=None)
        except (ValueError, TypeError) as exc:
            raise SignatureInputError(f"{path}: not a PEM private key without password: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureInputError(f"{path}: the key is not an Ed25519 key")
        return key
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise SignatureInputError(f"{path}: expected a PEM Ed25519 private key or 64 hex characters")
    return Ed25519PrivateKey.from_private_bytes(raw)


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key given as 64 hex characters, or the path of a file holding them (or a PEM public key)."""
    value = text.strip()
    path = Path(value)
    if len(value) != 64 and path.is_file():
        data = path.read_bytes().strip()
        if data.startswith(b"-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(data)
            except ValueError as exc:
                raise SignatureInputError(f"{path}: not a PEM public key: {exc}") from None
            if not isinstance(key, Ed25519PublicKey):
                raise SignatureInputError(f"{path}: the key is not an Ed25519 key")
            return key
        value = data.decode("ascii", "replace").strip()
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SignatureInputError(f"public key {text!r}: expected 64 hex characters (32 bytes) or a key file")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_file(path: Path, key: Ed25519PrivateKey) -> Path:
    """Write `path`.sig: the file's SHA-256, the public key and the signature over the digest."""
    digest = file_sha256(path)
    doc = {
        "format": SIGNATURE_FORMAT,
        "file": path.name,
        "sha256": digest,
        "algorithm": "Ed25519",
        "public_key": public_key_hex(key),
        "signature": key.sign(_message(digest)).hex(),
    }
    out = path.with_name(path.name + SUFFIX)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return out


def verify_file(path: Path, signature: Path, public_key: str | Ed25519PublicKey) -> Verdict:
    """Check `path` against its detached signature and the exchange's public key (never the one in the file)."""
    pub = parse_public_key(public_key) if isinstance(public_key, str) else public_key
    pub_hex = public_key_hex(pub)
    try:
        doc = json.loads(signature.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SignatureInputError(f"{signature}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureInputError(f"{signature}: not readable JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT:
        raise SignatureInputError(f"{signature}: format: expected {SIGNATURE_FORMAT!r}")
    try:
        sig = bytes.fromhex(str(doc.get("signature", "")))
    except ValueError:
        raise SignatureInputError(f"{signature}: signature: not hex") from None
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise SignatureInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if doc.get("sha256") != digest:
        return Verdict(False, str(path), digest, pub_hex,
                       f"the file's SHA-256 is {digest}, the signature is for {doc.get('sha256')}: the file was "
                       "changed after signing (or is another file)")  # fmt: skip
    if doc.get("public_key") not in (None, pub_hex):
        return Verdict(False, str(path), digest, pub_hex,
                       f"signed by key {doc.get('public_key')}, not by the key given ({pub_hex})")  # fmt: skip
    try:
        pub.verify(sig, _message(digest))
    except InvalidSignature:
        return Verdict(False, str(path), digest, pub_hex, "the Ed25519 signature does not verify with the key given")
    return Verdict(True, str(path), digest, pub_hex)
