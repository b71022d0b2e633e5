"""Bitcoin Cash: Bitcoin's `signmessage` (same "Bitcoin Signed Message:\\n" prefix, as Electron Cash and
Bitcoin Cash Node write it); CashAddr addresses (bitcoincash:q... / p...), legacy 1.../3... accepted."""

from bastion.por.reserves.chains.signed_message import Coin, chain_of

COIN = Coin("bitcoin-cash", "BCH", b"\x18Bitcoin Signed Message:\n", b"\x00", (b"\x05",), cashaddr_prefix="bitcoincash")
CHAIN = chain_of(COIN)
