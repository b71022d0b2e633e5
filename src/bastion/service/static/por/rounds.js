// The rounds index: every published round (GET /por/api/rounds), numbered, with totals, ratio, the change
// since the previous round, and the trend per asset. Every value goes in with textContent.
import { amount, usd } from "./format.js";

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function render(h) {
  const tbody = $("rounds").querySelector("tbody");
  const newest = h.rounds[h.rounds.length - 1];
  if (newest) {
    document.title = `${newest.exchange}: proof of reserves, every round`;
    $("title").textContent = `${newest.exchange}: proof of reserves, every round`;
    $("rounds-lead").textContent = newest.publication
      ? `${h.count} rounds published. The newest, ${newest.id}, is ${newest.publication}.`
      : `${h.count} round published.`;
  } else {
    $("rounds-lead").textContent = "No round has been published yet.";
  }
  for (const r of [...h.rounds].reverse()) {
    const tr = el("tr", null, r.status === "not_fully_reserved" ? "under" : "");
    tr.dataset.round = r.id;
    tr.append(el("td", r.number ?? "-"));
    const link = el("a", r.id);
    link.href = `/por/?round=${encodeURIComponent(r.id)}`;
    const td = el("td");
    td.append(link);
    tr.append(td, el("td", r.snapshot_time), el("td", usd(r.totals.user_assets_usd)),
      el("td", usd(r.totals.wallet_assets_usd)), el("td", r.totals.ratio_percent ?? "-"),
      el("td", r.previous_round_id ? usd(r.totals.user_assets_usd_change, true) : "first round"),
      el("td", r.summary));
    tbody.append(tr);
  }

  const head = $("trend").querySelector("thead tr");
  for (const r of h.rounds) head.append(el("th", r.number ? `No. ${r.number} (${r.id})` : r.id));
  const body = $("trend").querySelector("tbody");
  for (const [asset, points] of Object.entries(h.trend)) {
    const tr = el("tr");
    tr.dataset.asset = asset;
    tr.append(el("td", asset));
    let prev = null;
    for (const p of points) {
      const cell = el("td");
      cell.dataset.round = p.round_id;
      const ratio = p.ratio === null ? null : Number(p.ratio);
      const pct = ratio === null ? "-" : `${(ratio * 100).toFixed(2)}%`;
      const arrow = ratio === null || prev === null ? "" : ratio > prev ? " ▲" : ratio < prev ? " ▼" : " =";
      const top = el("div", pct + arrow, ratio !== null && ratio < 1 ? "bad" : "");
      top.className += " ratio";
      cell.append(top, el("div", p.user_assets === null ? "not listed" : amount(p.user_assets), "note"));
      if (ratio !== null) prev = ratio;
      tr.append(cell);
    }
    body.append(tr);
  }
}

async function load() {
  try {
    const resp = await fetch("/por/api/rounds", { credentials: "omit" });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      throw new Error(body.message || body.detail || `HTTP ${resp.status}`);
    }
    render(await resp.json());
  } catch (err) {
    const e = $("rounds-error");
    e.textContent = `No rounds are published here: ${err.message}`;
    e.hidden = false;
  }
  document.body.dataset.loaded = "1";
}

load();
