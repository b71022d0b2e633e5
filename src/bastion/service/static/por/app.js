// The page: loads the published round from this service, fills the header, the reserve table and the file
// list, and verifies a dropped inclusion proof in the browser (userproof.js). Every value is put in the page
// with textContent: a proof file is data, never markup.
import { amount, signed, usd } from "./format.js";
import { verifyUserProof } from "./userproof.js";

const $ = (id) => document.getElementById(id);
let served = null; // the round the page publishes: what proofs are checked against

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el("tr", null, cls);
  for (const c of cells) {
    if (c instanceof Node) {
      const td = el("td");
      td.append(c);
      tr.append(td);
    } else {
      tr.append(el("td", c ?? "-"));
    }
  }
  return tr;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function renderRound(view) {
  const r = view.round;
  served = {
    round_id: r.round_id, leaf_root: r.leaf_root, leaf_count: r.leaf_count, circuit_digest: r.circuit_digest,
    assets: view.assets.map((a) => ({ index: a.index, asset: a.asset, decimals: a.decimals })),
  };
  document.title = `${r.exchange}: proof of reserves ${r.round_id}`;
  $("title").textContent = `${r.exchange}: proof of reserves`;
  const dl = $("round-header");
  const items = [
    ["Exchange", r.exchange, "exchange"], ["Round", r.round_id, "round-id"],
    ["Snapshot time", r.snapshot_time, "snapshot-time"], ["Circuit", r.circuit_name, "circuit-name"],
    ["Circuit digest", r.circuit_digest, "circuit-digest"], ["Leaf root (SHA-256)", r.leaf_root, "leaf-root"],
    ["Leaves", r.leaf_count, "leaf-count"], ["Users", r.users, "users"], ["Batch proofs", r.batches, "batches"],
  ];
  const hist = view.history;
  if (hist) {
    if (hist.number) items.unshift(["Round number", `No. ${hist.number}: ${hist.publication}`, "round-number"]);
    items.push(["Previous round", hist.previous_round_id ?? "none (first round)", "previous-round"]);
  }
  for (const [k, v, id] of items) {
    dl.append(el("dt", k));
    const dd = el("dd", v ?? "-");
    dd.id = `h-${id}`;
    dl.append(dd);
  }

  const tbody = $("reserve-table").querySelector("tbody");
  const change = {};
  for (const c of hist?.assets ?? []) change[c.asset] = c;
  const hasPrev = Boolean(hist?.previous_round_id);
  $("change-head").textContent = hasPrev ? `Change in user assets since ${hist.previous_round_id}` : "Change";
  for (const a of view.assets) {
    const c = change[a.asset];
    const delta = !hasPrev ? "first round" : c?.user_assets_change == null ? "new" : signed(c.user_assets_change);
    const tr = row([a.asset, amount(a.net_liabilities), amount(a.reserves), a.ratio_percent ?? "-",
      usd(a.user_assets_usd), delta], a.status === "under" ? "under" : "");
    tr.dataset.asset = a.asset;
    tbody.append(tr);
  }
  const status = $("reserves-status");
  if (view.reserves) {
    const totalChange = hasPrev ? usd(hist.totals.user_assets_usd_change, true) : "";
    tbody.append(row(["Total (USD)", usd(view.reserves.liabilities_usd), usd(view.reserves.reserves_usd),
      view.reserves.ratio_percent, usd(view.reserves.liabilities_usd), totalChange], "total"));
    status.textContent = `${view.reserves.summary} (${view.reserves.wallets_verified} wallets verified)`;
    status.className = view.reserves.status === "ok" ? "ok" : "bad";
  } else {
    status.textContent = `Liabilities only: ${view.reserves_missing}.`;
    status.className = "note";
  }

  const files = $("files").querySelector("tbody");
  for (const f of view.files) {
    const a = el("a", f.name);
    a.href = f.url;
    a.setAttribute("download", f.name.split("/").pop());
    const tr = row([a, bytes(f.size), f.sha256 ?? "-"]);
    tr.lastChild.className = "hash";
    files.append(tr);
  }
}

// ?round=ID shows that round of the published history; without it, the newest.
const wanted = new URLSearchParams(location.search).get("round");

async function loadRound() {
  try {
    const url = wanted ? `/por/api/rounds/${encodeURIComponent(wanted)}` : "/por/api/round";
    const resp = await fetch(url, { credentials: "omit" });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      throw new Error(body.message || body.detail || `HTTP ${resp.status}`);
    }
    renderRound(await resp.json());
  } catch (err) {
    const e = $("round-error");
    e.textContent = `No round is published here: ${err.message}`;
    e.hidden = false;
  }
  document.body.dataset.loaded = "1";
}

// --------------------------------------------------------------------------------------- the verifier
function showResult(result) {
  const verdict = $("verdict");
  verdict.hidden = false;
  if (result.ok) {
    verdict.textContent = `Your balances are included in round ${result.roundId}`;
    verdict.className = "verdict ok";
  } else {
    verdict.textContent = `NOT verified: ${result.reason}`;
    verdict.className = "verdict bad";
  }
  verdict.dataset.ok = result.ok ? "1" : "0";

  const detail = $("verify-detail");
  detail.hidden = false;
  const balances = $("balances").querySelector("tbody");
  balances.replaceChildren();
  for (const b of result.balances) balances.append(row([b.asset, b.equity, b.debt, b.net]));
  if (!result.ok) balances.append(row(["(not shown: the proof did not verify)", "", "", ""]));

  const checks = $("checks");
  checks.replaceChildren();
  for (const s of result.steps) checks.append(el("li", `✓ ${s.text}`, "ok"));
  if (!result.ok) checks.append(el("li", `✗ ${result.reason}`, "bad"));

  const leaves = $("leaves");
  leaves.replaceChildren();
  for (const r of result.rows) {
    const box = el("div", null, "leaf");
    box.append(el("p", `${r.asset} (asset ${r.asset_index}), row ${r.idx + 1} of ${r.count}: equity ${r.equity}, ` +
      `debt ${r.debt}; leaf #${r.leafIndex}`));
    const leafLine = el("p");
    leafLine.append("leaf ", el("code", r.leaf, "hash"));
    box.append(leafLine);
    if (r.path.length) {
      const t = el("table", null, "path");
      const head = el("tr");
      for (const h of ["Level", "Your node is", "Sibling", "Parent"]) head.append(el("th", h));
      t.append(head);
      for (const p of r.path) {
        const tr = row([p.level, `the ${p.side} child`, p.sibling, p.node]);
        tr.children[2].className = "hash";
        tr.children[3].className = "hash";
        t.append(tr);
      }
      box.append(t);
    }
    if (r.root) {
      const match = served && r.root === served.leaf_root;
      const rl = el("p", null, match ? "ok" : "bad");
      rl.append("root ", el("code", r.root, "hash"),
        match ? " = the published leaf root" : " (not the published leaf root)");
      box.append(rl);
    }
    leaves.append(box);
  }
}

async function verifyFile(file) {
  let result;
  if (file.size > 16 * 1024 * 1024) {
    result = { ok: false, reason: "the file is larger than 16 MiB: not an inclusion proof", steps: [], rows: [], balances: [] };
  } else {
    let proof;
    try {
      proof = JSON.parse(await file.text());
    } catch (err) {
      proof = undefined;
      result = { ok: false, reason: `the file is not JSON (${err.message})`, steps: [], rows: [], balances: [] };
    }
    if (proof !== undefined) result = await verifyUserProof(proof, served);
  }
  showResult(result);
  document.body.dataset.verified = result.ok ? "ok" : "failed";
}

function setUpVerifier() {
  const input = $("proof-file");
  const zone = $("drop-zone");
  input.addEventListener("change", () => {
    if (input.files.length) verifyFile(input.files[0]);
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) verifyFile(e.dataTransfer.files[0]);
  });
}

setUpVerifier();
loadRound();
