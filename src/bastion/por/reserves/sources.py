"""Balances from nodes over JSON-RPC, instead of the wallet set's own `balance` column.

- `BitcoinCoreSource`: one `scantxoutset start [addr(...), ...]` for all addresses; the node scans its UTXO
  set at its tip, so the answer is used only when the node's tip *is* the snapshot height (run a node
  stopped there, e.g. with `-stopatheight`); otherwise the source refuses rather than report other coins.
- `EvmRpcSource`: `eth_getBalance(address, height)` for the native asset and ERC-20 `balanceOf` through
  `eth_call` at the same block for configured tokens; needs an archive node for old heights. Requests go
  in JSON-RPC batches.
Amounts are parsed as decimals straight from the JSON text (never through float).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx

from bastion.por.reserves import bitcoin
from bastion.por.reserves.evm import parse_evm_address
from bastion.por.reserves.node_amounts import scanned_balances
from bastion.por.reserves.verify import BalanceSourceError

BALANCE_OF = "0x70a08231"  # keccak("balanceOf(address)")[:4]
NATIVE = {
    "ethereum": ("ETH", 18),
    "arbitrum": ("ETH", 18),
    "optimism": ("ETH", 18),
    "base": ("ETH", 18),
    "linea": ("ETH", 18),
    "zksync": ("ETH", 18),
    "scroll": ("ETH", 18),
    "polygon": ("POL", 18),
    "bsc": ("BNB", 18),
    "avalanche": ("AVAX", 18),
}


class _JsonRpc:
    def __init__(self, url: str, timeout: float = 60.0, auth: tuple[str, str] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.auth = auth
        self._next = 0

    def call(self, payload: list[dict[str, Any]] | dict[str, Any]) -> Any:
        try:
            resp = httpx.post(self.url, json=payload, timeout=self.timeout, auth=self.auth)
        except httpx.HTTPError as exc:
            raise BalanceSourceError(f"{self.url}: {exc}") from None
        try:
            body = json.loads(resp.text, parse_float=Decimal)
        except json.JSONDecodeError:
            raise BalanceSourceError(f"{self.url}: HTTP {resp.status_code}, not JSON-RPC") from None
        if isinstance(body, dict) and body.get("error"):
            raise BalanceSourceError(f"{self.url}: {body['error'].get('message', body['error'])}")
        if resp.status_code >= 400 and not isinstance(body, list):
            raise BalanceSourceError(f"{self.url}: HTTP {resp.status_code}")
        return body

    def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        self._next += 1
        return {"jsonrpc": "2.0", "id": self._next, "method": method, "params": params}


class BitcoinCoreSource:
    def __init__(self, url: str, *, auth: tuple[str, str] | None = None, timeout: float = 600.0) -> None:
        self.rpc = _JsonRpc(url, timeout, auth)
        self.name = "bitcoin-core"

    def handles(self, chain: str, asset: str) -> bool:
        return chain in bitcoin.CHAIN_NETWORKS and asset == "BTC"

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        by_script = {bitcoin.parse_address(a, chain).script_pubkey.hex(): a for a, _ in queries}
        descriptors = [f"addr({a})" for a, _ in queries]
        body = self.rpc.call(self.rpc.request("scantxoutset", ["start", descriptors]))
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict) or not result.get("success", False):
            raise BalanceSourceError("scantxoutset did not succeed")
        if result.get("height") != height:
            raise BalanceSourceError(
                f"the node's UTXO set is at height {result.get('height')}, the snapshot is at {height}: "
                "stop a node at the snapshot height to scan it"
            )
        return scanned_balances(chain, result, by_script, queries)


class EvmRpcSource:
    def __init__(
        self,
        chain: str,
        url: str,
        *,
        native: tuple[str, int] | None = None,
        tokens: dict[str, tuple[str, int]] | None = None,
        batch: int = 100,
        timeout: float = 60.0,
    ) -> None:
        self.chain = chain
        self.rpc = _JsonRpc(url, timeout)
        self.native = native or NATIVE.get(chain, ("ETH", 18))
        self.tokens = {k: (parse_evm_address(c), d) for k, (c, d) in (tokens or {}).items()}
        self.batch = batch
        self.name = f"{chain}-rpc"

    def handles(self, chain: str, asset: str) -> bool:
        return chain == self.chain and (asset == self.native[0] or asset in self.tokens)

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        block = hex(height)
        out: dict[tuple[str, str], Decimal] = {}
        for start in range(0, len(queries), self.batch):
            chunk = list(queries[start : start + self.batch])
            requests = []
            for address, asset in chunk:
                if asset == self.native[0]:
                    requests.append(self.rpc.request("eth_getBalance", [address, block]))
                else:
                    contract = "0x" + self.tokens[asset][0].hex()
                    data = BALANCE_OF + parse_evm_address(address).hex().rjust(64, "0")
                    requests.append(self.rpc.request("eth_call", [{"to": contract, "data": data}, block]))
            body = self.rpc.call(requests)
            if not isinstance(body, list):
                raise BalanceSourceError("the node did not answer the JSON-RPC batch with a list")
            by_id = {item.get("id"): item for item in body if isinstance(item, dict)}
            for req, (address, asset) in zip(requests, chunk, strict=True):
                item = by_id.get(req["id"])
                if item is None:
                    raise BalanceSourceError(f"no answer for {address} ({asset})")
                if item.get("error"):
                    message = item["error"].get("message", item["error"])
                    raise BalanceSourceError(f"{req['method']} {address} ({asset}) at {height}: {message}")
                decimals = self.native[1] if asset == self.native[0] else self.tokens[asset][1]
                try:
                    units = int(str(item["result"]), 16)
                except (KeyError, ValueError):
                    raise BalanceSourceError(f"{address} ({asset}): not a hex quantity") from None
                out[(address, asset)] = Decimal(units).scaleb(-decimals)
        return out
