"""Ownership proofs, scheme by scheme: published vectors, our own signatures, and forged or mismatched ones."""

from __future__ import annotations

import base64
from decimal import Decimal

import coincurve
import pytest
from embit.ec import PrivateKey as EmbitPrivateKey

from bastion.por.reserves import bitcoin, evm
from bastion.por.reserves.challenge import challenge_message, parse_challenge, why_not_this_round
from bastion.por.reserves.round_view import parse_round
from bastion.por.reserves.verify import _Digests, check_row
from bastion.por.reserves.walletset import WalletRow

# Bitcoin Core src/test/util_tests.cpp (message_sign, message_verify)
CORE_KEY = bytes.fromhex("d97f5108f11cda6eeebaaa420fef0726b1f898060b98489fa3098463c0032866")
CORE_ADDRESS = "15CRxFdyRpGZLW9w8HnHvVduizdL5jKNbs"
CORE_SIG = "IPojfrX2dfPnH26UegfbGQQLrdK844DlHq5157/P6h57WyuS/Qsl+h/WSVGDF4MUi4rWSswW38oimDYfNNUBUOk="
CORE_CRAFTED = (
    "11canuhp9X2NocwCq7xNrQYTmUgZAnLK3",
    "IIcaIENoYW5jZWxsb3Igb24gYnJpbmsgb2Ygc2Vjb25kIGJhaWxvdXQgZm9yIGJhbmtzIAaHRtbCeDZINyavx14=",
    "Trust me",
)
# BIP-322 test vectors (bip-0322.mediawiki) and Bitcoin Core's P2TR vector (util_tests.cpp)
BIP322_WIF = "L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k"
BIP322_P2WPKH = "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l"
BIP322_P2TR = "bc1ppv609nr0vr25u07u95waq5lucwfm6tde4nydujnu8npg4q75mr5sxq8lt3"
BIP322_SIGS = {
    "": [
        "AkcwRAIgM2gBAQqvZX15ZiysmKmQpDrG83avLIT492QBzLnQIxYCIBaTpOaD20qRlEylyxFSeEA2ba9YOixpX8z46TSDtS40ASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=",
        "AkgwRQIhAPkJ1Q4oYS0htvyuSFHLxRQpFAY56b70UvE7Dxazen0ZAiAtZfFz1S6T6I23MWI2lK/pcNTWncuyL8UL+oMdydVgzAEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy",
    ],
    "Hello World": [
        "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29zJLUx9a/sASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=",
        "AkgwRQIhAOzyynlqt93lOKJr+wmmxIens//zPzl9tqIOua93wO6MAiBi5n5EyAcPScOjf1lAqIUIQtr3zKNeavYabHyR8eGhowEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy",
    ],
}
BIP322_P2TR_SIG = "AUHd69PrJQEv+oKTfZ8l+WROBHuy9HKrbFCJu7U1iK2iiEy1vMU5EfMtjc+VSHM7aU0SDbak5IUZRVno2P5mjSafAQ=="
# eth-account / web3.py documentation: personal_sign of "I♥SF"
EIP191 = (
    "I♥SF",
    "0xe6ca9bba58c88611fad66a6ce8f996908195593807c4b38bd528d2cff09d4eb33e5bfbbf4d3e39b1a2fd816a7680c19ebebaf3a141b239934ad43cb33fcec8ce1c",
    "0x5ce9454909639D2D17A3F753ce7d93fa0b9aB12E",
)
# Trust Wallet Core's TronMessageSigner test (TIP-191 / signMessageV2)
TRON_KEY = bytes.fromhex("75065f100e38d3f3b4c5c4235834ba8216de62272a4f03532c44b31a5734360a")
TRON_SIG = (
    "bc0753c070cc55693097df11bc11e1a7c4bd5e1a40b9dc94c75568e59bcc9d6b"
    "50a7873ef25b469e494490a54de37327b4bc7fc825c81a377b555e34fb7261ba1c"
)

ROUND = {
    "format": "bastion-round/3",
    "exchange": "Demo Exchange",
    "round_id": "2026-11",
    "snapshot_time": "2026-11-01T00:00:00Z",
    "nonce": "9f86d081884c7d659a2feaa0c55ad015",
    "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
    "assets": [
        {"asset": a, "decimals": d, "price_usd": "1", "total_equity": "1", "total_debt": "0", "net_liabilities": "1"}
        for a, d in (("BTC", 8), ("ETH", 18), ("USDT", 6))
    ],
}


def _secret(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.fixture(scope="module")
def rnd():  # type: ignore[no-untyped-def]
    return parse_round(ROUND)


def _row(
    rnd, chain: str, address: str, signature: str, script: str = "", message: str | None = None, asset: str = "BTC"
) -> WalletRow:  # type: ignore[no-untyped-def]
    height = {"bitcoin": 870000, "ethereum": 21000000}.get(chain, 5)
    return WalletRow(
        1,
        chain,
        asset,
        address,
        Decimal(1),
        "1",
        height,
        challenge_message(rnd) if message is None else message,
        signature,
        script,
    )


def _check(rnd, row: WalletRow):  # type: ignore[no-untyped-def]
    return check_row(row, rnd, _Digests(challenge_message(rnd)))


# ------------------------------------------------------------------------------------- published vectors
def test_bitcoin_core_signmessage_vectors() -> None:
    key, _ = bitcoin.recover_bip137(b"Trust no one", bitcoin.decode_signature(CORE_SIG))
    assert bitcoin.address_of(bitcoin.p2pkh_script(key)) == CORE_ADDRESS
    assert bitcoin.sign_bip137(CORE_KEY, b"Trust no one") == CORE_SIG  # RFC 6979: byte for byte
    address, sig, message = CORE_CRAFTED
    key, _ = bitcoin.recover_bip137(message.encode(), bitcoin.decode_signature(sig))
    assert bitcoin.address_of(bitcoin.p2pkh_script(key)) == address
    # Core: the same signature over another message is ERR_NOT_SIGNED
    key, _ = bitcoin.recover_bip137(b"I never signed this", bitcoin.decode_signature(CORE_SIG))
    assert bitcoin.address_of(bitcoin.p2pkh_script(key)) != CORE_ADDRESS
    with pytest.raises(bitcoin.ProofError):  # ERR_PUBKEY_NOT_RECOVERED
        bitcoin.recover_bip137(b"x", base64.b64decode("A" * 86 + "A="))


def test_bip322_vectors_hashes_and_signatures() -> None:
    assert bitcoin.bip322_message_hash(b"").hex() == "c90c269c4f8fcbe6880f72a721ddfbf1914268a794cbb21cfafee13770ae19f1"
    assert (
        bitcoin.bip322_message_hash(b"Hello World").hex()
        == "f0eb03b1a75ac6d9847f55c624a99169b5dccba2a31f5b23bea77ba270de0a7a"
    )
    address = bitcoin.parse_address(BIP322_P2WPKH)
    spend = bitcoin.to_spend(address.script_pubkey, b"Hello World")
    assert spend.txid().hex() == "b79d196740ad5217771c1098fc4a4b51e0535c32236c71f1ea4d61a2d603352b"
    assert bitcoin.to_sign(spend, []).txid().hex() == "88737ae86f2077145f93cc4b153ae9a1cb8d56afa511988c149c5c8c9d93bddf"
    secret = EmbitPrivateKey.from_wif(BIP322_WIF).secret
    for message, sigs in BIP322_SIGS.items():
        for sig in sigs:
            bitcoin.verify_bip322_simple(address, message.encode(), bitcoin.decode_signature(sig))
        assert bitcoin.sign_bip322_simple(secret, address, message.encode()) == sigs[1]
        with pytest.raises(bitcoin.ProofError):
            bitcoin.verify_bip322_simple(address, message.encode() + b"!", bitcoin.decode_signature(sigs[0]))
    taproot = bitcoin.parse_address(BIP322_P2TR)
    assert bitcoin.address_of(bitcoin.p2tr_script(coincurve.PrivateKey(secret).public_key.format())) == BIP322_P2TR
    bitcoin.verify_bip322_simple(taproot, b"Hello World", bitcoin.decode_signature(BIP322_P2TR_SIG))
    with pytest.raises(bitcoin.ProofError, match="does not verify"):
        bitcoin.verify_bip322_simple(taproot, b"Hello world", bitcoin.decode_signature(BIP322_P2TR_SIG))


def test_eip191_and_tron_vectors() -> None:
    message, sig, address = EIP191
    assert evm.recover_signer(evm.eip191_hash(message), sig).to_checksum_address() == address
    tron_signer = evm.recover_signer(evm.tron_hash("Hello World"), TRON_SIG)
    assert evm.key_hash(tron_signer) == evm.key_hash(coincurve_eth_key(TRON_KEY))
    # TIP-191 differs from EIP-191 only by its prefix: the vector must not verify as personal_sign
    assert evm.key_hash(evm.recover_signer(evm.eip191_hash("Hello World"), TRON_SIG)) != evm.key_hash(tron_signer)


def coincurve_eth_key(secret: bytes):  # type: ignore[no-untyped-def]
    from eth_keys import keys

    return keys.PrivateKey(secret).public_key


# ------------------------------------------------------------------------------------- the challenge
def test_challenge_format_and_reasons(rnd) -> None:  # type: ignore[no-untyped-def]
    text = challenge_message(rnd)
    assert text == (
        "Bastion proof of reserves v1 | exchange: Demo Exchange | round: 2026-11 "
        "| snapshot: 2026-11-01T00:00:00Z | nonce: 9f86d081884c7d659a2feaa0c55ad015"
    )
    assert parse_challenge(text) is not None and why_not_this_round(text, rnd) is None
    old = parse_round({**ROUND, "round_id": "2026-10", "nonce": "0" * 32})
    assert "another round (2026-10" in (why_not_this_round(challenge_message(old), rnd) or "")
    assert "static" in (why_not_this_round("I own this address", rnd) or "")
    other = parse_round({**ROUND, "exchange": "Other Exchange"})
    assert "Other Exchange" in (why_not_this_round(challenge_message(other), rnd) or "")
    # same round id, replayed nonce: still another round
    reused = parse_round({**ROUND, "nonce": "1" * 32})
    assert "another round" in (why_not_this_round(challenge_message(reused), rnd) or "")


# ------------------------------------------------------------------------------------- each scheme, valid and forged
def _btc(kind: str, n: int, rnd) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    secret = _secret(n)
    pub = coincurve.PrivateKey(secret).public_key.format()
    raw = challenge_message(rnd).encode()
    spk = {
        "p2pkh": bitcoin.p2pkh_script(pub),
        "p2wpkh": bitcoin.p2wpkh_script(pub),
        "p2sh-p2wpkh": bitcoin.p2sh_script(bitcoin.p2wpkh_script(pub)),
        "p2tr": bitcoin.p2tr_script(pub),
    }[kind]
    address = bitcoin.address_of(spk)
    if kind == "p2pkh":
        return address, bitcoin.sign_bip137(secret, raw), pub.hex()
    return address, bitcoin.sign_bip322_simple(secret, bitcoin.parse_address(address), raw), pub.hex()


@pytest.mark.parametrize("kind", ["p2pkh", "p2wpkh", "p2sh-p2wpkh", "p2tr"])
def test_bitcoin_single_key_valid_and_forged(rnd, kind: str) -> None:  # type: ignore[no-untyped-def]
    address, sig, pub = _btc(kind, 1001, rnd)
    assert _check(rnd, _row(rnd, "bitcoin", address, sig)).ok
    assert _check(rnd, _row(rnd, "bitcoin", address, sig, pub)).ok
    # another key's valid signature presented for this address
    _, other_sig, other_pub = _btc(kind, 1002, rnd)
    bad = _check(rnd, _row(rnd, "bitcoin", address, other_sig))
    assert not bad.ok and ("does not" in bad.reason or "not match" in bad.reason)
    # claimed key that is not the address's
    assert (
        _check(rnd, _row(rnd, "bitcoin", address, sig, other_pub)).reason
        == "pubkey_or_script does not match the address"
    )
    # a signature over an old round's challenge, with this round's message in the file
    old = parse_round({**ROUND, "round_id": "2026-10", "nonce": "0" * 32})
    _, old_sig, _ = _btc(kind, 1001, old)
    replay = _check(rnd, _row(rnd, "bitcoin", address, old_sig))
    assert not replay.ok and "this round's challenge" in replay.reason
    # one flipped bit in the signature
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    assert not _check(rnd, _row(rnd, "bitcoin", address, base64.b64encode(bytes(raw)).decode())).ok


def test_bip137_header_kinds_for_segwit_addresses(rnd) -> None:  # type: ignore[no-untyped-def]
    secret = _secret(77)
    pub = coincurve.PrivateKey(secret).public_key.format()
    raw = challenge_message(rnd).encode()
    for kind, spk in (
        ("p2wpkh", bitcoin.p2wpkh_script(pub)),
        ("p2sh-p2wpkh", bitcoin.p2sh_script(bitcoin.p2wpkh_script(pub))),
    ):
        address = bitcoin.address_of(spk)
        assert _check(rnd, _row(rnd, "bitcoin", address, bitcoin.sign_bip137(secret, raw, kind))).ok
    # an uncompressed-key signature does not own the compressed key's segwit address
    address = bitcoin.address_of(bitcoin.p2wpkh_script(pub))
    assert not _check(
        rnd, _row(rnd, "bitcoin", address, bitcoin.sign_bip137(secret, raw, "p2pkh", compressed=False))
    ).ok
    # taproot refuses legacy signatures
    taproot = bitcoin.address_of(bitcoin.p2tr_script(pub))
    assert "BIP-322" in _check(rnd, _row(rnd, "bitcoin", taproot, bitcoin.sign_bip137(secret, raw))).reason


def test_multisig_row_checks(rnd) -> None:  # type: ignore[no-untyped-def]
    secrets = [_secret(n) for n in (501, 502, 503)]
    pubs = [coincurve.PrivateKey(s).public_key.format() for s in secrets]
    script = bytes([0x52]) + b"".join(bytes([33]) + p for p in pubs) + bytes([0x53, 0xAE])
    raw = challenge_message(rnd).encode()
    for spk in bitcoin.multisig_scripts(script).values():
        address = bitcoin.address_of(spk)
        check = _check(rnd, _row(rnd, "bitcoin", address, bitcoin.sign_bip137(secrets[0], raw), script.hex()))
        assert check.ok and check.signer == pubs[0].hex() and check.multisig is not None
    address = bitcoin.address_of(bitcoin.p2wsh_script(script))
    outsider = bitcoin.sign_bip137(_secret(504), raw)
    assert "any key of the redeem script" in _check(rnd, _row(rnd, "bitcoin", address, outsider, script.hex())).reason
    other_script = bytes([0x51]) + bytes([33]) + pubs[0] + bytes([0x51, 0xAE])
    mismatch = _check(rnd, _row(rnd, "bitcoin", address, bitcoin.sign_bip137(secrets[0], raw), other_script.hex()))
    assert mismatch.reason == "redeem script does not match the address"
    junk = _check(rnd, _row(rnd, "bitcoin", address, bitcoin.sign_bip137(secrets[0], raw), "ab" * 70))
    assert junk.reason.startswith("pubkey_or_script:")


@pytest.mark.parametrize("chain", ["ethereum", "arbitrum", "polygon", "bsc", "tron"])
def test_evm_and_tron_valid_and_forged(rnd, chain: str) -> None:  # type: ignore[no-untyped-def]
    from eth_keys import keys

    message = challenge_message(rnd)
    priv, other = keys.PrivateKey(_secret(31)), keys.PrivateKey(_secret(32))
    if chain == "tron":
        address = evm.tron_address(bytes(priv.public_key.to_canonical_address()))
        sig, other_sig = evm.sign_tron(_secret(31), message), evm.sign_tron(_secret(32), message)
        wrong_scheme = evm.sign_eip191(_secret(31), message)
    else:
        address = priv.public_key.to_checksum_address()
        sig, other_sig = evm.sign_eip191(_secret(31), message), evm.sign_eip191(_secret(32), message)
        wrong_scheme = evm.sign_tron(_secret(31), message)
    assert _check(rnd, _row(rnd, chain, address, sig, asset="USDT")).ok
    assert _check(rnd, _row(rnd, chain, address, sig, priv.public_key.to_hex(), asset="USDT")).ok
    assert "recovers another address" in _check(rnd, _row(rnd, chain, address, other_sig, asset="USDT")).reason
    assert not _check(rnd, _row(rnd, chain, address, wrong_scheme, asset="USDT")).ok
    mismatch = _check(rnd, _row(rnd, chain, address, sig, other.public_key.to_hex(), asset="USDT"))
    assert mismatch.reason == "pubkey_or_script does not match the address"
    assert "65 bytes" in _check(rnd, _row(rnd, chain, address, sig[:-2], asset="USDT")).reason


def test_address_validation(rnd) -> None:  # type: ignore[no-untyped-def]
    address, sig, _ = _btc("p2wpkh", 11, rnd)
    assert _check(
        rnd, _row(rnd, "bitcoin", address[:-1] + ("q" if address[-1] != "q" else "p"), sig)
    ).reason.startswith("address:")
    assert _check(rnd, _row(rnd, "bitcoin-testnet", address, sig)).reason.startswith("address:")
    eth = evm.sign_eip191(_secret(31), challenge_message(rnd))
    from eth_keys import keys

    good = keys.PrivateKey(_secret(31)).public_key.to_checksum_address()
    broken_checksum = good[:2] + good[2:].swapcase()
    if broken_checksum[2:] not in (good[2:].lower(), good[2:].upper()):
        assert "EIP-55" in _check(rnd, _row(rnd, "ethereum", broken_checksum, eth, asset="ETH")).reason
    assert _check(rnd, _row(rnd, "ethereum", good.lower(), eth, asset="ETH")).ok
    assert "TRON" in _check(rnd, _row(rnd, "tron", "T" + "1" * 33, eth, asset="USDT")).reason
