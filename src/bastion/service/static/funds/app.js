// The funds page: everything is read from this service's public routes and written with textContent (never
// innerHTML), so nothing the ledger or an operator's words contain can run as markup.
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function row(cells, classes = []) {
  const tr = el("tr");
  cells.forEach((c, i) => tr.append(el("td", classes[i] ? { class: classes[i] } : {}, c)));
  return tr;
}

function grouped(text) {
  // "1234567.5" -> "1,234,567.5": decimal strings, never through floating point
  if (text === null || text === undefined) return "n/a";
  const [int, frac] = String(text).split(".");
  const sign = int.startsWith("-") ? "-" : "";
  const digits = int.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + digits + (frac ? "." + frac : "");
}

function usd(text) {
  if (text === null || text === undefined) return "n/a";
  const [int, frac = ""] = String(text).split(".");
  return "$" + grouped(int) + "." + (frac + "00").slice(0, 2);
}

function pct(text) {
  return text === null || text === undefined ? "n/a" : (Number(text) * 100).toFixed(1) + "%";
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function renderFund(fund) {
  document.getElementById("total-usd").textContent = usd(fund.total_usd);
  document.getElementById("total-note").textContent = fund.round
    ? `at the prices of round ${fund.round.round_id}`
    : "no proof-of-reserves round recorded yet: no USD value";
  const body = document.querySelector("#balances tbody");
  for (const b of fund.balances) body.append(row([b.ccy, grouped(b.balance), grouped(b.price_usd), usd(b.usd)]));
  const status = document.getElementById("wallets-status");
  if (!fund.round) {
    status.textContent = "No round recorded yet.";
    return;
  }
  const r = fund.round;
  const verified = r.wallets.filter((w) => w.verified).length;
  status.textContent = `Round ${r.round_id} (snapshot ${r.snapshot_time}): ${verified} of ${r.wallets.length} wallets verified; ` +
    (fund.wallets_cover_ledger ? "the verified wallets hold at least the ledger's balance." : "the verified wallets do NOT cover the ledger's balance.");
  status.className = fund.wallets_cover_ledger ? "ok" : "bad";
  const wallets = document.querySelector("#wallets tbody");
  for (const w of r.wallets) {
    const tr = row([w.chain, w.asset, w.address, grouped(w.balance), w.verified ? `verified (${w.scheme})` : "FAILED"], [null, null, "addr"]);
    tr.lastChild.className = w.verified ? "ok" : "bad";
    tr.dataset.verified = String(w.verified);
    wallets.append(tr);
  }
  const failures = document.getElementById("wallet-failures");
  for (const f of r.failures) failures.append(el("li", {}, `row ${f.row}: ${f.chain} ${f.asset} ${f.address}: ${f.reason}`));
  document.getElementById("challenge").textContent = r.challenge;
  const history = document.querySelector("#history tbody");
  for (const h of fund.history) history.append(row([h.round_id, h.snapshot_time, usd(h.ledger_usd), usd(h.wallets_usd), h.status]));
  document.getElementById("history-chart").append(chart(fund.history));
}

function chart(history) {
  const width = 640, height = 180, left = 70, bottom = 30, top = 10;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("width", "100%");
  const title = document.createElementNS(SVG, "title");
  title.textContent = "Fund size in USD at each round's prices";
  svg.append(title);
  const values = history.map((h) => Number(h.ledger_usd));
  const max = Math.max(1, ...values);
  const step = history.length > 1 ? (width - left - 10) / (history.length - 1) : 0;
  const points = values.map((v, i) => [left + i * step, top + (height - top - bottom) * (1 - v / max)]);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.map((p) => p.join(",")).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#1f4e8c");
  line.setAttribute("stroke-width", "2");
  svg.append(line);
  history.forEach((h, i) => {
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", String(points[i][0]));
    label.setAttribute("y", String(height - 8));
    label.setAttribute("font-size", "11");
    label.setAttribute("text-anchor", "middle");
    label.textContent = h.round_id;
    svg.append(label);
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", String(points[i][0]));
    dot.setAttribute("cy", String(points[i][1]));
    dot.setAttribute("r", "3");
    dot.setAttribute("fill", "#1f4e8c");
    svg.append(dot);
  });
  return svg;
}

function renderDisclosures(data) {
  const root = document.getElementById("disclosures");
  for (const d of data.funds) {
    const box = el("div", { class: "fund", id: `disclosure-${d.fund}` });
    box.append(el("h3", {}, d.title + (d.defaults ? " (default wording)" : ` (version ${d.version})`)));
    const words = el("dl", { class: "words" });
    for (const [label, text] of [["Purpose", d.purpose], ["Structure", d.structure], ["Used when", d.triggers]]) {
      words.append(el("dt", {}, label), el("dd", {}, text));
    }
    box.append(words);
    const table = el("table", { class: "sources" });
    const head = el("thead");
    head.append(row(["Funding source", "Amounts", "USD", "Share"]));
    table.append(head);
    const body = el("tbody");
    for (const s of d.funding_sources) {
      const amounts = Object.entries(s.by_ccy).map(([c, a]) => `${grouped(a)} ${c}`).join(", ");
      body.append(row([s.source, amounts, usd(s.usd), pct(s.share)]));
    }
    table.append(body);
    box.append(table);
    const usage = el("ul", { class: "usage" });
    for (const [k, v] of Object.entries(d.usage)) {
      const value = typeof v === "object" && v !== null ? Object.entries(v).map(([a, b]) => `${a}: ${b}`).join(", ") || "none" : String(v);
      usage.append(el("li", {}, `${k.replaceAll("_", " ")}: ${value}`));
    }
    box.append(el("h4", {}, "Usage"), usage);
    if (d.disclaimers.length) {
      const list = el("ul", { class: "disclaimers" });
      for (const x of d.disclaimers) list.append(el("li", {}, x));
      box.append(el("h4", {}, "Disclaimers"), list);
    }
    root.append(box);
  }
}

async function main() {
  try {
    const [fund, disclosures] = await Promise.all([
      getJson("/v1/public/protection-fund"),
      getJson("/v1/public/funds/disclosures"),
    ]);
    renderFund(fund);
    renderDisclosures(disclosures);
    document.body.dataset.ready = "true";
  } catch (err) {
    const box = document.getElementById("load-error");
    box.hidden = false;
    box.textContent = `Could not load the funds: ${err.message}`;
    document.body.dataset.ready = "error";
  }
}

main();
