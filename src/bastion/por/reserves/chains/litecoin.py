"""Litecoin: `signmessage` with the prefix "Litecoin Signed Message:\\n"; addresses L... (P2PKH), M.../3...
(P2SH), ltc1q... (P2WPKH, signed with BIP-137 segwit headers as Litecoin Core and Electrum-LTC write them)."""

from bastion.por.reserves.chains.signed_message import Coin, chain_of

COIN = Coin("litecoin", "LTC", b"\x19Litecoin Signed Message:\n", b"\x30", (b"\x32", b"\x05"), bech32_hrp="ltc")
CHAIN = chain_of(COIN)
