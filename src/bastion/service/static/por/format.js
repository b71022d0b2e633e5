// Number formatting shared by the pages: exact decimal strings in, text with separators out.

// "1234567.891" -> "$1,234,568" (whole dollars, half up); signed: "+$5" / "-$5".
export function usd(v, signed = false) {
  if (v === null || v === undefined) return "-";
  let s = String(v);
  const neg = s.startsWith("-");
  if (neg) s = s.slice(1);
  const [whole, frac = ""] = s.split(".");
  const rounded = BigInt(whole) + (frac && frac[0] >= "5" ? 1n : 0n);
  const sign = neg && rounded !== 0n ? "-" : signed && rounded !== 0n ? "+" : "";
  return `${sign}$${rounded.toLocaleString("en-US")}`;
}

// "1234.5" -> "1,234.5": separators in the whole part, the fraction kept exactly as published.
export function amount(v) {
  if (v === null || v === undefined) return "-";
  let s = String(v);
  const neg = s.startsWith("-");
  if (neg) s = s.slice(1);
  const [whole, frac] = s.split(".");
  return (neg ? "-" : "") + BigInt(whole).toLocaleString("en-US") + (frac ? `.${frac}` : "");
}

export function signed(v) {
  const text = amount(v);
  return text.startsWith("-") || /^[0,.]+$/.test(text) ? text : `+${text}`;
}
