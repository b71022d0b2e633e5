"""Demo wallets on each asset's native chain: a key from the simulator's seed, its address, its signature.

Each function signs as that chain's wallets do (see `bastion.por.reserves.chains`); the tests check these
signatures with the chains' own libraries, so the simulator cannot drift from what real wallets write.
Demo keys only, never for real funds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import base58
import coincurve

from bastion.por.reserves import bitcoin
from bastion.por.reserves.chains import bitcoincash, dogecoin, litecoin, polkadot, xrpl
from bastion.por.reserves.chains.signed_message import Coin, address_for_key

# (address, signature, pubkey_or_script)
Signed = tuple[str, str, str]


def _ed25519(secret: bytes) -> tuple[bytes, Callable[[bytes], bytes]]:
    from nacl.signing import SigningKey

    key = SigningKey(secret)
    return bytes(key.verify_key), lambda message: bytes(key.sign(message).signature)


def solana(secret: bytes, message: str) -> Signed:
    public, sign = _ed25519(secret)
    return base58.b58encode(public).decode(), base58.b58encode(sign(message.encode())).decode(), ""


def xrpl_secp256k1(secret: bytes, message: str) -> Signed:
    key = coincurve.PrivateKey(secret)
    public = key.public_key.format(compressed=True)
    der = key.sign(hashlib.sha512(message.encode()).digest()[:32], hasher=None)  # libsecp256k1: low S
    return xrpl.classic_address(public), der.hex().upper(), public.hex().upper()


def xrpl_ed25519(secret: bytes, message: str) -> Signed:
    public, sign = _ed25519(secret)
    key = b"\xed" + public
    return xrpl.classic_address(key), sign(message.encode()).hex().upper(), key.hex().upper()


def _signmessage(coin: Coin, kind: str = "p2pkh") -> Callable[[bytes, str], Signed]:
    def sign(secret: bytes, message: str) -> Signed:
        public = coincurve.PrivateKey(secret).public_key.format(compressed=True)
        header = "p2wpkh" if kind == "p2wpkh" else "p2pkh"
        signature = bitcoin.sign_bip137(secret, message.encode(), header, magic=coin.magic)
        return address_for_key(coin, public, kind), signature, ""

    return sign


def polkadot_sr25519(secret: bytes, message: str) -> Signed:
    import sr25519

    pair = sr25519.pair_from_seed(secret)
    signature = sr25519.sign(pair, polkadot.wrap(message.encode()))
    return polkadot.ss58_address(pair[0]), "0x" + bytes(signature).hex(), ""


# chain -> signers the demo cycles through (several wallet kinds where the chain has them)
SIGNERS: dict[str, tuple[Callable[[bytes, str], Signed], ...]] = {
    "solana": (solana,),
    "xrpl": (xrpl_secp256k1, xrpl_ed25519),
    "dogecoin": (_signmessage(dogecoin.COIN),),
    "litecoin": (_signmessage(litecoin.COIN), _signmessage(litecoin.COIN, "p2wpkh")),
    "bitcoin-cash": (_signmessage(bitcoincash.COIN),),
    "polkadot": (polkadot_sr25519,),
}
