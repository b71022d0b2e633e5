"""Demo wallets on each asset's native chain: a key from the simulator's seed, its address, its signature.

Each function signs as that chain's wallets do (see `bastion.por.reserves.chains`); the tests check these
signatures with the chains' own libraries, so the simulator cannot drift from what real wallets write.
Demo keys only, never for real funds.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import base58
import coincurve

from bastion.por.reserves import bitcoin
from bastion.por.reserves.chains import aptos, bitcoincash, cardano, dogecoin, litecoin, near, polkadot, ton, xrpl
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


def cardano_cip30(secret: bytes, message: str) -> Signed:
    """signData of an enterprise address: COSE_Sign1 (EdDSA, address in the protected header) and COSE_Key."""
    import cbor2

    public, sign = _ed25519(secret)
    address = cardano.enterprise_address(public)
    protected = cbor2.dumps({1: -8, "address": cardano.address_bytes(address)})
    payload = message.encode()
    signature = sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    sign1 = cbor2.dumps([protected, {"hashed": False}, payload, signature])
    cose_key = cbor2.dumps({1: 1, 3: -8, -1: 6, -2: public})
    return address, sign1.hex(), cose_key.hex()


# Wallet v4r2's code (the contract every v4r2 wallet deploys); the tests check the address it gives
# against tonsdk's.
TON_WALLET_V4R2_CODE = (
    "te6cckECFAEAAtQAART/APSkE/S88sgLAQIBIAIPAgFIAwYC5tAB0NMDIXGwkl8E4CLXScEgkl8E4ALTHyGCEHBsdWe9IoIQZHN0cr2wkl8F4AP6"
    "QDAg+kQByMoHy//J0O1E0IEBQNch9AQwXIEBCPQKb6Exs5JfB+AF0z/IJYIQcGx1Z7qSODDjDQOCEGRzdHK6kl8G4w0EBQB4AfoA9AQw+CdvIjBQ"
    "CqEhvvLgUIIQcGx1Z4MesXCAGFAEywUmzxZY+gIZ9ADLaRfLH1Jgyz8gyYBA+wAGAIpQBIEBCPRZMO1E0IEBQNcgyAHPFvQAye1UAXKwjiOCEGRz"
    "dHKDHrFwgBhQBcsFUAPPFiP6AhPLassfyz/JgED7AJJfA+ICASAHDgIBIAgNAgFYCQoAPbKd+1E0IEBQNch9AQwAsjKB8v/ydABgQEI9ApvoTGAC"
    "ASALDAAZrc52omhAIGuQ64X/wAAZrx32omhAEGuQ64WPwAARuMl+1E0NcLH4AFm9JCtvaiaECAoGuQ+gIYRw1AgIR6STfSmRDOaQPp/5g3gSgBt4"
    "EBSJhxWfMYQE+PKDCNcYINMf0x/THwL4I7vyZO1E0NMf0x/T//QE0VFDuvKhUVG68qIF+QFUEGT5EPKj+AAkpMjLH1JAyx9SMMv/UhD0AMntVPgP"
    "AdMHIcAAn2xRkyDXSpbTB9QC+wDoMOAhwAHjACHAAuMAAcADkTDjDQOkyMsfEssfy/8QERITAG7SB/oA1NQi+QAFyMoHFcv/ydB3dIAYyMsFywIi"
    "zxZQBfoCFMtrEszMyXP7AMhAFIEBCPRR8qcCAHCBAQjXGPoA0z/IVCBHgQEI9FHyp4IQbm90ZXB0gBjIywXLAlAGzxZQBPoCFMtqEssfyz/Jc/sA"
    "AgBsgQEI1xj6ANM/MFIkgQEI9Fnyp4IQZHN0cnB0gBjIywXLAlAFzxZQA/oCE8tqyx8Syz/Jc/sAAAr0AMntVAj45Sg="
)
TON_SUBWALLET = 698983191  # the default wallet id of workchain 0


def ton_v4r2(secret: bytes, message: str) -> Signed:
    """A v4r2 wallet's address and StateInit, and the ton_proof TonConnect returns for the challenge."""
    import json

    from pytoniq_core.boc.builder import Builder
    from pytoniq_core.boc.cell import Cell
    from pytoniq_core.tlb.account import StateInit

    public, sign = _ed25519(secret)
    code = Cell.one_from_boc(base64.b64decode(TON_WALLET_V4R2_CODE))
    data = Builder().store_uint(0, 32).store_uint(TON_SUBWALLET, 32).store_bytes(public).store_bit(0).end_cell()
    state = StateInit(code=code, data=data).serialize()
    hash_part = bytes(state.hash)
    domain, timestamp = "demo-exchange.example", 1_764_547_200
    signature = sign(ton.proof_message(0, hash_part, domain, timestamp, message))
    proof = {
        "timestamp": timestamp,
        "domain": {"lengthBytes": len(domain), "value": domain},
        "payload": message,
        "signature": base64.b64encode(signature).decode(),
    }
    return f"0:{hash_part.hex()}", json.dumps(proof), base64.b64encode(state.to_boc()).decode()  # type: ignore[no-untyped-call]


def near_implicit(secret: bytes, message: str, exchange: str = "Demo Exchange") -> Signed:
    public, sign = _ed25519(secret)
    signature = sign(near.payload_hash(message, near.nonce_for(message), exchange))
    return public.hex(), base64.b64encode(signature).decode(), "ed25519:" + base58.b58encode(public).decode()


def aptos_ed25519(secret: bytes, message: str, nonce: str = "") -> Signed:
    import json

    public, sign = _ed25519(secret)
    address = aptos.authentication_key(public)
    full = f"APTOS\naddress: {address}\nmessage: {message}\nnonce: {nonce}"
    reply = {"fullMessage": full, "signature": "0x" + sign(full.encode()).hex()}
    return address, json.dumps(reply), public.hex()


# chain -> signers the demo cycles through (several wallet kinds where the chain has them)
SIGNERS: dict[str, tuple[Callable[[bytes, str], Signed], ...]] = {
    "solana": (solana,),
    "xrpl": (xrpl_secp256k1, xrpl_ed25519),
    "dogecoin": (_signmessage(dogecoin.COIN),),
    "litecoin": (_signmessage(litecoin.COIN), _signmessage(litecoin.COIN, "p2wpkh")),
    "bitcoin-cash": (_signmessage(bitcoincash.COIN),),
    "polkadot": (polkadot_sr25519,),
    "cardano": (cardano_cip30,),
    "ton": (ton_v4r2,),
}
# chains whose payload also carries round values other than the challenge: (secret, message, round) -> Signed
ROUND_SIGNERS: dict[str, Callable[[bytes, str, str, str], Signed]] = {
    "near": lambda secret, message, exchange, nonce: near_implicit(secret, message, exchange),
    "aptos": lambda secret, message, exchange, nonce: aptos_ed25519(secret, message, nonce),
}
