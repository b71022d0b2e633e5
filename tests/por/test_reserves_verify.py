"""Whole wallet sets: the simulator's 1,000-wallet set verifies; every kind of bad row fails, named."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bastion.por.reserves.challenge import challenge_message
from bastion.por.reserves.errors import ReservesInputError
from bastion.por.reserves.round_view import load_round, parse_round
from bastion.por.reserves.verify import read_registry, verify_wallet_set
from bastion.por.reserves.walletset import COLUMNS, read_wallet_set, write_wallet_csv
from bastion.sim.wallets import make_wallet_set


def round_json(round_id: str = "2026-11", nonce: str = "9f86d081884c7d659a2feaa0c55ad015") -> dict[str, Any]:
    return {
        "format": "bastion-round/3",
        "exchange": "Demo Exchange",
        "round_id": round_id,
        "snapshot_time": "2026-11-01T00:00:00Z",
        "nonce": nonce,
        "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
        "circuit_digest": "ignored by the reserves side",
        "assets": [
            {
                "asset": "BTC",
                "decimals": 8,
                "price_usd": "97000.5",
                "total_equity": "136211.12345678",
                "total_debt": "12.5",
                "net_liabilities": "136198.62345678",
            },
            {
                "asset": "ETH",
                "decimals": 18,
                "price_usd": "3500",
                "total_equity": "2000",
                "total_debt": "0",
                "net_liabilities": "2000",
            },
            {
                "asset": "USDT",
                "decimals": 6,
                "price_usd": "1",
                "total_equity": "9000000",
                "total_debt": "1000",
                "net_liabilities": "8999000",
            },
            {
                "asset": "USDC",
                "decimals": 6,
                "price_usd": "1",
                "total_equity": "3000000",
                "total_debt": "0",
                "net_liabilities": "3000000",
            },
        ],
    }


def write_round(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "round.json").write_text(json.dumps(data))
    return directory


@pytest.fixture(scope="module")
def big_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("big")
    rdir = write_round(base / "round", round_json())
    info = make_wallet_set(round_json(), base / "wallets.csv", seed=7, wallets_per_asset=250)
    assert info.wallets == 1000
    return rdir, base / "wallets.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_thousand_wallets_across_every_address_type_verify(big_set: tuple[Path, Path]) -> None:
    rdir, wallets = big_set
    rows = _rows(wallets)
    chains = {r["chain"] for r in rows}
    assert {"bitcoin", "ethereum", "tron"} <= chains
    btc = [r["address"] for r in rows if r["chain"] == "bitcoin"]
    assert {a[:4] for a in btc} >= {"bc1q", "bc1p"} and any(a[0] == "1" for a in btc) and any(a[0] == "3" for a in btc)
    assert any(len(a) == 62 and a.startswith("bc1q") for a in btc)  # the P2WSH multisig
    result = verify_wallet_set(load_round(rdir), read_wallet_set(wallets))
    assert result.failures == []
    assert sum(w.verified for w in result.wallets) == 1000
    rnd = load_round(rdir)
    for name, asset in rnd.assets.items():
        ratio = result.reserves[name] / asset.net_liabilities
        assert Decimal("1.02") <= ratio <= Decimal("1.08"), name
    # the reserves are exactly the sum of the file's balances
    total_btc = sum((Decimal(r["balance"]) for r in rows if r["asset"] == "BTC"), Decimal(0))
    multisig_dup = Decimal(next(r["balance"] for r in rows if len(r["pubkey_or_script"]) > 140))
    assert result.reserves["BTC"] == total_btc - multisig_dup  # two rows, one wallet


def test_shortfall_in_one_asset(tmp_path: Path) -> None:
    rnd = parse_round(round_json())
    info = make_wallet_set(round_json(), tmp_path / "w.csv", seed=3, shortfall={"USDC": Decimal("0.05")})
    result = verify_wallet_set(rnd, read_wallet_set(tmp_path / "w.csv"))
    assert result.ok
    assert result.reserves["USDC"] == Decimal("2850000") == info.reserves["USDC"]
    assert all(result.reserves[a] > rnd.assets[a].net_liabilities for a in ("BTC", "ETH", "USDT"))


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    path = tmp_path / "w.csv"
    make_wallet_set(round_json(), path, seed=11, wallets_per_asset=6)
    return path, _rows(path)


def _verify(tmp_path: Path, rows: list[dict[str, str]], **kw: Any):  # type: ignore[no-untyped-def]
    path = tmp_path / "edited.csv"
    write_wallet_csv(path, rows)
    return verify_wallet_set(parse_round(round_json()), read_wallet_set(path), **kw)


def _reasons(result) -> dict[int, str]:  # type: ignore[no-untyped-def]
    out: dict[int, str] = {}
    for f in result.failures:
        n = f.row - 1  # keyed by the data row from 1; f.row is the spreadsheet row (the header is row 1)
        out[n] = f"{out[n]}; {f.reason}" if n in out else f.reason
    return out


def test_every_bad_row_is_named(tmp_path: Path, small: tuple[Path, list[dict[str, str]]]) -> None:
    _, rows = small
    old = challenge_message(parse_round(round_json("2026-10", "0" * 32)))
    idx = {r["address"]: i for i, r in enumerate(rows)}
    eth_rows = [i for i, r in enumerate(rows) if r["chain"] == "ethereum"]
    btc_single = [i for i, r in enumerate(rows) if r["chain"] == "bitcoin" and len(r["pubkey_or_script"]) <= 66]
    tron_rows = [i for i, r in enumerate(rows) if r["chain"] == "tron"]
    edits = {
        btc_single[0]: {"message": old},  # old round's message
        btc_single[1]: {"message": "I, Demo Exchange, own this address"},  # static message
        btc_single[2]: {"pubkey_or_script": rows[btc_single[3]]["pubkey_or_script"]},  # key of another address
        eth_rows[0]: {"signature": rows[eth_rows[1]]["signature"]},  # another wallet's signature
        tron_rows[0]: {"balance": "1.1234567"},  # 7 decimals for USDT
        eth_rows[2]: {"asset": "DOGE"},  # not in the round
    }
    bad = [dict(r) for r in rows]
    for i, change in edits.items():
        bad[i].update(change)
    bad[btc_single[4]]["snapshot_height"] = "869999"
    result = _verify(tmp_path, bad)
    reasons = _reasons(result)
    assert "another round (2026-10" in reasons[btc_single[0] + 1]
    assert "static" in reasons[btc_single[1] + 1]
    assert reasons[btc_single[2] + 1] == "pubkey_or_script does not match the address"
    assert "recovers another address" in reasons[eth_rows[0] + 1]
    assert "more than 6 decimals" in reasons[tron_rows[0] + 1]
    assert "DOGE is not in the round" in reasons[eth_rows[2] + 1]
    assert "snapshot_height 869999" in reasons[btc_single[4] + 1]
    assert len(reasons) == 7 and not result.ok
    # failed wallets are left out of the reserves
    clean = _verify(tmp_path, rows)
    left_out = Decimal(rows[btc_single[0]]["balance"]) + Decimal(rows[btc_single[1]]["balance"])
    left_out += Decimal(rows[btc_single[2]]["balance"]) + Decimal(rows[btc_single[4]]["balance"])
    assert clean.reserves["BTC"] - result.reserves["BTC"] == left_out
    assert idx  # addresses are unique in the simulated set


def test_duplicate_address_counts_once_and_fails(tmp_path: Path, small: tuple[Path, list[dict[str, str]]]) -> None:
    _, rows = small
    eth = next(r for r in rows if r["chain"] == "ethereum" and r["asset"] == "ETH")
    result = _verify(tmp_path, [*rows, dict(eth)])
    assert _reasons(result) == {len(rows) + 1: f"duplicate address: also on row {rows.index(eth) + 2}"}
    assert result.reserves == _verify(tmp_path, rows).reserves
    # the same address holding another asset is not a duplicate
    usdt = dict(eth, asset="USDT", balance="5")
    assert _verify(tmp_path, [*rows, usdt]).ok
    # nor is the same key on another EVM chain
    assert _verify(tmp_path, [*rows, dict(eth, chain="arbitrum")]).ok


def test_multisig_needs_m_distinct_keys(tmp_path: Path, small: tuple[Path, list[dict[str, str]]]) -> None:
    _, rows = small
    ms = [i for i, r in enumerate(rows) if len(r["pubkey_or_script"]) > 140]
    assert len(ms) == 2
    one = [r for i, r in enumerate(rows) if i != ms[1]]
    result = _verify(tmp_path, one)
    assert "needs 2 of 3 keys to sign, 1 valid" in _reasons(result)[ms[0] + 1]
    assert result.reserves["BTC"] == _verify(tmp_path, rows).reserves["BTC"] - Decimal(rows[ms[0]]["balance"])
    twice = [dict(r) for r in rows]
    twice[ms[1]]["signature"] = rows[ms[0]]["signature"]
    reasons = _reasons(_verify(tmp_path, twice))
    assert f"same key as row {ms[0] + 2}" in reasons[ms[1] + 1]  # spreadsheet row: index + 2
    split = [dict(r) for r in rows]
    split[ms[1]]["balance"] = "1"
    assert "balance differs" in _reasons(_verify(tmp_path, split))[ms[1] + 1]


def test_registry_of_addresses_claimed_elsewhere(tmp_path: Path, small: tuple[Path, list[dict[str, str]]]) -> None:
    _, rows = small
    btc = next(r for r in rows if r["chain"] == "bitcoin")
    eth = next(r for r in rows if r["chain"] == "ethereum")
    registry = tmp_path / "registry.csv"
    btc_written = btc["address"].upper() if btc["address"].startswith("bc1") else btc["address"]
    own = next(r for r in rows if r["chain"] == "ethereum" and r is not eth)["address"]
    registry.write_text(
        "chain,address,exchange,round_id\n"
        f"bitcoin,{btc_written},Other Exchange,2026-10\n"
        f"bsc,{eth['address'].lower()},Third Exchange,\n"  # same EVM key, other chain
        f"ethereum,{own},Demo Exchange,2026-10\n"  # our own earlier publication is no conflict
    )
    reasons = _reasons(_verify(tmp_path, rows, registry=read_registry(registry)))
    assert reasons == {
        rows.index(btc) + 1: "address is claimed by 'Other Exchange' (round 2026-10) in the registry",
        rows.index(eth) + 1: "address is claimed by 'Third Exchange' in the registry",
    }
    broken = tmp_path / "broken.csv"
    broken.write_text("chain,address,exchange\nbitcoin,notanaddress,X\n")
    with pytest.raises(ReservesInputError, match=r"broken.csv: row 2, address"):
        read_registry(broken)


def test_malformed_input_names_file_row_and_field(tmp_path: Path, small: tuple[Path, list[dict[str, str]]]) -> None:
    _, rows = small
    bad = [dict(r) for r in rows[:4]]
    bad[0]["balance"] = "-5"
    bad[1]["chain"] = "dogechain"
    bad[2]["snapshot_height"] = "12a"
    bad[3]["signature"] = ""
    path = tmp_path / "bad.csv"
    write_wallet_csv(path, bad)
    with pytest.raises(ReservesInputError) as info:
        read_wallet_set(path)
    text = str(info.value)
    assert "bad.csv: row 2, balance: negative amount" in text
    assert "bad.csv: row 3, chain: unknown chain 'dogechain'" in text
    assert "bad.csv: row 4, snapshot_height" in text
    assert "bad.csv: row 5, signature: is empty" in text
    path.write_text("chain,asset,address\nbitcoin,BTC,x\n")
    with pytest.raises(ReservesInputError, match="header: missing column"):
        read_wallet_set(path)
    path.write_text(",".join(COLUMNS) + ",extra\n")
    with pytest.raises(ReservesInputError, match="unknown column"):
        read_wallet_set(path)


def test_parquet_input_matches_csv(tmp_path: Path, small: tuple[Path, list[dict[str, str]]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path, rows = small
    table = pa.table({c: [r[c] for r in rows] for c in COLUMNS})
    pq.write_table(table, tmp_path / "w.parquet")
    rnd = parse_round(round_json())
    from_parquet = verify_wallet_set(rnd, read_wallet_set(tmp_path / "w.parquet"))
    assert from_parquet.ok and from_parquet.reserves == verify_wallet_set(rnd, read_wallet_set(path)).reserves
    floats = table.set_column(COLUMNS.index("balance"), "balance", pa.array([1.5] * len(rows)))
    pq.write_table(floats, tmp_path / "f.parquet")
    with pytest.raises(ReservesInputError, match=r"f\.parquet: balance: must be a string column"):
        read_wallet_set(tmp_path / "f.parquet")


def test_round_json_errors_name_the_field(tmp_path: Path) -> None:
    data = round_json()
    data["nonce"] = "short"
    data["assets"][1]["net_liabilities"] = "1e5"
    data["format"] = "bastion-round/9"
    with pytest.raises(ReservesInputError) as info:
        load_round(write_round(tmp_path / "r", data))
    text = str(info.value)
    assert "nonce: must be 32 lowercase hex" in text
    assert "assets[1].net_liabilities: not a decimal amount" in text
    assert "format: expected 'bastion-round/3'" in text
    with pytest.raises(ReservesInputError, match="file not found"):
        load_round(tmp_path / "missing")
