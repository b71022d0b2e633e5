"""Native chains' balance sources against a local stand-in node (the one mock allowed: no node is reachable).

The stand-in speaks each API's wire format: rippled `account_info`, Solana `getBalance` (with the context
slot), NEAR `query` (`view_account`, `view_access_key_list`), Aptos REST (`/v1/view`, `/v1/accounts`),
Substrate API Sidecar `balance-info`, and `scantxoutset` for Dogecoin / Litecoin / Bitcoin Cash; it can
answer 429 / 503 first, to exercise the retries.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from nacl.signing import SigningKey

from bastion.cli._demo_month import DEMO_HEIGHTS
from bastion.por.reserves.chains import NATIVE_CHAINS
from bastion.por.reserves.chains.signed_message import script_of
from bastion.por.reserves.challenge import challenge_message
from bastion.por.reserves.native_sources import SOURCES, HttpJson, native_source
from bastion.por.reserves.round_view import parse_round
from bastion.por.reserves.verify import BalanceSourceError, normalize_address, verify_wallet_set
from bastion.por.reserves.walletset import read_wallet_set, write_wallet_csv
from bastion.sim.liabilities import REAL_ASSETS
from bastion.sim.native_wallets import ROUND_SIGNERS
from bastion.sim.wallets import make_wallet_set

CHAIN_DECIMALS = {"xrpl": 6, "solana": 9, "near": 24, "aptos": 8, "polkadot": 10, "cardano": 6, "ton": 9}
ROUND = {
    "format": "bastion-round/3",
    "exchange": "Demo Exchange",
    "round_id": "2026-11",
    "snapshot_time": "2026-11-01T00:00:00Z",
    "nonce": "ab" * 16,
    "block_heights": DEMO_HEIGHTS,
    "assets": [
        {"asset": a, "decimals": d, "price_usd": p, "total_equity": "900", "total_debt": "0", "net_liabilities": "900"}
        for a, p, d, _ in REAL_ASSETS[:22]
    ],
}


class Chains:
    """What the stand-in serves: balances (decimal text in the asset's units) by (chain, address)."""

    def __init__(self) -> None:
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.near_keys: dict[str, list[str]] = {}  # account -> ed25519:<base58> full-access keys
        self.aptos_auth: dict[str, str] = {}  # account -> authentication key, when rotated
        self.solana_slot = DEMO_HEIGHTS["solana"]
        self.cardano_tip = DEMO_HEIGHTS["cardano"]
        self.ton_seqno = DEMO_HEIGHTS["ton"]
        self.tron_block = DEMO_HEIGHTS["tron"]
        self.fail_first: dict[str, list[int]] = {}  # chain -> statuses to answer before the real one
        self.requests: list[str] = []


def _units(value: Decimal, decimals: int) -> str:
    return str(int(value.scaleb(decimals)))


def _handler(state: Chains) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chain(self) -> tuple[str, str, dict[str, list[str]]]:
            url = urlsplit(self.path)
            chain, _, rest = url.path.lstrip("/").partition("/")
            return chain, "/" + rest, parse_qs(url.query)

        def _failing(self, chain: str) -> bool:
            state.requests.append(chain)
            queue = state.fail_first.get(chain)
            if queue:
                status = queue.pop(0)
                self._send(status, {"error": "busy"}, {"Retry-After": "0"} if status == 429 else None)
                return True
            return False

        def do_GET(self) -> None:
            chain, path, query = self._chain()
            if self._failing(chain):
                return
            at = int(query.get("at", query.get("ledger_version", ["0"]))[0])
            if chain == "polkadot" and path.endswith("/balance-info"):
                address = path.split("/")[2]
                free = state.balances.get((chain, address), Decimal(0))
                body = {"at": {"height": str(at)}, "free": _units(free, 10), "reserved": "0", "locks": []}
                return self._send(200, body)
            if chain == "cardano" and path == "/tip":
                return self._send(200, [{"block_no": state.cardano_tip, "epoch_no": 560}])
            if chain == "ton" and path == "/masterchainInfo":
                return self._send(200, {"last": {"seqno": state.ton_seqno, "workchain": -1}})
            if chain == "ton" and path == "/account":
                address = query["address"][0]
                if (chain, address) not in state.balances:
                    return self._send(404, {"error": "account not found"})
                return self._send(200, {"balance": _units(state.balances[(chain, address)], 9), "status": "active"})
            if chain == "aptos" and path.startswith("/v1/accounts/"):
                account = path.split("/")[3]
                return self._send(
                    200, {"sequence_number": "7", "authentication_key": state.aptos_auth.get(account, account)}
                )
            self._send(404, {"message": "not found"})

        def do_POST(self) -> None:
            chain, path, query = self._chain()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self._failing(chain):
                return
            if chain == "tron" and path == "/wallet/getnowblock":
                return self._send(200, {"blockID": "00", "block_header": {"raw_data": {"number": state.tron_block}}})
            if chain == "tron" and path == "/wallet/getaccount":
                found = state.balances.get((chain, body["address"]))
                return self._send(
                    200, {} if found is None else {"address": body["address"], "balance": int(_units(found, 6))}
                )
            if chain == "cardano":
                answer = [
                    {"address": a, "balance": _units(state.balances[(chain, a)], 6), "utxo_set": []}
                    for a in body["_addresses"]
                    if (chain, a) in state.balances
                ]
                return self._send(200, answer)
            if chain == "aptos":
                address = body["arguments"][0]
                height = int(query["ledger_version"][0])
                assert height == DEMO_HEIGHTS["aptos"]
                return self._send(200, [_units(state.balances.get((chain, address), Decimal(0)), 8)])
            method, params, rid = body["method"], body["params"], body["id"]
            result: Any = None
            if method == "account_info":
                address = params[0]["account"]
                if (chain, address) not in state.balances:
                    return self._send(200, {"result": {"error": "actNotFound", "status": "error"}, "id": rid})
                result = {
                    "account_data": {"Account": address, "Balance": _units(state.balances[(chain, address)], 6)},
                    "ledger_index": params[0]["ledger_index"],
                    "validated": True,
                }
            elif method == "getBalance":
                value = state.balances.get((chain, params[0]), Decimal(0))
                result = {"context": {"slot": state.solana_slot}, "value": int(_units(value, 9))}
            elif method == "query" and params["request_type"] == "view_account":
                account = params["account_id"]
                amount = _units(state.balances.get((chain, account), Decimal(0)), 24)
                result = {"amount": amount, "locked": "0", "block_height": params["block_id"]}
            elif method == "query" and params["request_type"] == "view_access_key_list":
                keys = state.near_keys.get(params["account_id"], [])
                result = {
                    "keys": [{"public_key": k, "access_key": {"nonce": 1, "permission": "FullAccess"}} for k in keys]
                    + [
                        {
                            "public_key": "ed25519:11111111111111111111111111111111",
                            "access_key": {"permission": {"FunctionCall": {}}},
                        }
                    ],
                    "block_height": params["block_id"],
                }
            elif method == "scantxoutset":
                coin = SOURCES[chain](HttpJson("http://unused")).coin
                unspents = []
                for desc in params[1]:
                    address = desc[5:-1]
                    amount = state.balances.get((chain, NATIVE_CHAINS[chain].normalize(address)))
                    if amount is not None:
                        unspents.append(
                            {
                                "scriptPubKey": script_of(coin, address).hex(),
                                "amount": float(amount) if False else str(amount),
                            }
                        )
                result = {"success": True, "height": DEMO_HEIGHTS[chain], "unspents": unspents}
            self._send(200, {"jsonrpc": "2.0", "id": rid, "result": result})

    return Handler


@pytest.fixture
def node() -> Iterator[tuple[str, Chains]]:
    state = Chains()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def wallets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("native") / "wallets.csv"
    make_wallet_set(ROUND, path, seed=11, wallets_per_asset=3)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _sources(base: str) -> list[Any]:
    return [native_source(chain, f"{base}/{chain}", backoff=0.001) for chain in SOURCES]


def _load(state: Chains, rows: list[dict[str, str]]) -> None:
    for r in rows:
        if r["chain"] in SOURCES and (r["chain"] != "tron" or r["asset"] == "TRX"):
            state.balances[(r["chain"], normalize_address(r["chain"], r["address"]))] = Decimal(r["balance"])


def test_balances_from_every_native_node_agree(node: tuple[str, Chains], wallets: Path) -> None:
    base, state = node
    rows = _rows(wallets)
    _load(state, rows)
    result = verify_wallet_set(parse_round(ROUND), read_wallet_set(wallets), sources=_sources(base))
    assert result.ok, result.failures
    assert set(result.balance_source.split("+")) == {"file"} | {f"{c}-node" for c in SOURCES}
    assert set(state.requests) == set(SOURCES)


def test_a_balance_the_node_disagrees_with_fails_its_row(node: tuple[str, Chains], wallets: Path) -> None:
    base, state = node
    rows = _rows(wallets)
    _load(state, rows)
    changed = {}
    for chain in SOURCES:
        i = next(i for i, r in enumerate(rows) if r["chain"] == chain and (chain != "tron" or r["asset"] == "TRX"))
        key = (chain, normalize_address(chain, rows[i]["address"]))
        state.balances[key] -= Decimal("0.000001")
        changed[i + 2] = chain  # spreadsheet row
    result = verify_wallet_set(parse_round(ROUND), read_wallet_set(wallets), sources=_sources(base))
    reasons = {f.row: f.reason for f in result.failures}
    assert set(reasons) == set(changed)
    for reason in reasons.values():
        assert "differs from the node's" in reason
    assert not result.ok


def test_429_and_5xx_are_retried_then_given_up(node: tuple[str, Chains], wallets: Path) -> None:
    base, state = node
    _load(state, _rows(wallets))
    state.fail_first = {"xrpl": [429, 503], "aptos": [502], "polkadot": [429], "dogecoin": [500]}
    sources = _sources(base)
    result = verify_wallet_set(parse_round(ROUND), read_wallet_set(wallets), sources=sources)
    assert result.ok
    retried = {s.name: s.client.retries for s in sources}
    assert retried["xrpl-node"] == 2 and retried["aptos-node"] == 1 and retried["polkadot-node"] == 1
    assert retried["dogecoin-node"] == 1 and retried["solana-node"] == 0
    state.fail_first = {"near": [503] * 10}
    with pytest.raises(BalanceSourceError, match="HTTP 503 \\(after 5 attempts\\)"):
        verify_wallet_set(parse_round(ROUND), read_wallet_set(wallets), sources=_sources(base))


def test_backoff_doubles_and_honours_retry_after(node: tuple[str, Chains]) -> None:
    base, state = node
    waits: list[float] = []
    client = HttpJson(f"{base}/solana", backoff=0.5, sleep=waits.append)
    state.fail_first = {"solana": [503, 503, 429]}
    client.rpc("getBalance", ["x", {}])
    assert waits == [0.5, 1.0, 2.0]  # Retry-After: 0 never shortens the backoff


@pytest.mark.parametrize(
    ("moved", "message"),
    [
        ("solana_slot", r"answered at slot .* the snapshot is slot"),
        ("cardano_tip", r"Koios is at block .* it serves balances at its tip"),
        ("ton_seqno", r"toncenter is at masterchain block .* it serves current state"),
        ("tron_block", r"tron: the node is at block .* it serves current state"),
    ],
)
def test_nodes_that_only_know_their_tip_must_be_at_the_snapshot(
    node: tuple[str, Chains], wallets: Path, moved: str, message: str
) -> None:
    base, state = node
    _load(state, _rows(wallets))
    setattr(state, moved, getattr(state, moved) + 5)
    with pytest.raises(BalanceSourceError, match=message):
        verify_wallet_set(parse_round(ROUND), read_wallet_set(wallets), sources=_sources(base))


def _near_named_row(secret: bytes, account: str) -> dict[str, str]:
    message = challenge_message(parse_round(ROUND))
    _, signature, key = ROUND_SIGNERS["near"](secret, message, ROUND["exchange"], ROUND["nonce"])
    return {
        "chain": "near", "asset": "NEAR", "address": account, "balance": "12.5",
        "snapshot_height": str(DEMO_HEIGHTS["near"]), "message": message, "signature": signature,
        "pubkey_or_script": key,
    }  # fmt: skip


def test_near_named_account_keys_come_from_the_node(node: tuple[str, Chains], tmp_path: Path) -> None:
    base, state = node
    row = _near_named_row(b"\x21" * 32, "reserves.demo-exchange.near")
    path = tmp_path / "near.csv"
    write_wallet_csv(path, [row])
    state.balances[("near", "reserves.demo-exchange.near")] = Decimal("12.5")
    rnd = parse_round(ROUND)
    without = verify_wallet_set(rnd, read_wallet_set(path))
    assert without.failures[0].row == 2 and "--node near=URL" in without.failures[0].reason
    state.near_keys["reserves.demo-exchange.near"] = [row["pubkey_or_script"]]
    assert verify_wallet_set(rnd, read_wallet_set(path), sources=_sources(base)).ok
    state.near_keys["reserves.demo-exchange.near"] = ["ed25519:" + "2" * 44]  # the key was removed
    refused = verify_wallet_set(rnd, read_wallet_set(path), sources=_sources(base))
    assert refused.failures[0].reason == "pubkey_or_script: is not a full-access key of the account at the snapshot"


def test_aptos_rotated_key_is_followed_through_the_node(node: tuple[str, Chains], tmp_path: Path) -> None:
    from bastion.por.reserves.chains import aptos

    base, state = node
    message = challenge_message(parse_round(ROUND))
    original = SigningKey(b"\x31" * 32)
    account = aptos.authentication_key(bytes(original.verify_key))
    rotated_to = b"\x32" * 32
    _, signature, key = ROUND_SIGNERS["aptos"](rotated_to, message, ROUND["exchange"], ROUND["nonce"])
    reply = json.loads(signature)
    reply["fullMessage"] = reply["fullMessage"].replace(aptos.authentication_key(bytes.fromhex(key)), account)
    reply["signature"] = SigningKey(rotated_to).sign(reply["fullMessage"].encode()).signature.hex()
    height = str(DEMO_HEIGHTS["aptos"])
    row = {
        "chain": "aptos", "asset": "APT", "address": account, "balance": "3", "snapshot_height": height,
        "message": message, "signature": json.dumps(reply), "pubkey_or_script": key,
    }  # fmt: skip
    path = tmp_path / "aptos.csv"
    write_wallet_csv(path, [row])
    rnd = parse_round(ROUND)
    assert "is not the key of this address" in verify_wallet_set(rnd, read_wallet_set(path)).failures[0].reason
    state.balances[("aptos", account)] = Decimal(3)
    state.aptos_auth[account] = aptos.authentication_key(bytes.fromhex(key))
    assert verify_wallet_set(rnd, read_wallet_set(path), sources=_sources(base)).ok
    assert hashlib.sha3_256(bytes.fromhex(key) + b"\x00").hexdigest() == state.aptos_auth[account][2:]


def test_cli_node_option_names_the_bad_chain_and_runs_the_sources(
    node: tuple[str, Chains], wallets: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from bastion.cli import app

    base, state = node
    _load(state, _rows(wallets))
    round_dir = tmp_path / "round"
    round_dir.mkdir()
    (round_dir / "round.json").write_text(json.dumps(ROUND))
    runner = CliRunner()
    bad = runner.invoke(
        app, ["por", "reserves", "verify", str(wallets), "--round", str(round_dir), "--node", "tezos=http://x"]
    )
    assert bad.exit_code == 2 and "no balance source for 'tezos'" in bad.output
    args = [f"--node={chain}={base}/{chain}" for chain in ("xrpl", "near", "ton")]
    ok = runner.invoke(app, ["por", "reserves", "verify", str(wallets), "--round", str(round_dir), *args])
    assert ok.exit_code == 0, ok.output
    assert (
        json.loads((round_dir / "reserves.json").read_text())["balance_source"] == "file+xrpl-node+near-node+ton-node"
    )
