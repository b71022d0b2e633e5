"""Balance sources for the native chains: each chain's own node API, at the round's height.

- xrpl (rippled JSON-RPC): `account_info` at `ledger_index` = the height, in drops; any validated ledger the
  server keeps.
- solana (JSON-RPC): `getBalance` in lamports; nodes answer at their current slot only, so the answer's
  `context.slot` must *be* the snapshot slot.
- near (JSON-RPC): `query` `view_account` at `block_id`, yoctoNEAR (liquid `amount`); `view_access_key_list`
  gives named accounts' full-access keys; any block an archival node keeps.
- aptos (REST): `POST /v1/view` of `0x1::coin::balance<AptosCoin>` at `ledger_version`, in octas;
  `GET /v1/accounts/{a}` gives the authentication key (followed after a key rotation).
- polkadot (Substrate API Sidecar): `GET /accounts/{a}/balance-info?at=`, planck, free + reserved.
- cardano (Koios REST): `GET /tip` then `POST /address_info`, lovelace; Koios answers at its tip only, so
  the tip's `block_no` must *be* the snapshot height.
- ton (toncenter API v3): `GET /masterchainInfo` then `GET /account?address=`, nanotons; current state only,
  so the last masterchain `seqno` must *be* the snapshot height.
- tron (java-tron HTTP API, or TronGrid): `POST /wallet/getnowblock` then `/wallet/getaccount`, sun (TRX only);
  current state only, so the latest block number must *be* the snapshot height.
- dogecoin, litecoin, bitcoin-cash (the node's JSON-RPC): one `scantxoutset` of all addresses; the node's
  tip must *be* the snapshot height.

Every request is retried on HTTP 429 and 5xx and on connection errors, with exponential backoff (and the
server's Retry-After when it gives one); anything else the node says is a `BalanceSourceError` naming the
address. Amounts are parsed from the JSON text as decimals, never floats.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from bastion.por.reserves.chains.signed_message import Coin, script_of
from bastion.por.reserves.node_amounts import base_units, scanned_balances
from bastion.por.reserves.verify import BalanceSourceError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class HttpJson:
    """JSON over HTTP with retries and exponential backoff on 429/5xx and connection errors."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        attempts: int = 5,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.retries = 0  # how many requests were retried (for tests and logs)
        self._next_id = 0
        self._http = httpx.Client(timeout=timeout)  # one connection pool for all of a chain's requests

    def _send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = self.base_url + path
        for attempt in range(1, self.attempts + 1):
            try:
                resp = self._http.request(method, url, json=body)
            except httpx.HTTPError as exc:
                if attempt == self.attempts:
                    raise BalanceSourceError(f"{url}: {exc} (after {attempt} attempts)") from None
                self._wait(attempt, None)
                continue
            if resp.status_code in RETRY_STATUS:
                if attempt == self.attempts:
                    raise BalanceSourceError(f"{url}: HTTP {resp.status_code} (after {attempt} attempts)")
                self._wait(attempt, resp.headers.get("retry-after"))
                continue
            try:
                return resp.status_code, json.loads(resp.text, parse_float=Decimal, parse_int=int)
            except json.JSONDecodeError:
                raise BalanceSourceError(f"{url}: HTTP {resp.status_code}, not JSON") from None
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        delay = self.backoff * 2 ** (attempt - 1)
        if retry_after is not None and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        self.sleep(min(delay, self.max_wait))

    def get(self, path: str) -> tuple[int, Any]:
        return self._send("GET", path)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self._send("POST", path, body)

    def rpc(self, method: str, params: Any) -> Any:
        """A JSON-RPC 2.0 call; the `result`, or BalanceSourceError with the node's message."""
        self._next_id += 1
        _, body = self.post("", {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        if not isinstance(body, dict):
            raise BalanceSourceError(f"{self.base_url}: {method}: not a JSON-RPC answer")
        if body.get("error"):
            error = body["error"]
            raise BalanceSourceError(f"{self.base_url}: {method}: {error.get('message', error)}")
        return body.get("result")


class _Native:
    chain = ""
    asset = ""
    decimals = 0

    def __init__(self, client: HttpJson) -> None:
        self.client = client
        self.name = f"{self.chain}-node"

    def handles(self, chain: str, asset: str) -> bool:
        return chain == self.chain and asset == self.asset

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        return {(address, asset): self.balance(address, height) for address, asset in queries}

    def balance(self, address: str, height: int) -> Decimal:
        raise NotImplementedError


class XrplSource(_Native):
    chain, asset, decimals = "xrpl", "XRP", 6

    def balance(self, address: str, height: int) -> Decimal:
        try:
            result = self.client.rpc("account_info", [{"account": address, "ledger_index": height, "strict": True}])
        except BalanceSourceError as exc:
            if "actNotFound" in str(exc) or "Account not found" in str(exc):
                return Decimal(0)
            raise
        if not isinstance(result, dict):
            raise BalanceSourceError(f"xrpl {address}: no result")
        if result.get("error") == "actNotFound":
            return Decimal(0)
        if result.get("error"):
            raise BalanceSourceError(f"xrpl {address} at ledger {height}: {result['error']}")
        if result.get("ledger_index") != height or not result.get("validated", False):
            raise BalanceSourceError(f"xrpl {address}: the server did not answer for validated ledger {height}")
        return base_units(result["account_data"]["Balance"], self.decimals, f"xrpl {address}")


class SolanaSource(_Native):
    chain, asset, decimals = "solana", "SOL", 9

    def balance(self, address: str, height: int) -> Decimal:
        result = self.client.rpc("getBalance", [address, {"commitment": "finalized", "minContextSlot": height}])
        if not isinstance(result, dict):
            raise BalanceSourceError(f"solana {address}: no result")
        slot = result.get("context", {}).get("slot")
        if slot != height:
            raise BalanceSourceError(
                f"solana {address}: the node answered at slot {slot}, the snapshot is slot {height}: "
                "Solana nodes serve balances at their current slot only"
            )
        return base_units(result["value"], self.decimals, f"solana {address}")


class NearSource(_Native):
    chain, asset, decimals = "near", "NEAR", 24

    def balance(self, address: str, height: int) -> Decimal:
        try:
            result = self.client.rpc(
                "query", {"request_type": "view_account", "block_id": height, "account_id": address}
            )
        except BalanceSourceError as exc:
            if "does not exist" in str(exc) or "UNKNOWN_ACCOUNT" in str(exc):
                return Decimal(0)
            raise
        if not isinstance(result, dict) or result.get("block_height") != height:
            raise BalanceSourceError(f"near {address}: no view_account answer at block {height}")
        # `amount` is the liquid balance; `locked` is staked by a validator and not the exchange's to move
        return base_units(result["amount"], self.decimals, f"near {address}")

    def account_keys(self, chain: str, accounts: Sequence[str], height: int) -> dict[str, frozenset[str]]:
        """Each named account's full-access keys (hex) at the block."""
        import base58

        out: dict[str, frozenset[str]] = {}
        for account in accounts:
            result = self.client.rpc(
                "query", {"request_type": "view_access_key_list", "block_id": height, "account_id": account}
            )
            keys = set()
            for entry in (result or {}).get("keys", []):
                key, permission = entry.get("public_key", ""), entry.get("access_key", {}).get("permission")
                if permission == "FullAccess" and key.startswith("ed25519:"):
                    keys.add(base58.b58decode(key[len("ed25519:") :]).hex())
            out[account] = frozenset(keys)
        return out


class AptosSource(_Native):
    chain, asset, decimals = "aptos", "APT", 8

    def balance(self, address: str, height: int) -> Decimal:
        status, body = self.client.post(
            f"/v1/view?ledger_version={height}",
            {
                "function": "0x1::coin::balance",
                "type_arguments": ["0x1::aptos_coin::AptosCoin"],
                "arguments": [address],
            },
        )
        if status != 200 or not isinstance(body, list) or len(body) != 1:
            message = body.get("message") if isinstance(body, dict) else body
            raise BalanceSourceError(f"aptos {address} at version {height}: HTTP {status}: {message}")
        return base_units(body[0], self.decimals, f"aptos {address}")

    def account_keys(self, chain: str, accounts: Sequence[str], height: int) -> dict[str, frozenset[str]]:
        """Each account's authentication key at the version, as `authkey:<hex>`: the node keeps only this
        hash of the account's current key (which differs from the address after a rotation), so the chain
        module compares SHA3-256(row's key ++ 0x00) with it."""
        out: dict[str, frozenset[str]] = {}
        for account in accounts:
            status, body = self.client.get(f"/v1/accounts/{account}?ledger_version={height}")
            if status != 200 or not isinstance(body, dict):
                raise BalanceSourceError(f"aptos {account} at version {height}: HTTP {status}")
            out[account] = frozenset({"authkey:" + str(body.get("authentication_key", "")).lower()})
        return out


class PolkadotSidecarSource(_Native):
    chain, asset, decimals = "polkadot", "DOT", 10

    def balance(self, address: str, height: int) -> Decimal:
        status, body = self.client.get(f"/accounts/{quote(address)}/balance-info?at={height}")
        if status != 200 or not isinstance(body, dict):
            message = body.get("message") if isinstance(body, dict) else body
            raise BalanceSourceError(f"polkadot {address} at block {height}: HTTP {status}: {message}")
        at = body.get("at", {}).get("height")
        if str(at) != str(height):
            raise BalanceSourceError(f"polkadot {address}: the sidecar answered at block {at}, not {height}")
        return base_units(body["free"], self.decimals, f"polkadot {address}") + base_units(
            body.get("reserved", "0"), self.decimals, f"polkadot {address}"
        )


class CardanoKoiosSource(_Native):
    chain, asset, decimals = "cardano", "ADA", 6

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        status, tip = self.client.get("/tip")
        block = tip[0].get("block_no") if status == 200 and isinstance(tip, list) and tip else None
        if block != height:
            raise BalanceSourceError(
                f"cardano: Koios is at block {block}, the snapshot is block {height}: it serves balances at its tip"
            )
        status, body = self.client.post("/address_info", {"_addresses": [a for a, _ in queries]})
        if status != 200 or not isinstance(body, list):
            raise BalanceSourceError(f"cardano: address_info: HTTP {status}")
        found = {str(entry.get("address")): entry.get("balance", "0") for entry in body if isinstance(entry, dict)}
        return {(a, asset): base_units(found.get(a, "0"), self.decimals, f"cardano {a}") for a, asset in queries}


class TonCenterSource(_Native):
    chain, asset, decimals = "ton", "TON", 9

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        status, info = self.client.get("/masterchainInfo")
        seqno = info.get("last", {}).get("seqno") if status == 200 and isinstance(info, dict) else None
        if seqno != height:
            raise BalanceSourceError(
                f"ton: toncenter is at masterchain block {seqno}, the snapshot is {height}: it serves current state"
            )
        return super().balances(chain, queries, height)

    def balance(self, address: str, height: int) -> Decimal:
        status, body = self.client.get(f"/account?address={quote(address)}")
        if status == 404:
            return Decimal(0)  # never deployed nor funded
        if status != 200 or not isinstance(body, dict):
            raise BalanceSourceError(f"ton {address}: HTTP {status}")
        return base_units(body.get("balance", "0"), self.decimals, f"ton {address}")


class TronSource(_Native):
    chain, asset, decimals = "tron", "TRX", 6

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        status, block = self.client.post("/wallet/getnowblock", {})
        number = (
            block.get("block_header", {}).get("raw_data", {}).get("number")
            if status == 200 and isinstance(block, dict)
            else None
        )
        if number != height:
            raise BalanceSourceError(
                f"tron: the node is at block {number}, the snapshot is block {height}: it serves current state"
            )
        return super().balances(chain, queries, height)

    def balance(self, address: str, height: int) -> Decimal:
        status, body = self.client.post("/wallet/getaccount", {"address": address, "visible": True})
        if status != 200 or not isinstance(body, dict):
            raise BalanceSourceError(f"tron {address}: HTTP {status}")
        return base_units(body.get("balance", 0), self.decimals, f"tron {address}")  # {} for an unknown account


class UtxoForkSource:
    """Dogecoin / Litecoin / Bitcoin Cash node: one `scantxoutset` for all the chain's addresses."""

    def __init__(self, chain: str, client: HttpJson) -> None:
        from bastion.por.reserves.chains import bitcoincash, dogecoin, litecoin

        coins = {c.chain: c for c in (dogecoin.COIN, litecoin.COIN, bitcoincash.COIN)}
        self.coin: Coin = coins[chain]
        self.client = client
        self.name = f"{chain}-node"

    def handles(self, chain: str, asset: str) -> bool:
        return chain == self.coin.chain and asset == self.coin.asset

    def balances(self, chain: str, queries: Sequence[tuple[str, str]], height: int) -> dict[tuple[str, str], Decimal]:
        by_script = {script_of(self.coin, a).hex(): a for a, _ in queries}
        result = self.client.rpc("scantxoutset", ["start", [f"addr({a})" for a, _ in queries]])
        if not isinstance(result, dict) or not result.get("success", False):
            raise BalanceSourceError(f"{chain}: scantxoutset did not succeed")
        if result.get("height") != height:
            raise BalanceSourceError(
                f"{chain}: the node's UTXO set is at height {result.get('height')}, the snapshot is at {height}"
            )
        return scanned_balances(chain, result, by_script, queries)


SOURCES: dict[str, Callable[[HttpJson], Any]] = {
    "xrpl": XrplSource,
    "solana": SolanaSource,
    "near": NearSource,
    "aptos": AptosSource,
    "polkadot": PolkadotSidecarSource,
    "cardano": CardanoKoiosSource,
    "ton": TonCenterSource,
    "tron": TronSource,
    "dogecoin": lambda c: UtxoForkSource("dogecoin", c),
    "litecoin": lambda c: UtxoForkSource("litecoin", c),
    "bitcoin-cash": lambda c: UtxoForkSource("bitcoin-cash", c),
}


def native_source(chain: str, url: str, **client: Any) -> Any:
    """The balance source of `chain` at `url`; ValueError for a chain without one."""
    if chain not in SOURCES:
        known = ", ".join(sorted(SOURCES))
        raise ValueError(f"no balance source for {chain!r} (sources exist for: {known})")
    return SOURCES[chain](HttpJson(url, **client))
