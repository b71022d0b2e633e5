"""Ownership proofs on each asset's native chain, one module per chain; `NATIVE_CHAINS` maps chain -> module."""

from __future__ import annotations

from bastion.por.reserves.chains import (
    aptos,
    bitcoincash,
    cardano,
    dogecoin,
    litecoin,
    near,
    polkadot,
    solana,
    ton,
    xrpl,
)
from bastion.por.reserves.chains.base import ChainProofError, Context, NativeChain, NativeProof

NATIVE_CHAINS: dict[str, NativeChain] = {
    m.CHAIN.name: m.CHAIN for m in (solana, xrpl, dogecoin, litecoin, bitcoincash, polkadot, cardano, ton, near, aptos)
}

__all__ = ["NATIVE_CHAINS", "ChainProofError", "Context", "NativeChain", "NativeProof"]
