"""A small but real round directory for the web page's tests, written with the reference code
(`bastion.por.format.leaves`: user ids, leaves, the SHA-256 tree and its paths), in the formats of
docs/spec/round-format.md: round.json, leaves.bin, batch proof files, users/<uid>.json, private/.

The batch proofs are placeholder bytes (the page lists and serves them; `bastion por verify` is what checks
them, and is tested with the prover). Everything else is what the prover writes.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import struct
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bastion.por.format import leaves as commit
from bastion.por.verify.user import format_units

ASSETS = [  # (name, decimals, price)
    ("BTC", 8, "97000.12"),
    ("ETH", 18, "3400.5"),
    ("USDT", 6, "1"),
]
CIRCUIT_DIGEST = "ab" * 32
NONCE = "9f86d081884c7d659a2feaa0c55ad015"


@dataclass
class WebRound:
    path: Path
    round_json: dict[str, Any]
    uids: list[str]

    def proof_path(self, uid: str) -> Path:
        return self.path / "users" / f"{uid}.json"

    def proof(self, uid: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.proof_path(uid).read_text())
        return doc


def _units(amount: Decimal, decimals: int) -> int:
    return int(amount * (10**decimals))


def make_round(out: Path, *, users: int = 24, padding: int = 5, seed: int = 7, round_id: str = "2026-11",
               reserves_shortfall: str | None = None, with_reserves: bool = True,
               snapshot_time: str = "2026-11-01T00:00:00Z") -> WebRound:
    """Write a round of `users` users (1-3 asset rows each, some with debt) plus `padding` padding leaves."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "batches").mkdir(exist_ok=True)
    (out / "users").mkdir(exist_ok=True)
    (out / "private").mkdir(exist_ok=True)

    # Each user: one block of consecutive rows, one per asset they hold.
    blocks: list[tuple[str | None, bytes, list[dict[str, Any]]]] = []
    for u in range(users):
        uid = f"u{u:06d}"
        held = sorted(rng.sample(range(len(ASSETS)), rng.randint(1, len(ASSETS))))
        rows = []
        for a in held:
            name, dec, _ = ASSETS[a]
            equity = rng.randint(1, 5 * 10**dec)
            debt = rng.randint(0, equity // 3) if rng.random() < 0.3 else 0
            rows.append({"asset_index": a, "equity_units": equity, "debt_units": debt,
                         "salt": secrets.randbelow(commit.P)})
        blocks.append((uid, secrets.token_bytes(32), rows))
    for _ in range(padding):
        blocks.append((None, secrets.token_bytes(32),
                       [{"asset_index": 0, "equity_units": 0, "debt_units": 0, "salt": secrets.randbelow(commit.P)}]))
    rng.shuffle(blocks)

    leaves: list[bytes] = []
    placed: list[tuple[str, bytes, list[dict[str, Any]], int]] = []
    for uid, user_salt, rows in blocks:
        start = len(leaves)
        if uid is None:  # padding: a random id
            words: tuple[int, ...] = tuple(secrets.randbelow(commit.P) for _ in range(4))
        else:
            words = commit.user_id(round_id, uid, user_salt)
        for idx, row in enumerate(rows):
            packed = commit.pack(row["asset_index"], idx, len(rows))
            leaf = commit.words_to_bytes(
                commit.leaf_words(words, packed, row["equity_units"], row["debt_units"], row["salt"])
            )
            leaves.append(leaf)
        if uid is not None:
            placed.append((uid, user_salt, rows, start))
    blob = b"".join(leaves)
    levels = commit.build_tree(blob)
    root = levels[-1]
    leaves_file = b"BLEAVES1" + struct.pack("<Q", len(leaves)) + blob
    (out / "leaves.bin").write_bytes(leaves_file)

    totals = {name: [0, 0] for name, _, _ in ASSETS}
    for _, _, rows, _ in placed:
        for row in rows:
            t = totals[ASSETS[row["asset_index"]][0]]
            t[0] += row["equity_units"]
            t[1] += row["debt_units"]
    proof_bytes = b"BSTK" + secrets.token_bytes(600)
    (out / "batches" / "batch-00000.proof").write_bytes(proof_bytes)
    aggregate_bytes = b"BSTK" + secrets.token_bytes(400)
    (out / "aggregate.proof").write_bytes(aggregate_bytes)

    round_json: dict[str, Any] = {
        "format": "bastion-round/3",
        "exchange": "Demo Exchange",
        "round_id": round_id,
        "snapshot_time": snapshot_time,
        "nonce": NONCE,
        "block_heights": {"bitcoin": 870000, "ethereum": 21000000},
        "prover_version": "bastion 0.1.0",
        "circuit": {"name": "bastion.por.solvency/2", "digest": CIRCUIT_DIGEST, "stark_params": {}},
        "assets": [
            {"index": i, "asset": name, "decimals": dec, "price_usd": price, "haircut": "1", "amount_bits": 50,
             "total_equity": format_units(totals[name][0], dec), "total_debt": format_units(totals[name][1], dec),
             "net_liabilities": format_units(totals[name][0] - totals[name][1], dec)}
            for i, (name, dec, price) in enumerate(ASSETS)
        ],
        "leaves": {"file": "leaves.bin", "count": len(leaves), "sha256": hashlib.sha256(leaves_file).hexdigest(),
                   "root": root.hex()},
        "batches": [{"index": 0, "file": "batches/batch-00000.proof", "leaf_start": 0, "rows": len(leaves),
                     "sha256": hashlib.sha256(proof_bytes).hexdigest(), "totals_commitment": secrets.token_hex(16)
                     + "00" * 16}],
        "aggregate": {"file": "aggregate.proof", "circuit": {"name": "bastion.por.aggregate/1", "digest": "00" * 32},
                      "sha256": hashlib.sha256(aggregate_bytes).hexdigest(), "security": {}},
    }
    (out / "round.json").write_text(json.dumps(round_json, indent=2))

    secrets_doc = {"user_salts": {uid: salt.hex() for uid, salt, _, _ in placed}}
    (out / "private" / "user-salts.json").write_text(json.dumps(secrets_doc))

    for uid, user_salt, rows, start in placed:
        proof_rows = []
        for idx, row in enumerate(rows):
            name, dec, _ = ASSETS[row["asset_index"]]
            i = start + idx
            proof_rows.append({
                "idx": idx, "count": len(rows), "asset": name, "asset_index": row["asset_index"], "decimals": dec,
                "equity": format_units(row["equity_units"], dec), "debt": format_units(row["debt_units"], dec),
                "equity_units": str(row["equity_units"]), "debt_units": str(row["debt_units"]),
                "salt": str(row["salt"]), "leaf_index": i, "leaf": leaves[i].hex(),
                "path": [h.hex() for h in commit.tree_path(levels, i)],
            })
        doc = {
            "format": "bastion-user-proof/1",
            "round": {"exchange": "Demo Exchange", "round_id": round_id, "snapshot_time": snapshot_time,
                      "leaf_root": root.hex(), "leaf_count": len(leaves), "circuit_digest": CIRCUIT_DIGEST},
            "uid": uid,
            "user_salt": user_salt.hex(),
            "rows": proof_rows,
        }
        (out / "users" / f"{uid}.json").write_text(json.dumps(doc, indent=2))

    if with_reserves:
        assets = {}
        for name, dec, _ in ASSETS:
            net = Decimal(format_units(totals[name][0] - totals[name][1], dec))
            factor = Decimal("1.05")
            if reserves_shortfall == name:
                factor = Decimal("0.95")
            reserves = (net * factor).quantize(Decimal(1).scaleb(-dec))
            assets[name] = {"reserves": format(reserves, "f"), "wallets": 2, "excluded_wallets": 0,
                            "excluded_balance": "0"}
        (out / "reserves.json").write_text(json.dumps({
            "format": "bastion-reserves/1", "exchange": "Demo Exchange", "round_id": round_id,
            "challenge": "...", "wallet_set": None, "balance_source": "file", "status": "verified",
            "assets": assets, "failures": [],
            "wallets": [{"verified": True}] * (2 * len(ASSETS)),
        }, indent=2))
    return WebRound(out, round_json, [uid for uid, _, _, _ in placed])


def _settings(tmp: Path, round_dir: Path | None, rounds_dir: Path | None = None) -> Any:
    from bastion.settings import Settings

    return Settings(
        database_url=f"sqlite:///{tmp / 'bastion.sqlite'}",
        data_dir=tmp / "data",
        secret_key="test-secret-key-0123456789abcdef0123456789",  # type: ignore[arg-type]
        keys_sweep_interval_seconds=0.0,  # the page needs no database; no background sweeps against it
        round_dir=round_dir,
        rounds_dir=rounds_dir,
    )


def serve(tmp: Path, round_dir: Path | None, rounds_dir: Path | None = None, *, migrate: bool = False) -> Any:
    """The app under uvicorn; `migrate` brings its database up first (routes that read credentials need it)."""
    from bastion.service.app import create_app
    from bastion.service.testing import ServerThread

    tmp.mkdir(parents=True, exist_ok=True)
    settings = _settings(tmp, round_dir, rounds_dir)
    if migrate:
        from bastion.db.migrate import upgrade

        upgrade(settings.database_url)
    return ServerThread(create_app(settings))


# ------------------------------------------------------------------------------------ in the browser
def open_page(page: Any, base_url: str) -> Any:
    page.goto(f"{base_url}/por/")
    page.wait_for_selector("body[data-loaded='1']")
    return page


def verify_file(page: Any, path: Path) -> str:
    """Pick `path` in the file input, wait for the verdict, return its text."""
    page.evaluate("delete document.body.dataset.verified")
    page.set_input_files("#proof-file", str(path))
    page.wait_for_selector("body[data-verified]")
    text: str = page.inner_text("#verdict")
    return text
