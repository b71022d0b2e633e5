"""Verify a wallet set against a round: ownership, the challenge, duplicates, the registry, balances.

A wallet is (chain, address, asset). It counts towards reserves only when every check passes; every row
that fails is reported with its row number and the reason, and the wallet's balance is left out.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from bastion.por.reserves import bitcoin, evm
from bastion.por.reserves.chains import NATIVE_CHAINS, ChainProofError, Context
from bastion.por.reserves.challenge import challenge_message, why_not_this_round
from bastion.por.reserves.errors import ReservesInputError
from bastion.por.reserves.round_view import Round
from bastion.por.reserves.walletset import WalletRow, WalletSet


@dataclass(frozen=True, slots=True)
class RowCheck:
    ok: bool
    reason: str = ""
    signer: str = ""  # the key that signed (hex), for multisig counting and the report
    scheme: str = ""  # bip137 | bip322 | bip137-multisig | eip191 | tron | a native chain's (chains/)
    address: str = ""  # normalized
    multisig: bitcoin.Multisig | None = None
    kind: str = ""  # the wallet's kind when one row proves it alone ("2-of-3 multisig" by BIP-322 P2WSH)


@dataclass(slots=True)
class Wallet:
    chain: str
    asset: str
    address: str
    balance: Decimal
    rows: list[int]
    scheme: str = ""
    kind: str = ""  # "m-of-n multisig" or "single key"
    verified: bool = False
    snapshot_height: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    row: int
    chain: str
    asset: str
    address: str
    reason: str

    @classmethod
    def of(cls, row: int, wallet: Wallet, reason: str) -> Failure:
        """A failure of `row`, one of the rows that make up `wallet`."""
        return cls(row, wallet.chain, wallet.asset, wallet.address, reason)


@dataclass(slots=True)
class Verification:
    round: Round
    challenge: str
    wallets: list[Wallet]
    failures: list[Failure]
    balance_source: str = "file"
    wallet_set: WalletSet | None = None
    reserves: dict[str, Decimal] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


class BalanceSource(Protocol):
    """Balances at a block height from outside the wallet set (a node over JSON-RPC)."""

    name: str

    def handles(self, chain: str, asset: str) -> bool: ...

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        """{(address, asset): balance} at `height`; raises BalanceSourceError when the node cannot say."""
        ...


class BalanceSourceError(Exception):
    pass


# ------------------------------------------------------------------------------------- registry
def read_registry(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """Addresses other exchanges published: CSV `chain,address,exchange[,round_id]`.

    Keyed by (chain family, normalized address); EVM addresses are one key on every EVM chain.
    """
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReservesInputError(name, [(None, "file", f"cannot read: {exc}")]) from None
    reader = csv.DictReader(text.splitlines())
    missing = {"chain", "address", "exchange"} - set(reader.fieldnames or [])
    if missing:
        raise ReservesInputError(name, [(None, "header", f"missing column(s): {', '.join(sorted(missing))}")])
    out: dict[tuple[str, str], tuple[str, str]] = {}
    problems: list[tuple[int | None, str, str]] = []
    for i, rec in enumerate(reader, start=2):  # as a spreadsheet shows it: the header is row 1
        chain, address = (rec.get("chain") or "").strip().lower(), (rec.get("address") or "").strip()
        exchange = (rec.get("exchange") or "").strip()
        if not chain or not address or not exchange:
            problems.append((i, "chain/address/exchange", "must all be present"))
            continue
        try:
            key = (_family(chain), normalize_address(chain, address))
        except ValueError as exc:
            problems.append((i, "address", str(exc)))
            continue
        out[key] = (exchange, (rec.get("round_id") or "").strip())
    if problems:
        raise ReservesInputError(name, problems)
    return out


def _family(chain: str) -> str:
    if chain in evm.EVM_CHAINS:
        return "evm"
    return chain


def normalize_address(chain: str, address: str) -> str:
    if chain in bitcoin.CHAIN_NETWORKS:
        return bitcoin.parse_address(address, chain).text
    if chain in evm.EVM_CHAINS:
        return "0x" + evm.parse_evm_address(address).hex()
    if chain == "tron":
        evm.parse_tron_address(address)
        return address
    if chain in NATIVE_CHAINS:
        return NATIVE_CHAINS[chain].normalize(address)
    raise ValueError(f"unknown chain {chain!r}")


# ------------------------------------------------------------------------------------- one row
class _Digests:
    """The challenge in every chain's signing form, hashed once per round rather than once per row."""

    def __init__(
        self,
        challenge: str,
        rnd: Round | None = None,
        account_keys: dict[tuple[str, str], frozenset[str]] | None = None,
    ) -> None:
        self.text = challenge
        self.context = Context(
            challenge,
            rnd.exchange if rnd else "",
            rnd.round_id if rnd else "",
            rnd.nonce if rnd else "",
            account_keys or {},
        )
        self.raw = challenge.encode()
        self.eip191 = evm.eip191_hash(challenge)
        self.tron = evm.tron_hash(challenge)


def check_row(row: WalletRow, rnd: Round, digests: _Digests) -> RowCheck:
    """Everything about one row that does not depend on the other rows."""
    reason = why_not_this_round(row.message, rnd)
    if reason:
        return RowCheck(False, reason)
    asset = rnd.asset(row.asset)
    if asset is None:
        return RowCheck(False, f"asset {row.asset} is not in the round's liabilities (round.json)")
    _, _, frac = row.balance_text.partition(".")
    if frac[asset.decimals :].strip("0"):
        return RowCheck(False, f"balance {row.balance_text} has more than {asset.decimals} decimals for {row.asset}")
    expected = rnd.block_heights.get(_height_key(row.chain))
    if expected is not None and row.snapshot_height != expected:
        return RowCheck(
            False, f"snapshot_height {row.snapshot_height} is not the round's {row.chain} height {expected}"
        )
    try:
        if row.chain in bitcoin.CHAIN_NETWORKS:
            return _check_bitcoin(row, digests)
        if row.chain in evm.EVM_CHAINS:
            return _check_evm(row, digests)
        if row.chain in NATIVE_CHAINS:
            return _check_native(row, digests)
        return _check_tron(row, digests)
    except (bitcoin.ProofError, evm.EvmProofError) as exc:
        return RowCheck(False, str(exc))


def _height_key(chain: str) -> str:
    return chain


def _check_bitcoin(row: WalletRow, digests: _Digests) -> RowCheck:
    try:
        address = bitcoin.parse_address(row.address, row.chain)
    except ValueError as exc:
        return RowCheck(False, f"address: {exc}")
    script = _hex(row.pubkey_or_script) if row.pubkey_or_script else None
    if row.pubkey_or_script and script is None:
        return RowCheck(False, "pubkey_or_script is not hex", address=address.text)
    witness_script = _bip322_script_path(address, row.signature)
    if witness_script is not None:
        return _check_bip322_script(row, address, script, witness_script, digests)
    if script is not None and not (len(script) in (32, 33, 65) and _is_point(script)):
        return _check_multisig(row, address, script, digests)
    sig = bitcoin.decode_signature(row.signature)
    claimed = script
    if claimed is not None:
        owns = (
            (
                bitcoin.p2tr_script(claimed) == address.script_pubkey
                if address.kind == "p2tr" and len(claimed) in (32, 33)
                else address.script_pubkey in bitcoin.single_key_scripts(claimed).values()
            )
            if _is_point(claimed)
            else False
        )
        if not owns:
            return RowCheck(False, "pubkey_or_script does not match the address", address=address.text)
    if len(sig) == 65 and 27 <= sig[0] <= 42:
        if address.kind == "p2tr":
            return RowCheck(False, "taproot addresses need a BIP-322 signature", address=address.text)
        key, _ = bitcoin.recover_bip137(digests.raw, sig)
        if address.script_pubkey not in bitcoin.single_key_scripts(key).values():
            if claimed is not None:
                reason = "signature does not verify for this key over this round's challenge"
            else:
                reason = (
                    "signature does not verify: the key it recovers over this round's challenge "
                    "does not own the address"
                )
            return RowCheck(False, reason, address=address.text)
        return RowCheck(True, signer=key.hex(), scheme="bip137", address=address.text)
    signer = bitcoin.verify_bip322_simple(address, digests.raw, sig)
    if claimed is not None and address.kind != "p2tr" and signer != claimed:
        return RowCheck(False, "signature is by another key than pubkey_or_script", address=address.text)
    return RowCheck(True, signer=signer.hex(), scheme="bip322", address=address.text)


def _bip322_script_path(address: bitcoin.Address, signature: str) -> bytes | None:
    """The script a BIP-322 witness spends through (P2WSH witness script, taproot leaf), if it is one."""
    if address.kind not in ("p2wsh", "p2tr"):
        return None
    try:
        sig = bitcoin.decode_signature(signature)
        if len(sig) == 65 and 27 <= sig[0] <= 42:
            return None  # BIP-137
        items = bitcoin.witness_items(sig)
    except bitcoin.ProofError:
        return None
    if address.kind == "p2wsh":
        return items[-1]
    if len(items) >= 2 and bitcoin.is_control_block(items[-1]):
        return items[-2]
    return None


def _check_bip322_script(
    row: WalletRow, address: bitcoin.Address, claimed: bytes | None, spent: bytes, digests: _Digests
) -> RowCheck:
    """BIP-322 through a script: P2WSH (single key or m-of-n in one witness) or a taproot script path."""
    if claimed is not None and claimed not in (spent, spent[1:-1]):
        return RowCheck(False, "pubkey_or_script is not the script the signature spends", address=address.text)
    sig = bitcoin.decode_signature(row.signature)
    signer = bitcoin.verify_bip322_simple(address, digests.raw, sig)
    if address.kind == "p2tr":
        return RowCheck(True, signer=signer.hex(), scheme="bip322-tapscript", address=address.text)
    try:
        ms = bitcoin.parse_multisig(spent)
    except ValueError:
        return RowCheck(True, signer=signer.hex(), scheme="bip322-p2wsh", address=address.text)
    kind = f"{ms.m}-of-{len(ms.pubkeys)} multisig"
    return RowCheck(True, signer=signer.hex(), scheme="bip322-p2wsh-multisig", address=address.text, kind=kind)


def _check_multisig(row: WalletRow, address: bitcoin.Address, script: bytes, digests: _Digests) -> RowCheck:
    try:
        ms = bitcoin.parse_multisig(script)
    except ValueError as exc:
        return RowCheck(False, f"pubkey_or_script: {exc}", address=address.text)
    if address.script_pubkey not in bitcoin.multisig_scripts(script).values():
        return RowCheck(False, "redeem script does not match the address", address=address.text, multisig=ms)
    sig = bitcoin.decode_signature(row.signature)
    key, _ = bitcoin.recover_bip137(digests.raw, sig)
    if key not in ms.pubkeys:
        return RowCheck(
            False,
            "signature does not verify for any key of the redeem script over this round's challenge",
            address=address.text,
            multisig=ms,
        )
    return RowCheck(True, signer=key.hex(), scheme="bip137-multisig", address=address.text, multisig=ms)


def _check_native(row: WalletRow, digests: _Digests) -> RowCheck:
    chain = NATIVE_CHAINS[row.chain]
    try:
        address = chain.normalize(row.address)
    except ValueError as exc:
        return RowCheck(False, f"address: {exc}")
    try:
        proof = chain.verify(row.address, row.signature, row.pubkey_or_script, digests.context)
    except ChainProofError as exc:
        return RowCheck(False, str(exc), address=address)
    return RowCheck(True, signer=proof.signer, scheme=proof.scheme, address=proof.address)


def _check_evm(row: WalletRow, digests: _Digests) -> RowCheck:
    try:
        key_hash = evm.parse_evm_address(row.address)
    except ValueError as exc:
        return RowCheck(False, f"address: {exc}")
    return _check_keccak_owner(row, key_hash, "0x" + key_hash.hex(), digests.eip191, "eip191")


def _check_tron(row: WalletRow, digests: _Digests) -> RowCheck:
    try:
        key_hash = evm.parse_tron_address(row.address)
    except ValueError as exc:
        return RowCheck(False, f"address: {exc}")
    return _check_keccak_owner(row, key_hash, row.address, digests.tron, "tron")


def _check_keccak_owner(row: WalletRow, key_hash: bytes, address: str, digest: bytes, scheme: str) -> RowCheck:
    if row.pubkey_or_script:
        try:
            claimed = evm.parse_public_key(row.pubkey_or_script)
        except ValueError as exc:
            return RowCheck(False, f"pubkey_or_script: {exc}", address=address)
        if evm.key_hash(claimed) != key_hash:
            return RowCheck(False, "pubkey_or_script does not match the address", address=address)
    signer = evm.recover_signer(digest, row.signature)
    if evm.key_hash(signer) != key_hash:
        return RowCheck(
            False, "signature does not verify: it recovers another address over this round's challenge", address=address
        )
    return RowCheck(True, signer=signer.to_hex(), scheme=scheme, address=address)


def _hex(text: str) -> bytes | None:
    body = text[2:] if text.startswith("0x") else text
    try:
        return bytes.fromhex(body)
    except ValueError:
        return None


def _is_point(data: bytes) -> bool:
    try:
        if len(data) == 32:
            import coincurve

            coincurve.PublicKeyXOnly(data)
        else:
            import coincurve

            coincurve.PublicKey(data)
        return True
    except Exception:
        return False


# ------------------------------------------------------------------------------------- the set
def verify_wallet_set(
    rnd: Round,
    wallet_set: WalletSet,
    *,
    registry: dict[tuple[str, str], tuple[str, str]] | None = None,
    sources: Sequence[BalanceSource] = (),
) -> Verification:
    challenge = challenge_message(rnd)
    digests = _Digests(challenge, rnd, _account_keys(rnd, wallet_set, sources))
    failures: list[Failure] = []
    groups: dict[tuple[str, str, str], list[tuple[WalletRow, RowCheck]]] = defaultdict(list)

    for row in wallet_set.rows:
        check = check_row(row, rnd, digests)
        address = check.address or row.address
        if check.ok and registry:
            claim = registry.get((_family(row.chain), address))
            if claim is not None and claim[0] != rnd.exchange:
                where = f" (round {claim[1]})" if claim[1] else ""
                check = RowCheck(False, f"address is claimed by {claim[0]!r}{where} in the registry", address=address)
        groups[(row.chain, address, row.asset)].append((row, check))

    wallets: list[Wallet] = []
    for (chain, address, asset), members in groups.items():
        wallet = Wallet(chain, asset, address, members[0][0].balance, [r.row for r, _ in members])
        wallet.snapshot_height = members[0][0].snapshot_height
        wallets.append(wallet)
        for row, check in members:
            if not check.ok:
                failures.append(Failure(row.row, chain, asset, address, check.reason))
        is_multisig = any(c.multisig is not None for _, c in members)
        if is_multisig:
            wallet.verified = _settle_multisig(wallet, members, failures)
            continue
        first = members[0]
        for row, check in members[1:]:
            if check.ok:
                failures.append(
                    Failure(row.row, chain, asset, address, f"duplicate address: also on row {first[0].row}")
                )
        wallet.verified = first[1].ok
        wallet.scheme, wallet.kind = first[1].scheme, first[1].kind or "single key"

    source_names = _apply_sources(rnd, wallets, sources, failures)
    reserves: dict[str, Decimal] = {a: Decimal(0) for a in rnd.assets}
    for wallet in wallets:
        if wallet.verified and wallet.asset in reserves:
            reserves[wallet.asset] += wallet.balance
    failures.sort(key=lambda f: f.row)
    return Verification(rnd, challenge, wallets, failures, source_names, wallet_set, reserves)


def _account_keys(
    rnd: Round, wallet_set: WalletSet, sources: Sequence[BalanceSource]
) -> dict[tuple[str, str], frozenset[str]]:
    """Keys allowed to sign for accounts that are not a key hash (NEAR named accounts, Aptos accounts),
    read from the sources that can list them, at the round's height, before any signature is checked."""
    out: dict[tuple[str, str], frozenset[str]] = {}
    for source in sources:
        lister = getattr(source, "account_keys", None)
        if lister is None:
            continue
        by_chain: dict[str, set[str]] = defaultdict(set)
        for row in wallet_set.rows:
            if row.chain in NATIVE_CHAINS and source.handles(row.chain, row.asset):
                try:
                    address = NATIVE_CHAINS[row.chain].normalize(row.address)
                except ValueError:
                    continue  # the row fails on its address anyway
                if row.chain == "near" and len(address) == 64:
                    continue  # an implicit account is its key
                by_chain[row.chain].add(address)
        for chain, accounts in by_chain.items():
            height = rnd.block_heights.get(_height_key(chain))
            if height is None:
                raise BalanceSourceError(f"round.json has no block height for {chain}; cannot ask the node")
            for account, keys in lister(chain, sorted(accounts), height).items():
                out[(chain, account)] = keys
    return out


def _settle_multisig(wallet: Wallet, members: list[tuple[WalletRow, RowCheck]], failures: list[Failure]) -> bool:
    scripts = {c.multisig.script for _, c in members if c.multisig is not None}
    first_row = members[0][0].row
    if len(scripts) != 1 or any(c.multisig is None for _, c in members):
        for row, _ in members:
            failures.append(Failure.of(row.row, wallet, "rows of one multisig address carry different redeem scripts"))
        return False
    ms = next(c.multisig for _, c in members if c.multisig is not None)
    assert ms is not None
    wallet.kind, wallet.scheme = f"{ms.m}-of-{len(ms.pubkeys)} multisig", "bip137-multisig"
    if len({r.balance for r, _ in members}) != 1:
        for row, _ in members[1:]:
            failures.append(
                Failure.of(row.row, wallet, f"balance differs from row {first_row} of the same multisig wallet")
            )
        return False
    signers: dict[str, int] = {}
    for row, check in members:
        if not check.ok:
            continue
        if check.signer in signers:
            failures.append(
                Failure.of(row.row, wallet, f"duplicate signature by the same key as row {signers[check.signer]}")
            )
            continue
        signers[check.signer] = row.row
    if len(signers) < ms.m:
        for row, check in members:
            if check.ok:
                failures.append(
                    Failure.of(
                        row.row,
                        wallet,
                        f"multisig needs {ms.m} of {len(ms.pubkeys)} keys to sign, {len(signers)} valid signature(s)",
                    )
                )
        return False
    return True


def _apply_sources(rnd: Round, wallets: list[Wallet], sources: Sequence[BalanceSource], failures: list[Failure]) -> str:
    if not sources:
        return "file"
    used: list[str] = []
    for source in sources:
        by_chain: dict[str, list[Wallet]] = defaultdict(list)
        for w in wallets:
            if source.handles(w.chain, w.asset):
                by_chain[w.chain].append(w)
        for chain, members in by_chain.items():
            height = rnd.block_heights.get(_height_key(chain))
            if height is None:
                raise BalanceSourceError(f"round.json has no block height for {chain}; cannot ask the node")
            found = source.balances(chain, [(w.address, w.asset) for w in members], height)
            used.append(source.name)
            for w in members:
                node = found.get((w.address, w.asset), Decimal(0))
                if node != w.balance:
                    failures.append(
                        Failure.of(
                            w.rows[0],
                            w,
                            f"balance in the file {w.balance} differs from the node's {node} at height {height}",
                        )
                    )
                    w.verified = False
    return "+".join(dict.fromkeys(["file", *used]))
