"""The page in headless Chromium: the reserve table, and the in-browser verifier on real proof files.

Every proof file here is also checked with the Python reference (`bastion.por.verify.user`, what
`bastion por verify-user` runs): the files that verify in the browser verify with it, and the tampered ones
fail in both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web_round import WebRound, open_page, verify_file

from bastion.por.verify.user import verify_user_proof

pytestmark = pytest.mark.browser


def multi_row_user(rnd: WebRound) -> str:
    return next(u for u in rnd.uids if len(rnd.proof(u)["rows"]) >= 2)


# ------------------------------------------------------------------------------------------ the table
def test_header_and_reserve_table_match_the_round(page: Any, por_server: str, web_round: WebRound) -> None:
    open_page(page, por_server)
    rj = web_round.round_json
    assert page.inner_text("#h-exchange") == rj["exchange"]
    assert page.inner_text("#h-round-id") == rj["round_id"]
    assert page.inner_text("#h-snapshot-time") == rj["snapshot_time"]
    assert page.inner_text("#h-circuit-digest") == rj["circuit"]["digest"]
    assert page.inner_text("#h-leaf-root") == rj["leaves"]["root"]
    reserves = json.loads((web_round.path / "reserves.json").read_text())
    for asset in rj["assets"]:
        cells = page.locator(f"#reserve-table tr[data-asset='{asset['asset']}'] td").all_inner_texts()
        held = Decimal(reserves["assets"][asset["asset"]]["reserves"])
        ratio = (held / Decimal(asset["net_liabilities"]) * 100).quantize(Decimal("0.01"))
        shown = [cells[0], cells[1].replace(",", ""), cells[3]]
        assert shown == [asset["asset"], asset["net_liabilities"], f"{ratio}%"]
        assert Decimal(cells[2].replace(",", "")) == held
        usd = (Decimal(asset["net_liabilities"]) * Decimal(asset["price_usd"])).quantize(Decimal(1))
        assert cells[4] == f"${usd:,}"  # the USD value of the asset's user assets, whole dollars
        assert cells[5] == "first round"  # served alone: no previous round to compare with
    assert "FULLY RESERVED" in page.inner_text("#reserves-status")
    files = page.locator("#files a").all_inner_texts()
    assert sorted(files) == [
        "aggregate.proof", "batches/batch-00000.proof", "leaves.bin", "reserves.json", "round.json"]
    assert not page.recorded.console, page.recorded.console


def test_without_reserves_the_table_shows_liabilities_and_says_so(page: Any, bare_server: str,
                                                                 bare_round: WebRound) -> None:
    open_page(page, bare_server)
    for asset in bare_round.round_json["assets"]:
        cells = page.locator(f"#reserve-table tr[data-asset='{asset['asset']}'] td").all_inner_texts()
        shown = [cells[0], cells[1].replace(",", ""), *cells[2:4]]
        assert shown == [asset["asset"], asset["net_liabilities"], "-", "-"]
    status = page.inner_text("#reserves-status")
    assert status.startswith("Liabilities only") and "reserves.json" in status


# ---------------------------------------------------------------------------------------- the verifier
def test_a_valid_proof_verifies_and_shows_balances_leaves_and_path(
    page: Any, por_server: str, web_round: WebRound
) -> None:
    uid = multi_row_user(web_round)
    proof_file = web_round.proof_path(uid)
    proof = web_round.proof(uid)
    assert verify_user_proof(proof, web_round.round_json).ok  # the CLI's reference agrees
    open_page(page, por_server)
    assert verify_file(page, proof_file) == f"Your balances are included in round {web_round.round_json['round_id']}"
    balances = [page.locator("#balances tbody tr").nth(i).locator("td").all_inner_texts()
                for i in range(page.locator("#balances tbody tr").count())]
    assert [b[0] for b in balances] == [r["asset"] for r in proof["rows"]]
    for b, r in zip(balances, proof["rows"], strict=True):
        dec = r["decimals"]
        net = (Decimal(r["equity_units"]) - Decimal(r["debt_units"])).scaleb(-dec)
        assert [x.replace(",", "") for x in b[1:3]] == [r["equity"], r["debt"]]
        assert Decimal(b[3].replace(",", "")) == net
    # every leaf, and its path up to the published root, behind the details toggle
    assert not page.locator("#leaves").is_visible()
    page.click("#path-details summary")
    leaf_text = page.inner_text("#leaves")
    depth = len(proof["rows"][0]["path"])
    assert depth >= 5
    for r in proof["rows"]:
        assert r["leaf"] in leaf_text and all(h in leaf_text for h in r["path"])
    assert page.locator("#leaves table.path tr").count() == len(proof["rows"]) * (depth + 1)
    assert leaf_text.count(f"{web_round.round_json['leaves']['root']} = the published leaf root") == len(proof["rows"])
    assert page.locator("#checks li.ok").count() == 4 and page.locator("#checks li.bad").count() == 0


def test_every_user_proof_of_the_round_verifies(page: Any, por_server: str, web_round: WebRound) -> None:
    open_page(page, por_server)
    proofs = [web_round.proof(u) for u in web_round.uids]
    results = page.evaluate(
        """async (proofs) => {
            const { verifyUserProof } = await import('/por/static/userproof.js');
            const resp = await fetch('/por/api/round');
            const v = await resp.json();
            const served = { round_id: v.round.round_id, leaf_root: v.round.leaf_root,
                             leaf_count: v.round.leaf_count, circuit_digest: v.round.circuit_digest,
                             assets: v.assets };
            const out = [];
            for (const p of proofs) { const r = await verifyUserProof(p, served); out.push([r.ok, r.reason]); }
            return out;
        }""",
        proofs,
    )
    assert results == [[True, None]] * len(proofs)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        obj: Any = doc
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value(obj[path[-1]]) if callable(value) else value

    return edit


def _bump_amount(doc: dict[str, Any]) -> None:
    """Give the user 1 more unit, consistently in both fields: only the leaf can catch it."""
    row = doc["rows"][0]
    units = int(row["equity_units"]) + 10 ** row["decimals"]
    row["equity_units"] = str(units)
    row["equity"] = str((Decimal(units).scaleb(-row["decimals"])).normalize())
    if "E" in row["equity"]:
        row["equity"] = format(Decimal(units).scaleb(-row["decimals"]), "f")


def _flip_hex(h: str) -> str:
    return ("0" if h[0] != "0" else "1") + h[1:]


TAMPERS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "amount": (_bump_amount, "the leaf computed from your id, balances and salt"),
    "amount text only": (_set(("rows", 0, "equity"), lambda v: str(Decimal(v) + 1)), "does not equal equity_units"),
    "row salt": (_set(("rows", 0, "salt"), lambda v: str(int(v) + 1)), "the leaf computed from your id"),
    "user salt": (_set(("user_salt",), lambda v: _flip_hex(v)), "the leaf computed from your id"),
    "uid": (_set(("uid",), "u999999"), "the leaf computed from your id"),
    "path sibling": (_set(("rows", 0, "path", 2), _flip_hex), "the Merkle path from leaf"),
    "leaf index": (_set(("rows", 0, "leaf_index"), lambda v: v - 1 if v else v + 1), "the Merkle path from leaf"),
    "root": (_set(("round", "leaf_root"), _flip_hex), "the Merkle path from leaf"),
    "format": (_set(("format",), "bastion-user-proof/0"), "not a Bastion inclusion proof"),
    "path length": (_set(("rows", 0, "path"), lambda v: v[:-1]), "the path has"),
    "a row left out": (lambda d: d["rows"].pop(), "row(s) but its rows say the user has count"),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_a_tampered_proof_fails_with_its_reason(
    page: Any, por_server: str, web_round: WebRound, tmp_path: Path, name: str
) -> None:
    edit, reason = TAMPERS[name]
    doc = copy.deepcopy(web_round.proof(multi_row_user(web_round)))
    edit(doc)
    assert not verify_user_proof(doc, web_round.round_json).ok  # the CLI's reference refuses it too
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    open_page(page, por_server)
    verdict = verify_file(page, path)
    assert verdict.startswith("NOT verified: "), verdict
    assert reason in verdict, verdict
    assert page.locator("#balances tbody tr").count() == 1  # no balances shown for a failed proof
    assert "Your balances are included" not in page.inner_text("body")


def test_a_valid_proof_of_another_round_is_refused_by_the_published_root(
    page: Any, por_server: str, web_round: WebRound, other_round: WebRound
) -> None:
    """Self-consistent (it verifies against its own root), but not the root this page publishes."""
    uid = other_round.uids[0]
    assert verify_user_proof(other_round.proof(uid), other_round.round_json).ok
    assert not verify_user_proof(other_round.proof(uid), web_round.round_json).ok
    open_page(page, por_server)
    verdict = verify_file(page, other_round.proof_path(uid))
    assert verdict.startswith("NOT verified: the proof's leaf_root ")
    assert f"is not the published root {web_round.round_json['leaves']['root']}" in verdict
    assert page.locator("#checks li.ok").count() == 3  # steps 1-3 passed, step 4 refused it


def test_an_asset_label_the_leaf_does_not_bind_is_checked_against_the_round(
    page: Any, por_server: str, web_round: WebRound, tmp_path: Path
) -> None:
    """The leaf commits to asset_index, not the asset's name: a file calling BTC 'USDT' must not pass."""
    doc = copy.deepcopy(web_round.proof(multi_row_user(web_round)))
    doc["rows"][0]["asset"] = "XYZ"
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    open_page(page, por_server)
    verdict = verify_file(page, path)
    assert verdict.startswith("NOT verified: row 1: asset_index") and "the file says XYZ" in verdict


def test_not_json_fails_plainly(page: Any, por_server: str, tmp_path: Path) -> None:
    path = tmp_path / "proof.json"
    path.write_text("this is not a proof")
    open_page(page, por_server)
    assert verify_file(page, path).startswith("NOT verified: the file is not JSON")


def test_the_proof_never_leaves_the_browser(page: Any, por_server: str, web_round: WebRound) -> None:
    uid = multi_row_user(web_round)
    proof_text = web_round.proof_path(uid).read_text()
    secret = web_round.proof(uid)["user_salt"]
    outside: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(por_server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    open_page(page, por_server)
    before = len(page.recorded.requests)
    assert verify_file(page, web_round.proof_path(uid)).startswith("Your balances are included")
    # the drop zone too: a real drop event carrying the file
    page.evaluate("delete document.body.dataset.verified")
    page.evaluate(
        """(text) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], 'proof.json', { type: 'application/json' }));
            const zone = document.getElementById('drop-zone');
            zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        proof_text,
    )
    page.wait_for_selector("body[data-verified='ok']")
    assert page.locator("#balances tbody tr").count() == len(web_round.proof(uid)["rows"])
    assert outside == []
    for req in page.recorded.requests:
        assert req.method == "GET", (req.method, req.url)
        assert not req.post_data
        assert secret not in req.url and uid not in req.url
        assert req.url.startswith(por_server), req.url
    # verifying made no request at all
    assert len(page.recorded.requests) == before, [r.url for r in page.recorded.requests[before:]]


def _mutations(doc: dict[str, Any], rng: Any) -> list[dict[str, Any]]:
    """Single-field edits of a proof, some harmless (a no-op), most not."""
    out = []
    row_keys = ["equity", "debt", "equity_units", "debt_units", "salt", "leaf_index", "leaf", "idx", "count",
                "asset_index", "decimals"]
    for _ in range(40):
        d = copy.deepcopy(doc)
        r = rng.randrange(len(d["rows"]))
        key = rng.choice([*row_keys, "path", "uid", "user_salt", "leaf_root", "round_id", "noop"])
        row = d["rows"][r]
        if key == "noop":
            pass
        elif key in ("equity_units", "debt_units", "salt"):
            row[key] = str(int(row[key]) + rng.choice([1, -1 if int(row[key]) else 1, 10**6]))
        elif key in ("equity", "debt"):
            row[key] = row[key] + ("0" if "." in row[key] else ".0") if rng.random() < 0.5 else row[key] + "1"
        elif key in ("leaf_index", "idx", "count", "asset_index", "decimals"):
            row[key] = row[key] + rng.choice([1, 2]) if rng.random() < 0.7 or row[key] == 0 else row[key] - 1
        elif key == "leaf":
            row[key] = _flip_hex(row[key])
        elif key == "path":
            k = rng.randrange(len(row["path"]))
            row["path"][k] = _flip_hex(row["path"][k])
        elif key == "uid":
            d["uid"] = d["uid"] + "x"
        elif key == "user_salt":
            d["user_salt"] = _flip_hex(d["user_salt"])
        else:
            d["round"][key] = _flip_hex(d["round"][key]) if key == "leaf_root" else d["round"][key] + "-b"
        out.append(d)
    return out


def test_the_browser_and_the_python_reference_agree_on_random_edits(
    page: Any, por_server: str, web_round: WebRound
) -> None:
    import random

    rng = random.Random(88)
    docs = [m for uid in web_round.uids[:6] for m in _mutations(web_round.proof(uid), rng)]
    open_page(page, por_server)
    got = page.evaluate(
        """async (docs) => {
            const { verifyUserProof } = await import('/por/static/userproof.js');
            const v = await (await fetch('/por/api/round')).json();
            const served = { round_id: v.round.round_id, leaf_root: v.round.leaf_root,
                             leaf_count: v.round.leaf_count, circuit_digest: v.round.circuit_digest,
                             assets: v.assets };
            const out = [];
            for (const d of docs) out.push((await verifyUserProof(d, served)).ok);
            return out;
        }""",
        docs,
    )
    expected = [verify_user_proof(d, web_round.round_json).ok for d in docs]
    assert got == expected
    assert 0 < sum(expected) < len(expected)  # both kinds are in the sample


def test_a_page_without_a_round_verifies_nothing(page: Any, web_round: WebRound, tmp_path: Path) -> None:
    from web_round import serve

    with serve(tmp_path / "srv", None) as base_url:
        open_page(page, base_url)
        assert page.inner_text("#round-error").startswith("No round is published here")
        verdict = verify_file(page, web_round.proof_path(web_round.uids[0]))
        assert verdict == "NOT verified: this page serves no round to compare the proof with"
        assert page.locator("#checks li.ok").count() == 3


def test_the_same_files_verify_with_the_cli(page: Any, por_server: str, web_round: WebRound, tmp_path: Path) -> None:
    """`bastion por verify-user FILE --round DIR` accepts the file the page accepts and refuses the one it refuses."""
    import os
    import subprocess
    import sys

    cli = [sys.executable, "-c", "from bastion.cli import main; main()", "por"]
    env = {**os.environ, "COLUMNS": "400"}
    helptext = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=60, env=env).stdout
    if "verify-user" not in helptext:
        pytest.skip("`bastion por verify-user` is not registered yet (src/bastion/cli/por.py)")
    good = web_round.proof_path(multi_row_user(web_round))
    bad = tmp_path / "tampered.json"
    doc = json.loads(good.read_text())
    _bump_amount(doc)
    bad.write_text(json.dumps(doc))
    open_page(page, por_server)
    for path, ok in ((good, True), (bad, False)):
        assert verify_file(page, path).startswith("Your balances are included") is ok
        run = subprocess.run([*cli, "verify-user", str(path), "--round", str(web_round.path)],
                             capture_output=True, text=True, timeout=120, env=env)
        assert (run.returncode == 0) is ok, (path.name, run.returncode, run.stdout, run.stderr)
