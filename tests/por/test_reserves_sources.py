"""Balance sources over JSON-RPC, against a local stand-in node (the one mock allowed: no node is reachable).

The stand-in speaks the real wire format: Bitcoin Core's `scantxoutset` (amounts as JSON numbers in BTC)
and Ethereum's `eth_getBalance` / `eth_call` in JSON-RPC batches, hex quantities, at a given block.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bastion.por.reserves import bitcoin
from bastion.por.reserves.round_view import parse_round
from bastion.por.reserves.sources import BALANCE_OF, BitcoinCoreSource, EvmRpcSource
from bastion.por.reserves.verify import BalanceSourceError, verify_wallet_set
from bastion.por.reserves.walletset import read_wallet_set
from bastion.sim.wallets import make_wallet_set

USDT_CONTRACT = "0xdac17f958d2ee523a2206206994597c13d831ec7"


class StandIn:
    """Chain state the stand-in serves: UTXOs by scriptPubKey, wei and token units by address."""

    def __init__(self) -> None:
        self.btc_height = 870000
        self.utxos: dict[str, list[str]] = {}  # spk hex -> amounts as JSON number text
        self.wei: dict[str, int] = {}
        self.tokens: dict[tuple[str, str], int] = {}
        self.calls: list[str] = []


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            batch = isinstance(body, list)
            out = "[" + ",".join(self._one(req) for req in body) + "]" if batch else self._one(body)
            data = out.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _one(self, req: dict[str, Any]) -> str:
            state.calls.append(req["method"])
            rid, params = json.dumps(req["id"]), req["params"]
            if req["method"] == "scantxoutset":
                unspents = []
                for desc in params[1]:
                    spk = bitcoin.parse_address(desc[5:-1]).script_pubkey.hex()
                    for n, amount in enumerate(state.utxos.get(spk, [])):
                        unspents.append(
                            f'{{"txid": "{n:064x}", "vout": 0, "scriptPubKey": "{spk}", "desc": "{desc}", '
                            f'"amount": {amount}, "height": 860000}}'
                        )
                return (
                    f'{{"result": {{"success": true, "txouts": 1, "height": {state.btc_height}, '
                    f'"bestblock": "{0:064x}", "unspents": [{",".join(unspents)}], "total_amount": 0}}, '
                    f'"error": null, "id": {rid}}}'
                )
            if params[1] != hex(21000000):
                return json.dumps(
                    {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32000, "message": "missing trie node"}}
                )
            if req["method"] == "eth_getBalance":
                value = state.wei.get(params[0].lower(), 0)
            elif req["method"] == "eth_call" and params[0]["data"].startswith(BALANCE_OF):
                holder = "0x" + params[0]["data"][-40:]
                value = state.tokens.get((params[0]["to"].lower(), holder), 0)
            else:
                return json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "no"}})
            return json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": hex(value)})

    return Handler


@pytest.fixture
def node() -> Iterator[tuple[str, StandIn]]:
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", state
    finally:
        server.shutdown()
        server.server_close()


ROUND = {
    "format": "bastion-round/3",
    "exchange": "Demo Exchange",
    "round_id": "2026-11",
    "snapshot_time": "2026-11-01T00:00:00Z",
    "nonce": "00112233445566778899aabbccddeeff",
    "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
    "assets": [
        {
            "asset": "BTC",
            "decimals": 8,
            "price_usd": "97000",
            "total_equity": "100",
            "total_debt": "0",
            "net_liabilities": "100",
        },
        {
            "asset": "ETH",
            "decimals": 18,
            "price_usd": "3500",
            "total_equity": "50",
            "total_debt": "0",
            "net_liabilities": "50",
        },
        {
            "asset": "USDT",
            "decimals": 6,
            "price_usd": "1",
            "total_equity": "1000",
            "total_debt": "0",
            "net_liabilities": "1000",
        },
    ],
}


@pytest.fixture
def wallets(tmp_path: Path) -> Path:
    path = tmp_path / "w.csv"
    make_wallet_set(ROUND, path, seed=5, wallets_per_asset=6)
    return path


def _load_chain(state: StandIn, wallets: Path, *, skew: Decimal = Decimal(0)) -> None:
    """Put exactly the file's balances on the stand-in chain (two UTXOs per Bitcoin address)."""
    seen: set[str] = set()
    for row in read_wallet_set(wallets).rows:
        if row.chain == "bitcoin" and row.address not in seen:
            seen.add(row.address)
            spk = bitcoin.parse_address(row.address).script_pubkey.hex()
            half = (row.balance / 2).quantize(Decimal("0.00000001"))
            state.utxos[spk] = [str(half), str(row.balance - half + skew)]
        elif row.chain == "ethereum" and row.asset == "ETH":
            state.wei[row.address.lower()] = int(row.balance.scaleb(18))
        elif row.chain == "ethereum" and row.asset == "USDT":
            state.tokens[(USDT_CONTRACT, row.address.lower())] = int(row.balance.scaleb(6))


def _sources(url: str) -> list[Any]:
    return [
        BitcoinCoreSource(url),
        EvmRpcSource("ethereum", url, tokens={"USDT": (USDT_CONTRACT, 6)}, batch=2),
    ]


def test_balances_from_the_nodes_match_the_file(node: tuple[str, StandIn], wallets: Path) -> None:
    url, state = node
    _load_chain(state, wallets)
    rnd = parse_round(ROUND)
    result = verify_wallet_set(rnd, read_wallet_set(wallets), sources=_sources(url))
    assert result.ok, result.failures
    assert result.balance_source == "file+bitcoin-core+ethereum-rpc"
    assert result.reserves == verify_wallet_set(rnd, read_wallet_set(wallets)).reserves
    assert state.calls.count("scantxoutset") == 1  # one scan for every address
    assert {"eth_getBalance", "eth_call"} <= set(state.calls)


def test_file_claiming_more_than_the_chain_fails(node: tuple[str, StandIn], wallets: Path) -> None:
    url, state = node
    _load_chain(state, wallets, skew=Decimal("-0.00000001"))  # every BTC address one satoshi short
    eth = next(r for r in read_wallet_set(wallets).rows if r.chain == "ethereum" and r.asset == "USDT")
    state.tokens[(USDT_CONTRACT, eth.address.lower())] -= 1
    result = verify_wallet_set(parse_round(ROUND), read_wallet_set(wallets), sources=_sources(url))
    reasons = [f.reason for f in result.failures]
    btc_wallets = {r.address for r in read_wallet_set(wallets).rows if r.chain == "bitcoin"}
    assert len(reasons) == len(btc_wallets) + 1
    assert all("differs from the node's" in r and "at height" in r for r in reasons)
    assert result.reserves["BTC"] == 0


def test_node_at_another_height_or_without_state_is_refused(node: tuple[str, StandIn], wallets: Path) -> None:
    url, state = node
    _load_chain(state, wallets)
    state.btc_height = 870005
    with pytest.raises(BalanceSourceError, match="UTXO set is at height 870005, the snapshot is at 870000"):
        verify_wallet_set(parse_round(ROUND), read_wallet_set(wallets), sources=_sources(url)[:1])
    # the stand-in only has state at 21,000,000, like a pruned node asked for an older block
    with pytest.raises(BalanceSourceError, match="missing trie node"):
        EvmRpcSource("ethereum", url).balances("ethereum", [("0x" + "11" * 20, "ETH")], 20000000)


def test_unreachable_node_is_a_clear_error() -> None:
    source = BitcoinCoreSource("http://127.0.0.1:9/", timeout=2)
    with pytest.raises(BalanceSourceError, match=r"127\.0\.0\.1:9"):
        source.balances("bitcoin", [("15CRxFdyRpGZLW9w8HnHvVduizdL5jKNbs", "BTC")], 1)
