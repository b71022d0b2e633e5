// The account security page: the user's checklist, devices (remove one, or all others), allowlist (add,
// remove) and the freeze button, over the /v1/account/* user routes with the user's session.
//
// The session reaches the page in the URL fragment (#session=...), which browsers never send to a server;
// the page keeps it in this tab's sessionStorage only and takes it out of the address bar at once. A token
// can also be pasted (development: `bastion users token --uid U`). Everything the service sends is shown
// with textContent, never parsed as HTML: a device's user agent is whatever the login service saw.

const SESSION_KEY = "bastion-account-session";
const $ = (id) => document.getElementById(id);

function takeSession() {
  const m = /(?:^#|&)session=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(SESSION_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(SESSION_KEY);
}

function say(text, error = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

class SignedOut extends Error {}

async function api(method, path, body) {
  const token = sessionStorage.getItem(SESSION_KEY);
  if (!token) throw new SignedOut("you are not signed in");
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 401) throw new SignedOut(data.message || "your session is not valid any more");
  if (!resp.ok) throw new Error(data.message || `HTTP ${resp.status}`);
  return data;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function button(text, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

// ------------------------------------------------------------------------------------------ the sections
function showChecklist(sec) {
  $("score").textContent = `${sec.done} of ${sec.total} done, score ${sec.score}`;
  const list = $("checklist");
  list.replaceChildren();
  for (const item of sec.items) {
    const li = document.createElement("li");
    li.className = item.done ? "done" : "pending";
    li.dataset.item = item.id;
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.textContent = item.done ? "Done" : "Pending";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = item.title;
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = item.detail ? `${item.why} (${item.detail})` : item.why;
    li.append(mark, title, why);
    list.append(li);
  }
}

function showDevices(out) {
  const body = $("devices").tBodies[0];
  body.replaceChildren();
  for (const d of out.devices) {
    const tr = document.createElement("tr");
    tr.dataset.deviceId = d.device_id;
    const ua = cell(d.user_agent || "(unknown browser)", "ua");
    if (d.current) {
      const mark = document.createElement("span");
      mark.className = "current";
      mark.textContent = "this device";
      ua.append(mark);
    }
    const where = [d.ip, d.country, d.asn != null ? `AS${d.asn}` : null].filter(Boolean).join(" · ");
    const action = document.createElement("td");
    action.append(button("Remove", () => removeDevice(d), "remove"));
    tr.append(ua, cell(where), cell(when(d.first_seen_at)), cell(when(d.last_seen_at)), cell(d.active_sessions), action);
    body.append(tr);
  }
}

function showAllowlist(out) {
  $("allowlist-mode").textContent = out.allowlist_only
    ? "Allowlist-only mode is on: withdrawals go only to these addresses."
    : "Allowlist-only mode is off: withdrawals may go to any address.";
  const body = $("allowlist").tBodies[0];
  body.replaceChildren();
  for (const a of out.addresses) {
    const tr = document.createElement("tr");
    tr.dataset.address = a.address;
    const action = document.createElement("td");
    action.append(button("Remove", () => removeAddress(a.address), "remove"));
    const usable = a.usable ? "now" : when(a.usable_from);
    tr.append(cell(a.address, "address"), cell(a.chain), cell(a.label), cell(usable), action);
    body.append(tr);
  }
}

// --------------------------------------------------------------------------------------------- actions
async function run(what, fn) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof SignedOut) {
      signedOut(`${err.message}: sign in to your account again`);
    } else {
      say(`${what} failed: ${err.message}`, true);
    }
  }
}

async function load() {
  await run("Loading", async () => {
    const [sec, devs, allow] = await Promise.all([
      api("GET", "/v1/account/security"),
      api("GET", "/v1/account/devices"),
      api("GET", "/v1/account/allowlist"),
    ]);
    showChecklist(sec);
    showDevices(devs);
    showAllowlist(allow);
    $("signin").hidden = true;
    $("account").hidden = false;
    document.body.dataset.state = "loaded";
  });
}

async function removeDevice(d) {
  await run("Removing the device", async () => {
    const out = await api("DELETE", `/v1/account/devices/${encodeURIComponent(d.device_id)}`);
    say(`Device removed; ${out.sessions_ended} session(s) ended.`);
    if (d.current) return signedOut("You removed this device: its session has ended.");
    await load();
  });
}

async function removeOthers() {
  await run("Removing the other devices", async () => {
    const out = await api("POST", "/v1/account/devices/remove-others");
    say(`${out.removed_devices.length} other device(s) removed; ${out.sessions_ended} session(s) ended.`);
    await load();
  });
}

async function addAddress(event) {
  event.preventDefault();
  const body = { address: $("new-address").value.trim() };
  const chain = $("new-chain").value.trim();
  const label = $("new-label").value.trim();
  if (chain) body.chain = chain;
  if (label) body.label = label;
  await run("Adding the address", async () => {
    const out = await api("POST", "/v1/account/allowlist", body);
    say(`Address added: usable from ${when(out.usable_from)}.`);
    $("allowlist-form").reset();
    await load();
  });
}

async function removeAddress(address) {
  await run("Removing the address", async () => {
    await api("DELETE", `/v1/account/allowlist?address=${encodeURIComponent(address)}`);
    say("Address removed.");
    await load();
  });
}

async function freeze() {
  $("freeze-confirm").disabled = true;
  await run("Freezing", async () => {
    await api("POST", "/v1/account/freeze", { confirm: true, reason: "frozen by the user from the account page" });
    sessionStorage.removeItem(SESSION_KEY); // ended by the freeze anyway
    $("account").hidden = true;
    $("frozen").hidden = false;
    document.body.dataset.state = "frozen";
    say("Your account is frozen.");
  });
  $("freeze-confirm").disabled = false;
}

function signedOut(message) {
  sessionStorage.removeItem(SESSION_KEY);
  $("account").hidden = true;
  $("signin").hidden = false;
  document.body.dataset.state = "signed-out";
  say(message, true);
}

// ------------------------------------------------------------------------------------------------ start
function start() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    sessionStorage.setItem(SESSION_KEY, token);
    say("");
    load();
  });
  $("remove-others").addEventListener("click", removeOthers);
  $("allowlist-form").addEventListener("submit", addAddress);
  $("freeze").addEventListener("click", () => {
    $("freeze-confirm-box").hidden = false;
  });
  $("freeze-cancel").addEventListener("click", () => {
    $("freeze-confirm-box").hidden = true;
  });
  $("freeze-confirm").addEventListener("click", freeze);
  // the account may hand a new session to a page already open (only the fragment changes: no reload)
  window.addEventListener("hashchange", () => {
    if (takeSession()) load();
  });
  if (takeSession()) {
    load();
  } else {
    $("signin").hidden = false;
    document.body.dataset.state = "signed-out";
  }
}

start();
