// Verifies a `bastion-user-proof/1` file (docs/spec/round-format.md, "A user's inclusion proof") in the
// browser: the checks of the spec, in its order, each failure with a specific reason. Nothing leaves the
// page: the only inputs are the parsed file and the round the page serves.
import { P } from "./goldilocks.js";
import { permute } from "./poseidon2.js";

export const PROOF_FORMAT = "bastion-user-proof/1";
const HEX64 = /^[0-9a-f]{64}$/; // lowercase, as the files are written
const UINT = /^(0|[1-9][0-9]*)$/;
const DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;
const enc = new TextEncoder();

export class ProofError extends Error {}
const fail = (msg) => {
  throw new ProofError(msg);
};

// ------------------------------------------------------------------------------------------- bytes
export function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function u32be(n) {
  return new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

export async function sha256(bytes) {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    fail("this browser gives the page no SHA-256 (crypto.subtle needs HTTPS or localhost)");
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// 4 field elements as 32 bytes: u64 little-endian each
export function wordsToBytes(words) {
  const out = new Uint8Array(8 * words.length);
  words.forEach((w, k) => {
    let v = BigInt(w);
    for (let i = 0; i < 8; i++) {
      out[8 * k + i] = Number(v & 255n);
      v >>= 8n;
    }
  });
  return out;
}

export function bytesToWords(bytes) {
  const words = [];
  for (let k = 0; k < bytes.length / 8; k++) {
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(bytes[8 * k + i]);
    words.push(v);
  }
  return words;
}

// ------------------------------------------------------------------------------------- the formulas
/** The user id: SHA-256 of the tagged (round_id, uid, user_salt), as 4 u64 LE words reduced mod p. */
export async function userId(roundId, uid, userSaltHex) {
  const r = enc.encode(roundId);
  const u = enc.encode(uid);
  const digest = await sha256(
    concat(enc.encode("bastion-user-id/1"), new Uint8Array([0]), u32be(r.length), r, u32be(u.length), u,
      hexToBytes(userSaltHex)),
  );
  return bytesToWords(digest).map((w) => w % P);
}

export function packed(assetIndex, idx, count) {
  return BigInt(assetIndex) + (1n << 16n) * BigInt(idx) + (1n << 40n) * BigInt(count);
}

/** The leaf of one row: the first 4 words of Poseidon2_w8([id, packed, equity, debt, salt]) as 32 bytes. */
export function leafBytes(id, packedValue, equityUnits, debtUnits, salt) {
  return wordsToBytes(permute([...id, packedValue, equityUnits, debtUnits, salt]).slice(0, 4));
}

export const leafNode = (leaf) => sha256(concat(new Uint8Array([0]), leaf));
export const innerNode = (left, right) => sha256(concat(new Uint8Array([1]), left, right));

/** Levels of the SHA-256 tree over `count` leaves (padded to the next power of two). */
export function treeDepth(count) {
  let depth = 0;
  while (2 ** depth < count) depth++;
  return depth;
}

/** Decimal string `text` in base units at `decimals`, or null when it has more (non-zero) decimals. */
export function toUnits(text, decimals) {
  const [whole, frac = ""] = text.split(".");
  if (frac.slice(decimals).replace(/0/g, "") !== "") return null;
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt((frac.slice(0, decimals) || "0").padEnd(decimals, "0") || "0");
}

/** Base units as a decimal string at `decimals`, trailing zeros dropped. */
export function formatUnits(units, decimals) {
  const neg = units < 0n;
  const digits = (neg ? -units : units).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const frac = digits.slice(digits.length - decimals).replace(/0+$/, "");
  return (neg ? "-" : "") + whole + (frac ? "." + frac : "");
}

// ------------------------------------------------------------------------------------------ checks
function isInt(v, lo, hi) {
  return Number.isSafeInteger(v) && v >= lo && v < hi;
}

// a decimal integer string below `bound` (amounts: 2^63; salts: p)
function uintString(row, label, key, bound, what) {
  const v = row[key];
  if (typeof v !== "string" || !UINT.test(v)) fail(`${label}: ${key} must be a decimal integer string, got ${JSON.stringify(v)}`);
  const n = BigInt(v);
  if (n >= bound) fail(`${label}: ${key} ${v} is out of range (${what})`);
  return n;
}

function headerOf(proof) {
  if (proof === null || typeof proof !== "object" || Array.isArray(proof)) fail("the file is not a JSON object");
  if (proof.format !== PROOF_FORMAT) {
    fail(`not a Bastion inclusion proof: format is ${JSON.stringify(proof.format)}, expected "${PROOF_FORMAT}"`);
  }
  const rnd = proof.round;
  if (rnd === null || typeof rnd !== "object") fail("the file has no \"round\" object");
  if (typeof rnd.round_id !== "string" || rnd.round_id === "") fail("round.round_id is missing");
  if (typeof rnd.leaf_root !== "string" || !HEX64.test(rnd.leaf_root)) fail("round.leaf_root is not 64 hex digits");
  if (!isInt(rnd.leaf_count, 1, 2 ** 48)) fail(`round.leaf_count is not a positive integer: ${JSON.stringify(rnd.leaf_count)}`);
  if (typeof proof.uid !== "string" || proof.uid === "") fail("uid is missing");
  if (typeof proof.user_salt !== "string" || !HEX64.test(proof.user_salt)) fail("user_salt is not 64 hex digits");
  if (!Array.isArray(proof.rows) || proof.rows.length === 0) fail("the file lists no rows");
  return rnd;
}

/**
 * Verify `proof` (the parsed file) against `served` (the round the page serves: round_id, leaf_root,
 * circuit_digest, leaf_count, assets [{index, asset, decimals}]; null when the page serves none).
 * Returns {ok, reason, roundId, steps, id, rows, balances}: on failure `reason` is the first check that
 * failed, and what was computed up to it is kept for display.
 */
export async function verifyUserProof(proof, served) {
  const result = { ok: false, reason: null, roundId: null, steps: [], id: null, rows: [], balances: [] };
  const step = (n, text) => result.steps.push({ step: n, text });
  try {
    const rnd = headerOf(proof);
    result.roundId = rnd.round_id;
    const root = rnd.leaf_root;
    const depth = treeDepth(rnd.leaf_count);

    // 1. the id from uid, round_id and user_salt
    const id = await userId(rnd.round_id, proof.uid, proof.user_salt);
    result.id = id.map((w) => w.toString());
    step(1, `user id recomputed from uid ${JSON.stringify(proof.uid)}, round ${rnd.round_id} and your salt`);

    // 2. each row: amounts, packed, leaf, path
    for (const [k, row] of proof.rows.entries()) {
      if (row === null || typeof row !== "object") fail(`row ${k + 1} is not an object`);
      const label = `row ${k + 1}${typeof row.asset === "string" ? ` (${row.asset})` : ""}`;
      if (!isInt(row.asset_index, 0, 2 ** 16)) fail(`${label}: asset_index must be an integer in 0..65535`);
      if (!isInt(row.decimals, 0, 31)) fail(`${label}: decimals must be an integer in 0..30`);
      if (!isInt(row.count, 1, 2 ** 23)) fail(`${label}: count must be a positive integer`);
      if (!isInt(row.idx, 0, row.count)) fail(`${label}: idx ${JSON.stringify(row.idx)} is not in 0..count-1`);
      const equityUnits = uintString(row, label, "equity_units", 1n << 63n, "amounts are below 2^63");
      const debtUnits = uintString(row, label, "debt_units", 1n << 63n, "amounts are below 2^63");
      const salt = uintString(row, label, "salt", P, "a field element is below p = 2^64 - 2^32 + 1");
      for (const [key, units] of [["equity", equityUnits], ["debt", debtUnits]]) {
        const text = row[key];
        if (typeof text !== "string" || !DECIMAL.test(text)) fail(`${label}: ${key} is not a decimal amount: ${JSON.stringify(text)}`);
        const asUnits = toUnits(text, row.decimals);
        if (asUnits === null || asUnits !== units) {
          fail(`${label}: ${key} ${text} does not equal ${key}_units ${units} at ${row.decimals} decimals ` +
            `(${formatUnits(units, row.decimals)})`);
        }
      }
      const pk = packed(row.asset_index, row.idx, row.count);
      const leaf = leafBytes(id, pk, equityUnits, debtUnits, salt);
      const leafHex = bytesToHex(leaf);
      const shown = {
        asset: row.asset, asset_index: row.asset_index, decimals: row.decimals, idx: row.idx, count: row.count,
        equity: row.equity, debt: row.debt, equityUnits, debtUnits, leafIndex: row.leaf_index, leaf: leafHex,
        path: [], root: null,
      };
      result.rows.push(shown);
      if (typeof row.leaf !== "string" || !HEX64.test(row.leaf)) fail(`${label}: leaf is not 64 hex digits`);
      if (leafHex !== row.leaf) {
        fail(`${label}: the leaf computed from your id, balances and salt (${leafHex}) does not equal the ` +
          `leaf in the file (${row.leaf}): the uid, user_salt, amounts, asset, idx/count or salt were changed`);
      }
      if (!isInt(row.leaf_index, 0, rnd.leaf_count)) {
        fail(`${label}: leaf_index ${JSON.stringify(row.leaf_index)} is not in 0..${rnd.leaf_count - 1} (leaf_count)`);
      }
      if (!Array.isArray(row.path) || row.path.length !== depth) {
        fail(`${label}: the path has ${Array.isArray(row.path) ? row.path.length : "no"} siblings; a tree of ` +
          `${rnd.leaf_count} leaves has ${depth} levels`);
      }
      let node = await leafNode(leaf);
      let index = row.leaf_index;
      for (const [level, siblingHex] of row.path.entries()) {
        if (typeof siblingHex !== "string" || !HEX64.test(siblingHex)) fail(`${label}: path[${level}] is not 64 hex digits`);
        const sibling = hexToBytes(siblingHex);
        const right = index % 2 === 1;
        node = right ? await innerNode(sibling, node) : await innerNode(node, sibling);
        shown.path.push({ level, side: right ? "right" : "left", sibling: siblingHex, node: bytesToHex(node) });
        index = Math.floor(index / 2);
      }
      shown.root = bytesToHex(node);
      if (shown.root !== root) {
        fail(`${label}: the Merkle path from leaf ${row.leaf_index} leads to ${shown.root}, not to the ` +
          `proof's leaf_root ${root}: the leaf_index or a path sibling was changed`);
      }
    }
    step(2, `${proof.rows.length} leaf/leaves recomputed from your balances and each path leads to leaf_root ${root}`);

    // 3. the rows are the user's whole block
    const first = proof.rows[0];
    if (proof.rows.length !== first.count) {
      fail(`the file has ${proof.rows.length} row(s) but its rows say the user has count = ${first.count}`);
    }
    for (const [k, row] of proof.rows.entries()) {
      if (row.count !== first.count) fail(`row ${k + 1}: count ${row.count} differs from row 1's ${first.count}`);
      if (row.idx !== k) fail(`row ${k + 1}: idx is ${row.idx}, expected ${k} (rows must be idx 0..count-1 in order)`);
      if (row.leaf_index !== first.leaf_index + k) {
        fail(`row ${k + 1}: leaf_index ${row.leaf_index} does not follow row 1's ${first.leaf_index} ` +
          `(expected ${first.leaf_index + k}: a user's rows are consecutive leaves)`);
      }
    }
    step(3, `the ${first.count} row(s) are your whole block: idx 0..${first.count - 1} on leaves ` +
      `${first.leaf_index}..${first.leaf_index + first.count - 1}`);

    // 4. the round this page publishes
    if (!served) fail("this page serves no round to compare the proof with");
    if (rnd.round_id !== served.round_id) fail(`the proof is for round ${rnd.round_id}; this page publishes round ${served.round_id}`);
    if (root !== String(served.leaf_root)) {
      fail(`the proof's leaf_root ${root} is not the published root ${served.leaf_root} of round ${served.round_id}`);
    }
    if (String(rnd.circuit_digest) !== String(served.circuit_digest)) {
      fail(`the proof's circuit_digest ${rnd.circuit_digest} is not the published ${served.circuit_digest}`);
    }
    if (rnd.leaf_count !== served.leaf_count) {
      fail(`the proof's leaf_count ${rnd.leaf_count} is not the published ${served.leaf_count}`);
    }
    for (const [k, row] of proof.rows.entries()) {
      const a = (served.assets || []).find((x) => x.index === row.asset_index);
      if (!a) fail(`row ${k + 1}: asset_index ${row.asset_index} is not an asset of round ${served.round_id}`);
      if (a.asset !== row.asset || a.decimals !== row.decimals) {
        fail(`row ${k + 1}: asset_index ${row.asset_index} is ${a.asset} with ${a.decimals} decimals in the round, ` +
          `the file says ${row.asset} with ${row.decimals}`);
      }
    }
    step(4, `leaf_root, round id, circuit digest and assets equal those of the published round ${served.round_id}`);

    result.balances = balancesOf(result.rows);
    result.ok = true;
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    result.reason = err.message;
  }
  return result;
}

function balancesOf(rows) {
  const by = new Map();
  for (const r of rows) {
    const b = by.get(r.asset) || { asset: r.asset, decimals: r.decimals, equity: 0n, debt: 0n };
    b.equity += r.equityUnits;
    b.debt += r.debtUnits;
    by.set(r.asset, b);
  }
  return [...by.values()].map((b) => ({
    asset: b.asset,
    equity: formatUnits(b.equity, b.decimals),
    debt: formatUnits(b.debt, b.decimals),
    net: formatUnits(b.equity - b.debt, b.decimals),
  }));
}
