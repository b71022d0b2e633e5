// The Poseidon2 permutation of a width-8 Goldilocks state, exactly as src/bastion/stark/hash/poseidon2_scalar.py
// computes it: external layer, 4 full rounds, 22 partial rounds (S-box on word 0), 4 full rounds.
import { P, sbox } from "./goldilocks.js";
import { DIAG_M1, EXTERNAL_FINAL, EXTERNAL_INITIAL, INTERNAL } from "./poseidon2-constants.js";

export const WIDTH = 8;

// [[5,7,1,3],[4,6,1,1],[1,3,5,7],[1,1,4,6]] on one 4-word chunk
function m4(a, b, c, d) {
  return [
    (5n * a + 7n * b + c + 3n * d) % P,
    (4n * a + 6n * b + c + d) % P,
    (a + 3n * b + 5n * c + 7n * d) % P,
    (a + b + 4n * c + 6n * d) % P,
  ];
}

// circ(2*M4, M4): M4 on each chunk, then each word plus its column sum across chunks
function externalLinear(s) {
  const y = [...m4(s[0], s[1], s[2], s[3]), ...m4(s[4], s[5], s[6], s[7])];
  const sums = [0, 1, 2, 3].map((c) => (y[c] + y[c + 4]) % P);
  return y.map((v, i) => (v + sums[i % 4]) % P);
}

// J + diag(DIAG_M1): each word times its diagonal entry, plus the sum of all words
function internalLinear(s) {
  let total = 0n;
  for (const v of s) total += v;
  total %= P;
  return s.map((v, i) => (v * DIAG_M1[i] + total) % P);
}

function fullRound(s, rc) {
  return externalLinear(s.map((v, i) => sbox((v + rc[i]) % P)));
}

/** Poseidon2 over 8 field elements (BigInt or number-like values, reduced mod p); returns 8 BigInts. */
export function permute(state) {
  if (state.length !== WIDTH) throw new Error(`Poseidon2 width 8 takes 8 elements, got ${state.length}`);
  let s = externalLinear(state.map((v) => BigInt(v) % P));
  for (const rc of EXTERNAL_INITIAL) s = fullRound(s, rc);
  for (const c of INTERNAL) {
    s[0] = sbox((s[0] + c) % P);
    s = internalLinear(s);
  }
  for (const rc of EXTERNAL_FINAL) s = fullRound(s, rc);
  return s;
}
