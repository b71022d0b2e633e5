"""Proof that a user owns a self-hosted wallet: they sign a challenge naming them, the address and a nonce with
the wallet's key. The signatures are checked with the reserves side's verifiers (`bastion.por.reserves`):
Bitcoin BIP-137 (legacy signed message) and BIP-322 simple, EVM EIP-191 (personal_sign)."""

from __future__ import annotations

import secrets

from bastion.errors import InvalidInputError
from bastion.por.reserves import bitcoin, evm

CHAINS: frozenset[str] = frozenset(bitcoin.CHAIN_NETWORKS) | evm.EVM_CHAINS


def normalize(chain: str, address: str) -> str:
    """The address in its one canonical form for `chain`; InvalidInputError naming the field otherwise."""
    if chain not in CHAINS:
        raise InvalidInputError("chain", f"ownership proofs are checked on {', '.join(sorted(CHAINS))}")
    try:
        if chain in bitcoin.CHAIN_NETWORKS:
            return bitcoin.parse_address(address.strip(), chain).text
        return "0x" + evm.parse_evm_address(address.strip()).hex()
    except ValueError as exc:
        raise InvalidInputError("address", str(exc)) from None


def challenge(exchange: str, user_id: str, chain: str, address: str) -> str:
    nonce = secrets.token_hex(16)
    return (
        f"{exchange} Travel Rule: I, account {user_id}, own the {chain} address {address} "
        f"and send from or receive to it myself. Nonce: {nonce}"
    )


def verify(chain: str, address: str, message: str, signature: str) -> str:
    """The scheme that verified (`bip137`, `bip322`, `eip191`); InvalidInputError("signature") if none does."""
    try:
        if chain in evm.EVM_CHAINS:
            signer = evm.recover_signer(evm.eip191_hash(message), signature.strip())
            if evm.key_hash(signer) != evm.parse_evm_address(address):
                raise InvalidInputError("signature", "does not verify: it was not made by this address's key")
            return "eip191"
        parsed = bitcoin.parse_address(address, chain)
        sig = bitcoin.decode_signature(signature)
        if len(sig) == 65 and 27 <= sig[0] <= 42 and parsed.kind != "p2tr":
            key, _ = bitcoin.recover_bip137(message.encode(), sig)
            if parsed.script_pubkey not in bitcoin.single_key_scripts(key).values():
                raise InvalidInputError("signature", "does not verify: the key it recovers does not own the address")
            return "bip137"
        bitcoin.verify_bip322_simple(parsed, message.encode(), sig)
        return "bip322"
    except (bitcoin.ProofError, evm.EvmProofError, ValueError) as exc:
        raise InvalidInputError("signature", f"does not verify: {exc}") from None
