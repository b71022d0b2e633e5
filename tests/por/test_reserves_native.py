"""Ownership on each asset's native chain: signatures made by the chains' own libraries or published vectors
verify; a signature over another round's challenge, another key, or a mismatched key is refused, naming
the row and the field."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import coincurve
import pytest
from nacl.signing import SigningKey

from bastion.por.reserves.chains import NATIVE_CHAINS, ChainProofError, Context, polkadot, xrpl
from bastion.por.reserves.chains.signed_message import cashaddr_decode, cashaddr_encode
from bastion.por.reserves.challenge import challenge_message
from bastion.por.reserves.round_view import parse_round
from bastion.por.reserves.verify import verify_wallet_set
from bastion.por.reserves.walletset import read_wallet_set, write_wallet_csv
from bastion.sim.native_wallets import ROUND_SIGNERS, SIGNERS

ROUND: dict[str, Any] = {
    "format": "bastion-round/3",
    "exchange": "Demo Exchange",
    "round_id": "2026-11",
    "snapshot_time": "2026-11-01T00:00:00Z",
    "nonce": "9f86d081884c7d659a2feaa0c55ad015",
    "block_heights": {},
    "assets": [
        {"asset": a, "decimals": 8, "price_usd": "1", "total_equity": "10", "total_debt": "0", "net_liabilities": "10"}
        for a in ("SOL", "XRP", "DOGE", "LTC", "BCH", "DOT", "ADA", "TON", "NEAR", "APT")
    ],
}
OLD_ROUND = dict(ROUND, round_id="2026-10", nonce="0" * 32)
CHALLENGE = challenge_message(parse_round(ROUND))
OLD_CHALLENGE = challenge_message(parse_round(OLD_ROUND))
CTX = Context(CHALLENGE, "Demo Exchange", "2026-11", ROUND["nonce"])

# xrpl-py tests/unit/core/keypairs/test_main.py
XRPL_ED_PUBLIC = "ED01FA53FA5A7E77798F882ECE20B1ABC00BB358A9E55A202D0D0676BD0CE37A63"
XRPL_ED_PRIVATE = "EDB4C4E046826BD26190D09715FC31F4E6A728204EADD112905B08B14B7F15C4F3"
XRPL_ED_ADDRESS = "rLUEXYuLiQptky37CqLcm9USQpPiz5rkpD"
XRPL_ED_SIG = (
    "CB199E1BFD4E3DAA105E4832EEDFA36413E1F44205E4EFB9E27E826044C21E3E"
    "2E848BBC8195E8959BADF887599B7310AD1B7047EF11B682E0D068F73749750E"
)
XRPL_K1_PUBLIC = "030D58EB48B4420B1F7B9DF55087E0E29FEF0E8468F9A6825B01CA2C361042D435"
XRPL_K1_PRIVATE = "00D78B9735C3F26501C7337B8A5727FD53A6EFDBC6AA55984F098488561F985E23"
XRPL_K1_ADDRESS = "rU6K7V3Po4snVhBBaU29sesqs2qTQJWDw1"
XRPL_K1_SIG = (
    "30440220583A91C95E54E6A651C47BEC22744E0B101E2C4060E7B08F6341657DAD9BC3EE"
    "02207D1489C7395DB0188D3A56A977ECBA54B36FA9371B40319655B1B4429E33EF2D"
)
# CashAddr specification (bitcoincashorg, spec/cashaddr.md): legacy and CashAddr forms of the same hashes
CASHADDR = [
    ("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
    ("1KXrWXciRDZUpQwQmuM1DbwsKDLYAYsVLR", "bitcoincash:qr95sy3j9xwd2ap32xkykttr4cvcu7as4y0qverfuy"),
    ("16w1D5WRVKJuZUsSRzdLp9w3YGcgoxDXb", "bitcoincash:qqq3728yw0y47sqn6l2na30mcw6zm78dzqre909m2r"),
    ("3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC", "bitcoincash:ppm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq"),
]


# ------------------------------------------------------------------------------------- signers
def _solders(message: str, seed: int = 1) -> tuple[str, str, str]:
    from solders.keypair import Keypair

    kp = Keypair.from_seed(bytes([seed]) * 32)
    return str(kp.pubkey()), str(kp.sign_message(message.encode())), ""


def _xrpl_k1(message: str, seed: int = 1) -> tuple[str, str, str]:
    # the xrpl-py vector's key; the signature as keypairs.sign makes it (DER over SHA-512-half), by python-ecdsa
    import ecdsa
    from ecdsa.util import sigencode_der_canonize

    key = ecdsa.SigningKey.from_string(bytes.fromhex(XRPL_K1_PRIVATE)[1:], curve=ecdsa.SECP256k1)
    digest = hashlib.sha512(message.encode()).digest()[:32]
    sig = key.sign_digest_deterministic(digest, hashfunc=hashlib.sha256, sigencode=sigencode_der_canonize)
    return XRPL_K1_ADDRESS, sig.hex().upper(), XRPL_K1_PUBLIC


def _xrpl_ed(message: str, seed: int = 1) -> tuple[str, str, str]:
    key = SigningKey(bytes.fromhex(XRPL_ED_PRIVATE)[1:])
    assert "ED" + bytes(key.verify_key).hex().upper() == XRPL_ED_PUBLIC
    return XRPL_ED_ADDRESS, key.sign(message.encode()).signature.hex().upper(), XRPL_ED_PUBLIC


def _pycoin(netcode: str, legacy_to_cash: bool = False) -> Callable[[str, int], tuple[str, str, str]]:
    def sign(message: str, seed: int = 1) -> tuple[str, str, str]:
        from pycoin.networks.registry import network_for_netcode

        # Bitcoin Cash wallets (Electron Cash, BCHN) sign with Bitcoin's own message prefix
        network = network_for_netcode("BTC" if legacy_to_cash else netcode)
        key = network.keys.private(secret_exponent=10**20 + seed)
        address = key.address()
        if legacy_to_cash:
            address = NATIVE_CHAINS["bitcoin-cash"].normalize(address)
        return address, network.msg.sign(key, message), ""

    return sign


def _polkadot(message: str, seed: int = 1) -> tuple[str, str, str]:
    import sr25519
    from scalecodec.utils.ss58 import ss58_encode

    pair = sr25519.pair_from_seed(bytes([seed]) * 32)
    signed = b"<Bytes>" + message.encode() + b"</Bytes>"  # as polkadot.js signRaw wraps it
    return ss58_encode(pair[0], 0), "0x" + sr25519.sign(pair, signed).hex(), ""


# ------------------------------------------------------------------------------------- Cardano, TON, NEAR, Aptos
# CIP-19 test vectors: the payment key and the type-6 (enterprise) mainnet address it gives
CIP19_PAYMENT_VK = "addr_vk1w0l2sr2zgfm26ztc6nl9xy8ghsk5sh6ldwemlpmp9xylzy4dtf7st80zhd"
CIP19_ENTERPRISE = "addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8"
CIP19_BASE = "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgse35a3x"
# Aptos TS/Go SDK test fixtures: an ed25519 key, its address, and its signature of "hello world"
APTOS_PRIVATE = "c5338cd251c22daa8c9c9cc94f498cc8a5c7e1d2e75287a5dda91096fe64efa5"
APTOS_PUBLIC = "de19e5d1880cac87d57484ce9ed2e84cf0f9599f12e7cc3a52e4e7657a763f2c"
APTOS_ADDRESS = "0x978c213990c4833df71548df7ce49d54c759d6b6d932de22b24d56060b7af2aa"
APTOS_SIG = (
    "9e653d56a09247570bb174a389e85b9226abd5c403ea6c504b386626a145158c"
    "d4efd66fc5e071c0e19538a96a05ddbda24d3c51e1e6a9dacc6bb1ce775cce07"
)


def _cip30(message: str, seed: int = 1, hashed: bool = False) -> tuple[str, str, str]:
    """signData as a CIP-30 wallet returns it, built with pycose (COSE_Sign1, EdDSA) and cbor2 (COSE_Key)."""
    import cbor2
    from pycose.algorithms import EdDSA
    from pycose.headers import Algorithm
    from pycose.keys import OKPKey
    from pycose.keys.curves import Ed25519
    from pycose.messages import Sign1Message

    secret = bytes([seed]) * 32
    public = bytes(SigningKey(secret).verify_key)
    credential = hashlib.blake2b(public, digest_size=28).digest()
    from embit import bech32

    header = bytes([0x61])  # enterprise, mainnet (CIP-19)
    words = bech32.convertbits(header + credential, 8, 5, True)
    address = bech32.bech32_encode(bech32.Encoding.BECH32, "addr", words)
    payload = hashlib.blake2b(message.encode(), digest_size=28).digest() if hashed else message.encode()
    msg = Sign1Message(
        phdr={Algorithm: EdDSA, "address": header + credential}, uhdr={"hashed": hashed}, payload=payload
    )
    msg.key = OKPKey(crv=Ed25519, d=secret, x=public)
    cose_key = cbor2.dumps({1: 1, 3: -8, -1: 6, -2: public})
    return address, msg.encode(tag=False).hex(), cose_key.hex()


def _cip30_hashed(message: str, seed: int = 1) -> tuple[str, str, str]:
    return _cip30(message, seed, hashed=True)


def _ton_proof(message: str, seed: int = 1) -> tuple[str, str, str]:
    """A v4r2 wallet from tonsdk; the ton_proof signed as TonConnect's spec lays it out."""
    import base64
    import json
    import struct

    from tonsdk.contract.wallet import WalletV4ContractR2

    key = SigningKey(bytes([seed]) * 32)
    public = bytes(key.verify_key)
    wallet = WalletV4ContractR2(public_key=public, private_key=bytes(key) + public, wc=0)
    state_init = bytes(wallet.create_state_init()["state_init"].to_boc(False))
    address = wallet.address.to_string(True, True, True)  # user-friendly, bounceable, as wallets show it
    hash_part = bytes(wallet.address.hash_part)
    domain, timestamp = "proof.exchange.example", 1_764_547_321
    item = (
        b"ton-proof-item-v2/"
        + struct.pack(">i", 0)
        + hash_part
        + struct.pack("<I", len(domain))
        + domain.encode()
        + struct.pack("<Q", timestamp)
        + message.encode()
    )
    signed = hashlib.sha256(b"\xff\xff" + b"ton-connect" + hashlib.sha256(item).digest()).digest()
    proof = {
        "timestamp": timestamp,
        "domain": {"lengthBytes": len(domain), "value": domain},
        "payload": message,
        "signature": base64.b64encode(key.sign(signed).signature).decode(),
    }
    return address, json.dumps(proof), base64.b64encode(state_init).decode()


def _nep413(message: str, seed: int = 1, exchange: str = "Demo Exchange") -> tuple[str, str, str]:
    """NEP-413 payload serialized by borsh-construct, signed with PyNaCl; an implicit account."""
    import base64

    import base58
    from borsh_construct import U8, U32, CStruct, Option, String

    payload = CStruct(
        "tag" / U32, "message" / String, "nonce" / U8[32], "recipient" / String, "callback" / Option(String)
    )
    nonce = hashlib.sha256(message.encode()).digest()  # the round's nonce rule: SHA-256 of the challenge
    data = payload.build(
        {"tag": 2**31 + 413, "message": message, "nonce": list(nonce), "recipient": exchange, "callback": None}
    )
    key = SigningKey(bytes([seed]) * 32)
    public = bytes(key.verify_key)
    signature = key.sign(hashlib.sha256(data).digest()).signature
    return public.hex(), base64.b64encode(signature).decode(), "ed25519:" + base58.b58encode(public).decode()


def _aptos(message: str, seed: int = 1, nonce: str = ROUND["nonce"]) -> tuple[str, str, str]:
    """The SDK fixture key; fullMessage as Petra / the wallet standard compose it."""
    import json

    key = SigningKey(bytes.fromhex(APTOS_PRIVATE)) if seed == 1 else SigningKey(bytes([seed]) * 32)
    full = (
        f"APTOS\naddress: {APTOS_ADDRESS}\napplication: https://exchange.example\nchainId: 1\n"
        f"message: {message}\nnonce: {nonce}"
    )
    reply = {"fullMessage": full, "signature": key.sign(full.encode()).signature.hex()}
    return APTOS_ADDRESS, json.dumps(reply), APTOS_PUBLIC


INDEPENDENT: dict[str, list[Callable[..., tuple[str, str, str]]]] = {
    "solana": [_solders],
    "xrpl": [_xrpl_k1, _xrpl_ed],
    "dogecoin": [_pycoin("DOGE")],
    "litecoin": [_pycoin("LTC")],
    "bitcoin-cash": [_pycoin("BCH", legacy_to_cash=True)],
    "polkadot": [_polkadot],
    "cardano": [_cip30, _cip30_hashed],
    "ton": [_ton_proof],
    "near": [_nep413],
    "aptos": [_aptos],
}
CASES = [(chain, signer) for chain, signers in INDEPENDENT.items() for signer in signers]
IDS = [f"{chain}-{signer.__name__}" for chain, signer in CASES]
ASSET = {
    "solana": "SOL",
    "xrpl": "XRP",
    "dogecoin": "DOGE",
    "litecoin": "LTC",
    "bitcoin-cash": "BCH",
    "polkadot": "DOT",
    "cardano": "ADA",
    "ton": "TON",
    "near": "NEAR",
    "aptos": "APT",
}


@pytest.mark.parametrize(("chain", "signer"), CASES, ids=IDS)
def test_independent_signature_verifies(chain: str, signer: Callable[..., tuple[str, str, str]]) -> None:
    address, signature, pubkey = signer(CHALLENGE)
    proof = NATIVE_CHAINS[chain].verify(address, signature, pubkey, CTX)
    assert proof.address == NATIVE_CHAINS[chain].normalize(address)


@pytest.mark.parametrize(("chain", "signer"), CASES, ids=IDS)
def test_another_rounds_signature_is_refused(chain: str, signer: Callable[..., tuple[str, str, str]]) -> None:
    address, signature, pubkey = signer(OLD_CHALLENGE)
    with pytest.raises(ChainProofError) as info:
        NATIVE_CHAINS[chain].verify(address, signature, pubkey, CTX)
    assert info.value.field == "signature"


@pytest.mark.parametrize("chain", list(INDEPENDENT))
def test_another_keys_signature_is_refused(chain: str) -> None:
    signer = INDEPENDENT[chain][0]
    address, _, pubkey = signer(CHALLENGE, 1)
    _, other_sig, _ = signer(CHALLENGE, 2)
    if chain == "xrpl":  # the vector key is fixed: take the other key type's signature instead
        _, other_sig, _ = _xrpl_ed(CHALLENGE)
    with pytest.raises(ChainProofError) as info:
        NATIVE_CHAINS[chain].verify(address, other_sig, pubkey, CTX)
    assert info.value.field in ("signature", "pubkey_or_script")


@pytest.mark.parametrize("chain", [*SIGNERS, *ROUND_SIGNERS])
def test_the_simulators_wallets_verify_with_the_chains_rules(chain: str) -> None:
    signers = SIGNERS.get(chain) or (lambda s, m: ROUND_SIGNERS[chain](s, m, CTX.exchange, CTX.nonce),)
    for sign in signers:
        address, signature, pubkey = sign(b"\x07" * 32, CHALLENGE)
        assert NATIVE_CHAINS[chain].verify(address, signature, pubkey, CTX).address == address


def test_cardano_cip19_vectors() -> None:
    from bastion.por.reserves.chains import cardano

    _, key = cardano._bech32_decode(CIP19_PAYMENT_VK)
    assert cardano.enterprise_address(key) == CIP19_ENTERPRISE
    assert cardano.normalize(CIP19_BASE) == CIP19_BASE  # 103 characters: past bech32's usual 90
    assert cardano.address_bytes(CIP19_BASE)[1:29] == cardano.address_bytes(CIP19_ENTERPRISE)[1:29]
    with pytest.raises(ValueError, match="mainnet"):
        cardano.normalize("addr_test1vz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzerspjrlsz")
    address, _, cose_key = _cip30(CHALLENGE)
    with pytest.raises(ChainProofError, match="protected header's address is not this row's"):
        NATIVE_CHAINS["cardano"].verify(address, _cip30_other_address(), cose_key, CTX)
    with pytest.raises(ChainProofError, match="pubkey_or_script: is not the key of the address's payment part"):
        NATIVE_CHAINS["cardano"].verify(CIP19_ENTERPRISE, _cip30(CHALLENGE)[1], cose_key, CTX)


def _cip30_other_address() -> str:
    """A COSE_Sign1 by key 1 whose protected header names another address (signed for someone else)."""
    import cbor2

    key = SigningKey(b"\x01" * 32)
    protected = cbor2.dumps({1: -8, "address": bytes([0x61]) + b"\x00" * 28})
    sig = key.sign(cbor2.dumps(["Signature1", protected, b"", CHALLENGE.encode()])).signature
    return str(cbor2.dumps([protected, {}, CHALLENGE.encode(), sig]).hex())


def test_ton_simulator_address_is_tonsdks() -> None:
    from tonsdk.contract.wallet import WalletV4ContractR2

    secret = b"\x09" * 32
    public = bytes(SigningKey(secret).verify_key)
    wallet = WalletV4ContractR2(public_key=public, private_key=secret + public, wc=0)
    address, _, _ = SIGNERS["ton"][0](secret, CHALLENGE)
    assert address == wallet.address.to_string(False)
    assert NATIVE_CHAINS["ton"].normalize(wallet.address.to_string(True, True, True)) == address


def test_ton_state_init_of_another_wallet_is_refused() -> None:
    address, proof, _ = _ton_proof(CHALLENGE, 1)
    _, _, other_state = _ton_proof(CHALLENGE, 2)
    with pytest.raises(ChainProofError, match="pubkey_or_script: StateInit does not hash to this address"):
        NATIVE_CHAINS["ton"].verify(address, proof, other_state, CTX)


def test_near_named_account_needs_the_nodes_key_list() -> None:
    _, signature, key = _nep413(CHALLENGE)
    with pytest.raises(ChainProofError, match="address: a named account's full-access keys come from a NEAR node"):
        NATIVE_CHAINS["near"].verify("reserves.demo.near", signature, key, CTX)
    from bastion.por.reserves.chains import near

    public = near.public_key(key).hex()
    with_keys = Context(
        CTX.challenge, CTX.exchange, CTX.round_id, CTX.nonce, {("near", "reserves.demo.near"): frozenset({public})}
    )
    assert NATIVE_CHAINS["near"].verify("reserves.demo.near", signature, key, with_keys).scheme == "nep413"
    other = Context(
        CTX.challenge, CTX.exchange, CTX.round_id, CTX.nonce, {("near", "reserves.demo.near"): frozenset({"00" * 32})}
    )
    with pytest.raises(ChainProofError, match="not a full-access key"):
        NATIVE_CHAINS["near"].verify("reserves.demo.near", signature, key, other)
    # another recipient than the round's exchange is another payload
    _, for_other, _ = _nep413(CHALLENGE, exchange="Other Exchange")
    with pytest.raises(ChainProofError, match="signature: does not verify"):
        NATIVE_CHAINS["near"].verify(near.public_key(key).hex(), for_other, key, CTX)


def test_aptos_sdk_vector_and_full_message_rules() -> None:
    from bastion.por.reserves.chains import aptos
    from bastion.por.reserves.chains.base import ed25519_verify

    assert aptos.authentication_key(bytes.fromhex(APTOS_PUBLIC)) == APTOS_ADDRESS
    assert ed25519_verify(bytes.fromhex(APTOS_PUBLIC), b"hello world", bytes.fromhex(APTOS_SIG))
    assert aptos.normalize("0x1") == "0x" + "0" * 63 + "1"
    _, old_nonce, _ = _aptos(CHALLENGE, nonce="0" * 32)
    with pytest.raises(ChainProofError, match="signed nonce is not this round's nonce"):
        NATIVE_CHAINS["aptos"].verify(APTOS_ADDRESS, old_nonce, APTOS_PUBLIC, CTX)


def test_xrpl_published_vectors() -> None:
    assert xrpl.classic_address(bytes.fromhex(XRPL_ED_PUBLIC)) == XRPL_ED_ADDRESS
    assert xrpl.classic_address(bytes.fromhex(XRPL_K1_PUBLIC)) == XRPL_K1_ADDRESS
    assert xrpl.verify_message(b"test message", bytes.fromhex(XRPL_K1_SIG), bytes.fromhex(XRPL_K1_PUBLIC))
    assert xrpl.verify_message(b"test message", bytes.fromhex(XRPL_ED_SIG), bytes.fromhex(XRPL_ED_PUBLIC))
    assert not xrpl.verify_message(b"test messagE", bytes.fromhex(XRPL_K1_SIG), bytes.fromhex(XRPL_K1_PUBLIC))
    # a key that is not the address's is refused before the signature is even looked at
    _, sig, _ = _xrpl_k1(CHALLENGE)
    with pytest.raises(ChainProofError, match="pubkey_or_script: is not the key of this address"):
        NATIVE_CHAINS["xrpl"].verify(XRPL_ED_ADDRESS, sig, XRPL_K1_PUBLIC, CTX)


def test_cashaddr_spec_vectors() -> None:
    bch = NATIVE_CHAINS["bitcoin-cash"]
    for legacy, cash in CASHADDR:
        assert bch.normalize(legacy) == cash
        assert bch.normalize(cash) == cash
        assert bch.normalize(cash.split(":")[1]) == cash  # prefix optional
        kind, payload = cashaddr_decode(cash, "bitcoincash")
        assert cashaddr_encode("bitcoincash", kind, payload) == cash
    with pytest.raises(ValueError, match="checksum"):
        bch.normalize(CASHADDR[0][1][:-1] + "q")


def test_polkadot_address_matches_scalecodec() -> None:
    from scalecodec.utils.ss58 import ss58_decode, ss58_encode

    key = bytes(range(32))
    assert polkadot.ss58_address(key) == ss58_encode(key, 0)
    assert polkadot.public_key_of(ss58_encode(key, 0)) == bytes.fromhex(ss58_decode(ss58_encode(key, 0), 0))
    with pytest.raises(ValueError, match="prefix 2"):
        polkadot.public_key_of(ss58_encode(key, 2))  # a Kusama address


def test_litecoin_segwit_address_with_segwit_header() -> None:
    secret = b"\x05" * 32
    address, signature, _ = SIGNERS["litecoin"][1](secret, CHALLENGE)
    assert address.startswith("ltc1q")
    assert NATIVE_CHAINS["litecoin"].verify(address, signature, "", CTX).address == address
    # the same key's signature through pycoin (P2PKH header) still proves the ltc1 address: the key owns it
    from pycoin.networks.registry import network_for_netcode

    net = network_for_netcode("LTC")
    key = net.keys.private(secret_exponent=int.from_bytes(secret, "big"))
    assert NATIVE_CHAINS["litecoin"].verify(address, net.msg.sign(key, CHALLENGE), "", CTX).signer == (
        coincurve.PrivateKey(secret).public_key.format().hex()
    )


def test_refusals_name_the_spreadsheet_row_and_the_field(tmp_path: Path) -> None:
    """Through the wallet-set reader and verifier: row numbers are the spreadsheet's (header = row 1)."""
    rows = []
    for chain, signers in INDEPENDENT.items():
        address, signature, pubkey = signers[0](CHALLENGE)
        rows.append(
            {"chain": chain, "asset": ASSET[chain], "address": address, "balance": "1", "snapshot_height": "1",
             "message": CHALLENGE, "signature": signature, "pubkey_or_script": pubkey}
        )  # fmt: skip
    old_address, old_sig, old_pub = _solders(OLD_CHALLENGE, 3)
    rows.append(dict(rows[0], address=old_address, signature=old_sig, pubkey_or_script=old_pub))
    rows.append(dict(rows[1], address="rNotAnAddress"))
    path = tmp_path / "wallets.csv"
    write_wallet_csv(path, rows)
    result = verify_wallet_set(parse_round(ROUND), read_wallet_set(path))
    reasons = {f.row: f.reason for f in result.failures}
    n = len(INDEPENDENT)
    assert set(reasons) == {n + 2, n + 3}
    assert reasons[n + 2].startswith("signature: does not verify")
    assert reasons[n + 3].startswith("address: not an XRP Ledger classic address")
    assert sum(w.verified for w in result.wallets) == n


# ------------------------------------------------------------------------------------- hostile cells
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_cells = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=120).map(lambda b: b.hex()),
    st.binary(max_size=120).map(lambda b: __import__("base64").b64encode(b).decode()),
    st.dictionaries(
        st.sampled_from(["timestamp", "domain", "payload", "signature", "fullMessage"]),
        st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70),
            st.text(max_size=40),
            st.none(),
            st.lists(st.integers(), max_size=3),
        ),
    ).map(__import__("json").dumps),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chain=st.sampled_from(sorted(NATIVE_CHAINS)), which=st.sampled_from(["address", "signature", "pubkey"]), junk=_cells
)
def test_hostile_cells_are_refused_naming_a_field_never_crash(chain: str, which: str, junk: str) -> None:
    """Any text in any cell of a valid row ends in a refusal naming a column (or, by luck, a valid proof),
    never in another exception: the CLI turns those into one line, not a traceback."""
    signer = INDEPENDENT[chain][0]
    address, signature, pubkey = signer(CHALLENGE)
    cells = {"address": address, "signature": signature, "pubkey": pubkey, which: junk}
    try:
        NATIVE_CHAINS[chain].verify(cells["address"], cells["signature"], cells["pubkey"], CTX)
    except ChainProofError as exc:
        assert exc.field in ("address", "signature", "pubkey_or_script")


_json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    st.text(max_size=60),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=st.sampled_from(["ton", "aptos"]), key=st.text(max_size=12), value=_json_values, pick=st.integers(0, 9))
def test_hostile_wallet_replies_are_refused_never_crash(chain: str, key: str, value: Any, pick: int) -> None:
    """The JSON replies (ton_proof, Aptos signMessage) with one field replaced by any JSON value."""
    import json

    address, signature, pubkey = INDEPENDENT[chain][0](CHALLENGE)
    reply = json.loads(signature)
    keys = sorted(reply)
    reply[keys[pick % len(keys)] if pick < 8 else key] = value
    try:
        NATIVE_CHAINS[chain].verify(address, json.dumps(reply), pubkey, CTX)
    except ChainProofError as exc:
        assert exc.field == "signature"


def test_ton_proof_timestamp_past_64_bits_is_refused() -> None:
    import json

    address, signature, state_init = _ton_proof(CHALLENGE)
    proof = dict(json.loads(signature), timestamp=2**64)
    with pytest.raises(ChainProofError, match="timestamp must be an integer from 0 to 2"):
        NATIVE_CHAINS["ton"].verify(address, json.dumps(proof), state_init, CTX)
