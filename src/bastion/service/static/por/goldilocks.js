// Goldilocks field arithmetic with BigInt: p = 2^64 - 2^32 + 1. Values are BigInts in [0, p).

export const P = 0xffffffff00000001n;

export const add = (a, b) => (a + b) % P;
export const mul = (a, b) => (a * b) % P;

export function pow(x, e) {
  let result = 1n;
  let base = x % P;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % P;
    base = (base * base) % P;
    e >>= 1n;
  }
  return result;
}

// x^7, Poseidon2's S-box for Goldilocks
export function sbox(x) {
  const x2 = (x * x) % P;
  const x3 = (x2 * x) % P;
  const x6 = (x3 * x3) % P;
  return (x6 * x) % P;
}
