"""Bitcoin's signed messages on its forks: Dogecoin, Litecoin, Bitcoin Cash (one module each uses this).

The scheme is Bitcoin Core's `signmessage` (BIP-137 headers, compact recoverable ECDSA over
double-SHA-256 of magic + length + message); each fork changes the magic prefix (Bitcoin Cash keeps
Bitcoin's) and the address formats. The recovered key must own the address: P2PKH for every fork, and
for Litecoin's segwit addresses P2WPKH and P2SH-P2WPKH (headers 31-42, as for Bitcoin).
Bitcoin Cash addresses are CashAddr (`bitcoincash:q...`); legacy base58 ones are accepted and written
back as CashAddr so one wallet written both ways is one wallet.
"""

from __future__ import annotations

from dataclasses import dataclass

import base58

from bastion.por.reserves import bitcoin
from bastion.por.reserves.chains.base import ChainProofError, Context, NativeChain, NativeProof


@dataclass(frozen=True, slots=True)
class Coin:
    chain: str
    asset: str
    magic: bytes  # length-prefixed, as hashed
    p2pkh: bytes
    p2sh: tuple[bytes, ...]
    bech32_hrp: str | None = None
    cashaddr_prefix: str | None = None


def _script_of(coin: Coin, text: str) -> bytes:
    """The scriptPubKey an address of `coin` pays to; ValueError naming the problem."""
    text = text.strip()
    if coin.cashaddr_prefix is not None and not _looks_base58(text):
        kind, payload = cashaddr_decode(text, coin.cashaddr_prefix)
        return bitcoin_script(kind, payload)
    if coin.bech32_hrp is not None and text.lower().startswith(coin.bech32_hrp + "1"):
        from embit import bech32

        version, prog = bech32.decode(coin.bech32_hrp, text.lower())
        if version != 0 or prog is None or len(prog) not in (20, 32):
            raise ValueError(f"not a {coin.chain} segwit v0 address")
        return bytes([0, len(prog)]) + bytes(prog)
    try:
        raw = base58.b58decode_check(text)
    except ValueError:
        raise ValueError(f"not a {coin.chain} address (base58check)") from None
    if len(raw) != 21:
        raise ValueError("base58 address of the wrong length")
    if raw[:1] == coin.p2pkh:
        return bitcoin_script("p2pkh", raw[1:])
    if raw[:1] in coin.p2sh:
        return bitcoin_script("p2sh", raw[1:])
    raise ValueError(f"address version byte {raw[0]} is not {coin.chain}'s")


def _looks_base58(text: str) -> bool:
    return ":" not in text and text[:1] in ("1", "3")


def bitcoin_script(kind: str, payload: bytes) -> bytes:
    if kind == "p2pkh":
        return b"\x76\xa9\x14" + payload + b"\x88\xac"
    return b"\xa9\x14" + payload + b"\x87"


def normalize_for(coin: Coin, text: str) -> str:
    script = _script_of(coin, text)
    if coin.cashaddr_prefix is not None:
        kind = "p2pkh" if script[0] == 0x76 else "p2sh"
        payload = script[3:23] if kind == "p2pkh" else script[2:22]
        return cashaddr_encode(coin.cashaddr_prefix, kind, payload)
    if coin.bech32_hrp is not None and script[0] == 0:
        return text.strip().lower()
    return text.strip()


def verify_for(coin: Coin, address: str, signature: str, pubkey: str, ctx: Context) -> NativeProof:
    try:
        script = _script_of(coin, address)
        normal = normalize_for(coin, address)
    except ValueError as exc:
        raise ChainProofError("address", str(exc)) from None
    try:
        sig = bitcoin.decode_signature(signature)
        key, _ = bitcoin.recover_bip137(ctx.challenge.encode(), sig, coin.magic)
    except bitcoin.ProofError as exc:
        raise ChainProofError("signature", str(exc)) from None
    scripts = bitcoin.single_key_scripts(key)
    if coin.bech32_hrp is None:
        scripts = {"p2pkh": scripts["p2pkh"]}
    if script not in scripts.values():
        raise ChainProofError(
            "signature",
            f"does not verify: the key it recovers over this round's challenge ({coin.chain} message prefix) "
            "does not own the address",
        )
    if pubkey:
        claimed = bytes.fromhex(pubkey) if _is_hex(pubkey) else b""
        if claimed != key:
            raise ChainProofError("pubkey_or_script", "is not the key that signed")
    return NativeProof(key.hex(), f"{coin.chain}-signmessage", normal)


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def chain_of(coin: Coin) -> NativeChain:
    return NativeChain(
        coin.chain,
        coin.asset,
        lambda text: normalize_for(coin, text),
        lambda a, s, p, ctx: verify_for(coin, a, s, p, ctx),
        "signmessage (BIP-137 headers) with the chain's message prefix",
    )


def address_for_key(coin: Coin, public_key: bytes, kind: str = "p2pkh") -> str:
    """The address of a compressed key (for the simulator): P2PKH, or the coin's native segwit."""
    if kind == "p2wpkh":
        assert coin.bech32_hrp is not None
        from embit import bech32

        return str(bech32.encode(coin.bech32_hrp, 0, bitcoin.hash160(public_key)))
    if coin.cashaddr_prefix is not None:
        return cashaddr_encode(coin.cashaddr_prefix, "p2pkh", bitcoin.hash160(public_key))
    return base58.b58encode_check(coin.p2pkh + bitcoin.hash160(public_key)).decode()


# ------------------------------------------------------------------------------------- CashAddr
# The CashAddr specification (bitcoincashorg spec/cashaddr.md): bech32's alphabet, a 40-bit BCH checksum
# over the prefix's low 5 bits, a 0 separator, and a version byte (type << 3 | size code) + hash.
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATORS = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
_TYPES = {"p2pkh": 0, "p2sh": 1}


def _polymod(values: list[int]) -> int:
    c = 1
    for d in values:
        c0 = c >> 35
        c = ((c & 0x07FFFFFFFF) << 5) ^ d
        for i, g in enumerate(_GENERATORS):
            if (c0 >> i) & 1:
                c ^= g
    return c ^ 1


def _prefix_values(prefix: str) -> list[int]:
    return [ord(ch) & 0x1F for ch in prefix] + [0]


def _convert(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (tobits - bits)) & maxv)
    elif not pad and (bits >= frombits or ((acc << (tobits - bits)) & maxv)):
        return None
    return out


def cashaddr_encode(prefix: str, kind: str, payload: bytes) -> str:
    if len(payload) != 20:
        raise ValueError("only 160-bit CashAddr hashes are written")
    data = _convert(bytes([_TYPES[kind] << 3]) + payload, 8, 5, True)
    assert data is not None
    checksum = _polymod(_prefix_values(prefix) + data + [0] * 8)
    data += [(checksum >> 5 * (7 - i)) & 0x1F for i in range(8)]
    return prefix + ":" + "".join(_CHARSET[d] for d in data)


def cashaddr_decode(text: str, prefix: str) -> tuple[str, bytes]:
    """(p2pkh | p2sh, 20-byte hash) of a CashAddr address, with or without its prefix."""
    if text != text.lower() and text != text.upper():
        raise ValueError("mixed-case CashAddr address")
    text = text.lower()
    given, sep, body = text.rpartition(":")
    if sep and given != prefix:
        raise ValueError(f"CashAddr prefix {given!r} is not {prefix!r}")
    if not body or any(ch not in _CHARSET for ch in body):
        raise ValueError("not a CashAddr address")
    values = [_CHARSET.index(ch) for ch in body]
    if _polymod(_prefix_values(prefix) + values) != 0:
        raise ValueError("CashAddr checksum does not match")
    raw = _convert(values[:-8], 5, 8, False)
    if raw is None or len(raw) != 21:
        raise ValueError("CashAddr payload is not a 160-bit hash")
    version = raw[0]
    kinds = {v: k for k, v in _TYPES.items()}
    if version & 0x07 != 0 or (version >> 3) not in kinds:
        raise ValueError(f"CashAddr version {version} is not P2PKH or P2SH")
    return kinds[version >> 3], bytes(raw[1:])
