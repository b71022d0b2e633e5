"""Bitcoin ownership proofs: legacy signed messages (BIP-137) and BIP-322 *simple* signatures.

Curve work is libsecp256k1's (coincurve: key recovery, ECDSA and BIP-340 Schnorr verification); addresses,
scripts, the BIP-322 virtual transactions and their BIP-143 / BIP-341 signature hashes are embit's. What is
written here is the protocol glue: which hash, which key, which script the address commits to.

Accepted proofs, per address type:
- P2PKH: BIP-137 (Bitcoin Core's `signmessage`), compressed or uncompressed key.
- P2WPKH, P2SH-P2WPKH: BIP-137 (headers 31-42; the recovered compressed key must own the address, since
  wallets disagree on which header range they write) or BIP-322 simple.
- P2TR: BIP-322 simple, key path (64-byte signature, or 65 with SIGHASH_ALL).
- Multisig (P2SH, P2WSH, P2SH-P2WSH): one BIP-137 signature per key of the redeem script; the set needs m
  distinct keys (checked by the caller across rows, see `verify.py`).
Only SIGHASH_ALL (or taproot's default) is accepted in BIP-322 witnesses: any other type would sign less
than the whole virtual transaction.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

import coincurve
from embit import base58, bech32, compact
from embit import hashes as _hashes
from embit.networks import NETWORKS
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

MAGIC = b"\x18Bitcoin Signed Message:\n"
SIGHASH_DEFAULT, SIGHASH_ALL = 0x00, 0x01
CHAIN_NETWORKS = {"bitcoin": "main", "bitcoin-testnet": "test", "bitcoin-regtest": "regtest"}


def hash160(data: bytes) -> bytes:
    return bytes(_hashes.hash160(data))


def sha256(data: bytes) -> bytes:
    return bytes(_hashes.sha256(data))


def double_sha256(data: bytes) -> bytes:
    return bytes(_hashes.double_sha256(data))


def tagged_hash(tag: str, data: bytes) -> bytes:
    return bytes(_hashes.tagged_hash(tag, data))


class ProofError(Exception):
    """The proof does not show ownership; the text says why."""


@dataclass(frozen=True, slots=True)
class Address:
    text: str
    kind: str  # p2pkh | p2sh | p2wpkh | p2wsh | p2tr
    program: bytes  # hash160, sha256 or x-only key, as the script commits to it
    script_pubkey: bytes


def parse_address(text: str, chain: str = "bitcoin") -> Address:
    """Decode `text` for `chain`'s network; ValueError naming the problem."""
    net = NETWORKS[CHAIN_NETWORKS[chain]]
    hrp = net["bech32"]
    if text.lower().startswith(hrp + "1"):
        if text != text.lower() and text != text.upper():
            raise ValueError("mixed-case bech32 address")
        version, prog = bech32.decode(hrp, text.lower())
        if version is None or prog is None:
            raise ValueError(f"not a valid {chain} bech32 address")
        program = bytes(prog)
        if version == 0 and len(program) == 20:
            return Address(text.lower(), "p2wpkh", program, b"\x00\x14" + program)
        if version == 0 and len(program) == 32:
            return Address(text.lower(), "p2wsh", program, b"\x00\x20" + program)
        if version == 1 and len(program) == 32:
            return Address(text.lower(), "p2tr", program, b"\x51\x20" + program)
        raise ValueError(f"unsupported witness version {version}")
    try:
        raw = base58.decode_check(text)
    except Exception:
        raise ValueError(f"not a valid {chain} address (base58 checksum or bech32 prefix {hrp}1)") from None
    if len(raw) != 21:
        raise ValueError("base58 address of the wrong length")
    if raw[:1] == net["p2pkh"]:
        return Address(text, "p2pkh", raw[1:], b"\x76\xa9\x14" + raw[1:] + b"\x88\xac")
    if raw[:1] == net["p2sh"]:
        return Address(text, "p2sh", raw[1:], b"\xa9\x14" + raw[1:] + b"\x87")
    raise ValueError(f"address version byte {raw[0]} is not {chain}'s")


def address_of(script_pubkey: bytes, chain: str = "bitcoin") -> str:
    return str(Script(script_pubkey).address(NETWORKS[CHAIN_NETWORKS[chain]]))


# ------------------------------------------------------------------------------------- scripts
def p2pkh_script(pubkey: bytes) -> bytes:
    return b"\x76\xa9\x14" + hash160(pubkey) + b"\x88\xac"


def p2wpkh_script(pubkey: bytes) -> bytes:
    return b"\x00\x14" + hash160(pubkey)


def p2sh_script(redeem: bytes) -> bytes:
    return b"\xa9\x14" + hash160(redeem) + b"\x87"


def p2wsh_script(witness_script: bytes) -> bytes:
    return b"\x00\x20" + sha256(witness_script)


def p2tr_script(internal_key: bytes) -> bytes:
    """Key-path-only taproot output for a compressed or x-only internal key (BIP-86 tweak, by embit)."""
    from embit.ec import PublicKey as EmbitPublicKey

    key = EmbitPublicKey.from_xonly(internal_key) if len(internal_key) == 32 else EmbitPublicKey.parse(internal_key)
    return b"\x51\x20" + bytes(key.taproot_tweak(b"").xonly())


@dataclass(frozen=True, slots=True)
class Multisig:
    m: int
    pubkeys: tuple[bytes, ...]
    script: bytes


def parse_multisig(script: bytes) -> Multisig:
    """`OP_m <key>... OP_n OP_CHECKMULTISIG`, keys 33 or 65 bytes; ValueError otherwise."""
    if len(script) < 3 or script[-1] != 0xAE:
        raise ValueError("not a multisig script (must end in OP_CHECKMULTISIG)")
    m, n = script[0] - 0x50, script[-2] - 0x50
    if not 1 <= m <= n <= 16:
        raise ValueError("multisig script needs OP_1..OP_16 with m <= n")
    keys: list[bytes] = []
    i = 1
    while i < len(script) - 2:
        size = script[i]
        if size not in (33, 65) or i + 1 + size > len(script) - 2:
            raise ValueError("multisig script holds something other than public keys")
        keys.append(script[i + 1 : i + 1 + size])
        i += 1 + size
    if len(keys) != n:
        raise ValueError(f"multisig script says {n} keys but holds {len(keys)}")
    for key in keys:
        try:
            coincurve.PublicKey(key)
        except Exception:
            raise ValueError(f"multisig key {key.hex()} is not a valid secp256k1 point") from None
    return Multisig(m, tuple(keys), script)


def multisig_scripts(script: bytes) -> dict[str, bytes]:
    """The script pubkeys a multisig redeem/witness script can sit behind."""
    return {
        "p2sh": p2sh_script(script),
        "p2wsh": p2wsh_script(script),
        "p2sh-p2wsh": p2sh_script(p2wsh_script(script)),
    }


# ------------------------------------------------------------------------------------- BIP-137
def message_hash(message: bytes, magic: bytes = MAGIC) -> bytes:
    """Bitcoin Core's signed-message hash; forks (Litecoin, Dogecoin) change only the magic prefix."""
    return bytes(double_sha256(magic + compact.to_bytes(len(message)) + message))


def decode_signature(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ProofError("signature is not base64") from None


def recover_bip137(message: bytes, sig: bytes, magic: bytes = MAGIC) -> tuple[bytes, int]:
    """(the signer's serialized public key, header byte) of a 65-byte BIP-137 signature."""
    if len(sig) != 65 or not 27 <= sig[0] <= 42:
        raise ProofError("not a BIP-137 signature (65 bytes, header 27-42)")
    header = sig[0]
    recid = (header - 27) & 3
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            sig[1:] + bytes([recid]), message_hash(message, magic), hasher=None
        )
    except Exception:
        raise ProofError("no public key can be recovered from the signature") from None
    return key.format(compressed=header >= 31), header


def sign_bip137(
    secret: bytes, message: bytes, kind: str = "p2pkh", compressed: bool = True, magic: bytes = MAGIC
) -> str:
    """Base64 BIP-137 signature (for tests and the simulator); kind picks the header range."""
    base = {"p2pkh": 31 if compressed else 27, "p2sh-p2wpkh": 35, "p2wpkh": 39}[kind]
    rec = coincurve.PrivateKey(secret).sign_recoverable(message_hash(message, magic), hasher=None)
    return base64.b64encode(bytes([base + rec[64]]) + rec[:64]).decode()


def single_key_scripts(pubkey: bytes) -> dict[str, bytes]:
    scripts = {"p2pkh": p2pkh_script(pubkey)}
    if len(pubkey) == 33:
        scripts["p2wpkh"] = p2wpkh_script(pubkey)
        scripts["p2sh-p2wpkh"] = p2sh_script(p2wpkh_script(pubkey))
    return scripts


# ------------------------------------------------------------------------------------- BIP-322
def bip322_message_hash(message: bytes) -> bytes:
    return bytes(tagged_hash("BIP0322-signed-message", message))


def to_spend(script_pubkey: bytes, message: bytes) -> Transaction:
    txin = TransactionInput(
        b"\x00" * 32, 0xFFFFFFFF, script_sig=Script(b"\x00\x20" + bip322_message_hash(message)), sequence=0
    )
    return Transaction(version=0, vin=[txin], vout=[TransactionOutput(0, Script(script_pubkey))], locktime=0)


def to_sign(spend: Transaction, witness: list[bytes], script_sig: bytes = b"") -> Transaction:
    txin = TransactionInput(spend.txid(), 0, script_sig=Script(script_sig), sequence=0, witness=Witness(witness))
    return Transaction(version=0, vin=[txin], vout=[TransactionOutput(0, Script(b"\x6a"))], locktime=0)


def witness_items(sig: bytes) -> list[bytes]:
    stream = io.BytesIO(sig)
    try:
        items = [bytes(x) for x in Witness.read_from(stream).items]
    except Exception:
        raise ProofError("signature is neither BIP-137 nor a BIP-322 witness") from None
    if stream.read(1) or not items:
        raise ProofError("signature is neither BIP-137 nor a BIP-322 witness")
    return items


def _check_ecdsa(pubkey: bytes, item: bytes, sighash: bytes) -> None:
    if not item or item[-1] != SIGHASH_ALL:
        raise ProofError("BIP-322 ECDSA signature must use SIGHASH_ALL")
    try:
        ok = coincurve.PublicKey(pubkey).verify(item[:-1], sighash, hasher=None)
    except Exception:
        ok = False
    if not ok:
        raise ProofError("BIP-322 signature does not verify over this round's challenge")


def verify_bip322_simple(address: Address, message: bytes, sig: bytes) -> bytes:
    """Verify a BIP-322 simple signature; returns the key that signed (compressed, or x-only for P2TR)."""
    items = witness_items(sig)
    spend = to_spend(address.script_pubkey, message)
    if address.kind in ("p2wpkh", "p2sh"):
        if len(items) != 2 or len(items[1]) != 33:
            raise ProofError("P2WPKH witness must be [signature, compressed public key]")
        pubkey = items[1]
        program = hash160(pubkey)
        script_sig = b""
        if address.kind == "p2sh":
            redeem = b"\x00\x14" + program
            if hash160(redeem) != address.program:
                raise ProofError("public key in the witness does not match the P2SH-P2WPKH address")
            script_sig = bytes([len(redeem)]) + redeem
        elif program != address.program:
            raise ProofError("public key in the witness does not match the address")
        sign_tx = to_sign(spend, items, script_sig)
        sighash = sign_tx.sighash_segwit(0, Script(b"\x76\xa9\x14" + program + b"\x88\xac"), 0, SIGHASH_ALL)
        _check_ecdsa(pubkey, items[0], sighash)
        return pubkey
    if address.kind == "p2wsh":
        return _verify_p2wsh(address, spend, items)
    if address.kind == "p2tr" and len(items) >= 2 and is_control_block(items[-1]):
        return _verify_tapscript(address, spend, items)
    if address.kind == "p2tr":
        if len(items) != 1:
            raise ProofError(
                "taproot witness must be one key-path signature, or a script path ending in a control block"
            )
        item = items[0]
        hashtype = _schnorr_hashtype(item, "taproot")
        sign_tx = to_sign(spend, items)
        sighash = sign_tx.sighash_taproot(0, [Script(address.script_pubkey)], [0], sighash=hashtype)
        _check_schnorr(address.program, item, sighash, "taproot")
        return address.program
    raise ProofError(f"BIP-322 simple signatures are not accepted for {address.kind} addresses here")


def _verify_p2wsh(address: Address, spend: Transaction, items: list[bytes]) -> bytes:
    """P2WSH: the last witness item is the witness script; `<key> OP_CHECKSIG` or m-of-n `OP_CHECKMULTISIG`.
    Returns the signing key, or for multisig the keys that signed, concatenated."""
    script = items[-1]
    if sha256(script) != address.program:
        raise ProofError("witness script does not hash to the P2WSH address")
    sign_tx = to_sign(spend, items)
    sighash = sign_tx.sighash_segwit(0, Script(script), 0, SIGHASH_ALL)
    if len(script) == 35 and script[0] == 33 and script[-1] == 0xAC:
        if len(items) != 2:
            raise ProofError("P2WSH <key> OP_CHECKSIG witness must be [signature, witness script]")
        _check_ecdsa(script[1:34], items[0], sighash)
        return script[1:34]
    try:
        ms = parse_multisig(script)
    except ValueError as exc:
        raise ProofError(f"witness script: {exc} (only single-key and multisig scripts are accepted)") from None
    if len(items) != ms.m + 2 or items[0] != b"":
        raise ProofError(f"{ms.m}-of-{len(ms.pubkeys)} witness must be [empty, {ms.m} signatures, witness script]")
    # OP_CHECKMULTISIG: signatures in the keys' order, each key used at most once
    signed: list[bytes] = []
    keys = iter(ms.pubkeys)
    for sig in items[1:-1]:
        for key in keys:
            try:
                _check_ecdsa(key, sig, sighash)
            except ProofError:
                continue
            signed.append(key)
            break
        else:
            raise ProofError(f"BIP-322 multisig: fewer than {ms.m} signatures verify over this round's challenge")
    return b"".join(signed)


def is_control_block(item: bytes) -> bool:
    return len(item) >= 33 and (len(item) - 33) % 32 == 0 and len(item) <= 33 + 32 * 128 and item[0] & 0xFE == 0xC0


def _verify_tapscript(address: Address, spend: Transaction, items: list[bytes]) -> bytes:
    """Taproot script path (BIP-341/342): [signature, leaf script, control block] for a leaf
    `<x-only key> OP_CHECKSIG`; the control block must commit the leaf to the address's output key."""
    control, leaf, stack = items[-1], items[-2], items[:-2]
    leaf_version, internal = control[0] & 0xFE, control[1:33]
    node = tagged_hash("TapLeaf", bytes([leaf_version]) + compact.to_bytes(len(leaf)) + leaf)
    for i in range(33, len(control), 32):
        sibling = control[i : i + 32]
        node = tagged_hash("TapBranch", min(node, sibling) + max(node, sibling))
    try:
        tweak = tagged_hash("TapTweak", internal + node)
        output = coincurve.PublicKey(b"\x02" + internal).add(tweak).format(compressed=True)
    except Exception:
        raise ProofError("control block: not a valid internal key or tweak") from None
    if output[1:] != address.program or (output[0] == 0x03) != bool(control[0] & 1):
        raise ProofError("control block and leaf script do not commit to this taproot address")
    if len(leaf) != 34 or leaf[0] != 0x20 or leaf[-1] != 0xAC:
        raise ProofError("only `<x-only key> OP_CHECKSIG` tapscript leaves are accepted")
    if len(stack) != 1:
        raise ProofError("tapscript witness must be [signature, leaf script, control block]")
    item = stack[0]
    hashtype = _schnorr_hashtype(item, "tapscript")
    sign_tx = to_sign(spend, items)
    sighash = sign_tx.sighash_taproot(
        0, [Script(address.script_pubkey)], [0], sighash=hashtype, ext_flag=1, script=Script(leaf),
        leaf_version=leaf_version,
    )  # fmt: skip
    _check_schnorr(leaf[1:33], item, sighash, "tapscript")
    return leaf[1:33]


def _schnorr_hashtype(item: bytes, what: str) -> int:
    """The sighash type of a BIP-340 witness signature: 64 bytes (SIGHASH_DEFAULT) or 65 ending in SIGHASH_ALL."""
    if len(item) == 64:
        return SIGHASH_DEFAULT
    if len(item) == 65 and item[64] == SIGHASH_ALL:
        return SIGHASH_ALL
    raise ProofError(f"{what} signature must be 64 bytes, or 65 with SIGHASH_ALL")


def _check_schnorr(xonly: bytes, item: bytes, sighash: bytes, what: str) -> None:
    try:
        ok = coincurve.PublicKeyXOnly(xonly).verify(item[:64], sighash)
    except Exception:
        ok = False
    if not ok:
        raise ProofError(f"BIP-322 {what} signature does not verify over this round's challenge")


def sign_bip322_simple(secret: bytes, address: Address, message: bytes) -> str:
    """Base64 BIP-322 simple signature for a single-key P2WPKH, P2SH-P2WPKH or P2TR address."""
    priv = coincurve.PrivateKey(secret)
    spend = to_spend(address.script_pubkey, message)
    if address.kind == "p2tr":
        from embit.ec import PrivateKey as EmbitPrivateKey

        tweaked = EmbitPrivateKey(secret).taproot_tweak(b"")
        sign_tx = to_sign(spend, [b""])
        sighash = sign_tx.sighash_taproot(0, [Script(address.script_pubkey)], [0], sighash=SIGHASH_DEFAULT)
        item = coincurve.PrivateKey(tweaked.secret).sign_schnorr(sighash, sha256(secret + sighash))
        return base64.b64encode(Witness([item]).serialize()).decode()
    pubkey = priv.public_key.format(compressed=True)
    program = hash160(pubkey)
    script_sig = b"" if address.kind == "p2wpkh" else b"\x16\x00\x14" + program
    sign_tx = to_sign(spend, [b"", pubkey], script_sig)
    sighash = sign_tx.sighash_segwit(0, Script(b"\x76\xa9\x14" + program + b"\x88\xac"), 0, SIGHASH_ALL)
    der = priv.sign(sighash, hasher=None) + bytes([SIGHASH_ALL])
    return base64.b64encode(Witness([der, pubkey]).serialize()).decode()
