"""The page's JavaScript arithmetic equals the Python reference: constants, permutation, user id, leaf, tree."""

from __future__ import annotations

import random
import re
import secrets
from pathlib import Path
from typing import Any

from bastion.por.format import leaves as commit
from bastion.stark.hash import poseidon2_scalar as poseidon2_ref

STATIC = Path(__file__).resolve().parents[2] / "src" / "bastion" / "service" / "static" / "por"
P = poseidon2_ref.P


def _js_constants() -> dict[str, list[int]]:
    text = (STATIC / "poseidon2-constants.js").read_text()
    out = {}
    for name, body in re.findall(r"export const (\w+) = \[(.*?)\];", text, flags=re.S):
        out[name] = [int(h, 16) for h in re.findall(r"0x([0-9a-f]+)n", body)]
    return out


def test_shipped_constants_are_the_python_instance() -> None:
    prm = poseidon2_ref.params(8)
    js = _js_constants()
    assert js["EXTERNAL_INITIAL"] == [c for rnd in prm.external_initial for c in rnd]
    assert js["INTERNAL"] == list(prm.internal)
    assert js["EXTERNAL_FINAL"] == [c for rnd in prm.external_final for c in rnd]
    assert js["DIAG_M1"] == list(prm.diag_m1)
    assert len(js["EXTERNAL_INITIAL"]) == len(js["EXTERNAL_FINAL"]) == 32 and len(js["INTERNAL"]) == 22


def _module_page(page: Any, base_url: str) -> Any:
    page.goto(f"{base_url}/por/")
    page.wait_for_selector("body[data-loaded='1']")
    return page


def test_js_permutation_equals_python_on_random_inputs(page: Any, por_server: str) -> None:
    rng = random.Random(20261101)
    edge = [0, 1, P - 1, P - 2, 2**32, 2**63, 2**64 - 2**32]
    states = [[rng.choice(edge) for _ in range(8)] for _ in range(4)]
    states += [[rng.randrange(P) for _ in range(8)] for _ in range(60)]
    _module_page(page, por_server)
    got = page.evaluate(
        """async (states) => {
            const { permute } = await import('/por/static/poseidon2.js');
            return states.map((s) => permute(s.map(BigInt)).map(String));
        }""",
        [[str(x) for x in s] for s in states],
    )
    assert got == [[str(x) for x in poseidon2_ref.permute(s)] for s in states]


def test_js_user_id_leaf_and_tree_equal_python(page: Any, por_server: str) -> None:
    _module_page(page, por_server)
    cases = []
    for k in range(8):
        cases.append({
            "round_id": f"2026-{k:02d}", "uid": f"user-{k}-ü" if k % 2 else f"u{k}", "salt": secrets.token_hex(32),
            "asset": k % 5, "idx": k % 3, "count": 3 + k, "equity": str(secrets.randbelow(2**63)),
            "debt": str(secrets.randbelow(2**40)), "row_salt": str(secrets.randbelow(P)),
        })
    got = page.evaluate(
        """async (cases) => {
            const u = await import('/por/static/userproof.js');
            const out = [];
            for (const c of cases) {
                const id = await u.userId(c.round_id, c.uid, c.salt);
                const leaf = u.leafBytes(id, u.packed(c.asset, c.idx, c.count), BigInt(c.equity), BigInt(c.debt),
                                         BigInt(c.row_salt));
                const node = await u.leafNode(leaf);
                const inner = await u.innerNode(node, leaf);
                out.push({ id: id.map(String), leaf: u.bytesToHex(leaf), node: u.bytesToHex(node),
                           inner: u.bytesToHex(inner), depth: [1, 2, 3, 45, 64, 65].map(u.treeDepth) });
            }
            return out;
        }""",
        cases,
    )
    for c, g in zip(cases, got, strict=True):
        uid_words = commit.user_id(c["round_id"], c["uid"], bytes.fromhex(c["salt"]))
        assert g["id"] == [str(w) for w in uid_words]
        leaf = commit.words_to_bytes(commit.leaf_words(
            uid_words, commit.pack(c["asset"], c["idx"], c["count"]), int(c["equity"]), int(c["debt"]),
            int(c["row_salt"])))
        assert g["leaf"] == leaf.hex()
        assert g["node"] == commit.leaf_node(leaf).hex()
        assert g["inner"] == commit.inner_node(commit.leaf_node(leaf), leaf).hex()
        assert g["depth"] == [commit.tree_depth(n) for n in (1, 2, 3, 45, 64, 65)]
