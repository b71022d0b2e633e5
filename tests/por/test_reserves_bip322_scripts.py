"""BIP-322 through scripts: P2WSH (single key and 2-of-3 multisig in one witness) and taproot script path.

The virtual transactions and their signatures are made with bitcoin-utils (its own transaction classes,
BIP-143 / BIP-341 sighashes and signing), not with the embit code the verifier uses; a signature over
another round's challenge, a leaf outside the address's tree and a missing multisig signature are refused.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from bastion.por.reserves.challenge import challenge_message
from bastion.por.reserves.round_view import parse_round
from bastion.por.reserves.verify import verify_wallet_set
from bastion.por.reserves.walletset import read_wallet_set, write_wallet_csv

bitcoinutils = pytest.importorskip("bitcoinutils")
from bitcoinutils.keys import P2wshAddress, PrivateKey  # noqa: E402
from bitcoinutils.script import Script  # noqa: E402
from bitcoinutils.setup import setup  # noqa: E402
from bitcoinutils.transactions import Transaction, TxInput, TxOutput  # noqa: E402
from bitcoinutils.utils import ControlBlock  # noqa: E402

setup("mainnet")
ROUND: dict[str, Any] = {
    "format": "bastion-round/3",
    "exchange": "Demo Exchange",
    "round_id": "2026-11",
    "snapshot_time": "2026-11-01T00:00:00Z",
    "nonce": "9f86d081884c7d659a2feaa0c55ad015",
    "block_heights": {"bitcoin": 870000},
    "assets": [
        {
            "asset": "BTC",
            "decimals": 8,
            "price_usd": "1",
            "total_equity": "9",
            "total_debt": "0",
            "net_liabilities": "9",
        }
    ],
}
CHALLENGE = challenge_message(parse_round(ROUND))
OLD = challenge_message(parse_round(dict(ROUND, round_id="2026-10", nonce="0" * 32)))
ZERO = b"\x00" * 4


def _message_hash(message: str) -> str:
    tag = hashlib.sha256(b"BIP0322-signed-message").digest()
    return hashlib.sha256(tag + tag + message.encode()).hexdigest()


def _virtual(spk: Script, message: str) -> Transaction:
    """BIP-322's to_sign for `spk`, built with bitcoin-utils."""
    to_spend = Transaction(
        # an all-zero txid is a coinbase to bitcoin-utils: its scriptSig is given as raw hex (OP_0 PUSH32 hash)
        [TxInput("00" * 32, 0xFFFFFFFF, Script(["0020" + _message_hash(message)]), ZERO)],
        [TxOutput(0, spk)],
        locktime=ZERO,
        version=ZERO,
    )
    return Transaction(
        [TxInput(to_spend.get_txid(), 0, Script([]), ZERO)],
        [TxOutput(0, Script(["OP_RETURN"]))],
        locktime=ZERO,
        version=ZERO,
        has_segwit=True,
    )


def _witness(items: list[bytes]) -> str:
    def compact(n: int) -> bytes:
        assert n < 0xFD
        return bytes([n])

    return base64.b64encode(compact(len(items)) + b"".join(compact(len(i)) + i for i in items)).decode()


def _row(address: str, signature: str, script: str = "") -> dict[str, str]:
    return {
        "chain": "bitcoin", "asset": "BTC", "address": address, "balance": "1", "snapshot_height": "870000",
        "message": CHALLENGE, "signature": signature, "pubkey_or_script": script,
    }  # fmt: skip


def p2wsh_single(message: str) -> dict[str, str]:
    key = PrivateKey(secret_exponent=0xB1)
    script = Script([key.get_public_key().to_hex(), "OP_CHECKSIG"])
    address = P2wshAddress.from_script(script)
    tx = _virtual(address.to_script_pub_key(), message)
    sig = key.sign_segwit_input(tx, 0, script, 0)
    return _row(address.to_string(), _witness([bytes.fromhex(sig), bytes.fromhex(script.to_hex())]))


def p2wsh_multisig(message: str, signers: tuple[int, ...] = (0, 2)) -> dict[str, str]:
    keys = [PrivateKey(secret_exponent=0xC0 + i) for i in range(3)]
    keys.sort(key=lambda k: k.get_public_key().to_hex())
    script = Script(["OP_2", *(k.get_public_key().to_hex() for k in keys), "OP_3", "OP_CHECKMULTISIG"])
    address = P2wshAddress.from_script(script)
    tx = _virtual(address.to_script_pub_key(), message)
    sigs = [bytes.fromhex(keys[i].sign_segwit_input(tx, 0, script, 0)) for i in signers]
    witness = _witness([b"", *sigs, bytes.fromhex(script.to_hex())])
    return _row(address.to_string(), witness, script.to_hex())


def tapscript(message: str, leaf_index: int = 0, tree_keys: tuple[int, int] = (0xD1, 0xD2)) -> dict[str, str]:
    internal = PrivateKey(secret_exponent=0xD0)
    leaf_keys = [PrivateKey(secret_exponent=k) for k in tree_keys]
    leaves = [Script([k.get_public_key().to_x_only_hex(), "OP_CHECKSIG"]) for k in leaf_keys]
    address = internal.get_public_key().get_taproot_address(leaves)
    tx = _virtual(address.to_script_pub_key(), message)
    leaf = leaves[leaf_index]
    sig = leaf_keys[leaf_index].sign_taproot_input(
        tx, 0, [address.to_script_pub_key()], [0], script_path=True, tapleaf_script=leaf, tapleaf_scripts=leaves,
        tweak=False,
    )  # fmt: skip
    control = ControlBlock(internal.get_public_key(), leaves, leaf_index, is_odd=address.is_odd())
    witness = _witness([bytes.fromhex(sig), bytes.fromhex(leaf.to_hex()), bytes.fromhex(control.to_hex())])
    return _row(address.to_string(), witness)


def _verify(tmp_path: Path, rows: list[dict[str, str]]) -> Any:
    path = tmp_path / "w.csv"
    write_wallet_csv(path, rows)
    return verify_wallet_set(parse_round(ROUND), read_wallet_set(path))


@pytest.mark.parametrize("make", [p2wsh_single, p2wsh_multisig, tapscript])
def test_script_signatures_verify_and_other_rounds_do_not(make: Any, tmp_path: Path) -> None:
    good = _verify(tmp_path, [make(CHALLENGE)])
    assert good.ok, good.failures
    wallet = good.wallets[0]
    assert wallet.verified and wallet.scheme.startswith("bip322-")
    if make is p2wsh_multisig:
        assert wallet.kind == "2-of-3 multisig" and wallet.scheme == "bip322-p2wsh-multisig"
    old = _verify(tmp_path, [make(OLD)])
    assert not old.ok and old.failures[0].row == 2
    assert "does not verify" in old.failures[0].reason or "fewer than 2" in old.failures[0].reason


def test_multisig_needs_m_signatures_in_one_witness(tmp_path: Path) -> None:
    one = p2wsh_multisig(CHALLENGE, (1,))
    result = _verify(tmp_path, [one])
    assert not result.ok and "witness must be [empty, 2 signatures" in result.failures[0].reason
    twice = p2wsh_multisig(CHALLENGE, (1, 1))  # the same key twice is not two keys
    assert "fewer than 2 signatures" in _verify(tmp_path, [twice]).failures[0].reason
    reversed_order = p2wsh_multisig(CHALLENGE, (2, 0))  # OP_CHECKMULTISIG wants the keys' order
    assert not _verify(tmp_path, [reversed_order]).ok


def test_a_leaf_outside_the_addresss_tree_is_refused(tmp_path: Path) -> None:
    row = tapscript(CHALLENGE)
    other = tapscript(CHALLENGE, tree_keys=(0xE1, 0xE2))
    forged = dict(row, signature=other["signature"])  # a valid script spend of another address
    reason = _verify(tmp_path, [forged]).failures[0].reason
    assert "do not commit to this taproot address" in reason


def test_pubkey_or_script_must_be_the_spent_script(tmp_path: Path) -> None:
    row = p2wsh_multisig(CHALLENGE)
    wrong = dict(row, pubkey_or_script=p2wsh_single(CHALLENGE)["signature"][:10].encode().hex())
    assert "not the script the signature spends" in _verify(tmp_path, [wrong]).failures[0].reason
