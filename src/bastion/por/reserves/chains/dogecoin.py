"""Dogecoin: `signmessage` with the prefix "Dogecoin Signed Message:\\n"; addresses D... (P2PKH), 9/A... (P2SH)."""

from bastion.por.reserves.chains.signed_message import Coin, chain_of

COIN = Coin("dogecoin", "DOGE", b"\x19Dogecoin Signed Message:\n", b"\x1e", (b"\x16",))
CHAIN = chain_of(COIN)
