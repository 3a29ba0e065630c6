// Numbers and times for humans: $, k/M, ms/s, %, local times.

const nf = (digits) => new Intl.NumberFormat("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** 842, 8,123, 28.0k, 80.8M, 1.2B */
export function count(v) {
  if (!isNum(v)) return "–";
  const a = Math.abs(v);
  if (a < 10_000) return int.format(v);
  if (a < 1e6) return nf(1).format(v / 1e3) + "k";
  if (a < 1e9) return nf(1).format(v / 1e6) + "M";
  return nf(1).format(v / 1e9) + "B";
}

/**
 * $12.3k, $192.34, $0.44, $0.0042, <$0.0001: below $1, up to 4 decimals for every amount (one call's
 * cost $0.0707, a table's rows alike). `_precise` is what callers asked for before that: every amount is.
 */
export function usd(v, _precise = false) {
  if (!isNum(v)) return "–";
  const a = Math.abs(v);
  const sign = v < 0 ? "-" : "";
  if (a === 0) return "$0.00";
  if (a >= 10_000) return sign + "$" + count(a);
  if (a >= 1) return sign + "$" + nf(2).format(a);
  if (a < 0.00005) return sign + "<$0.0001";
  // under a dollar: 4 decimals, trailing zeros dropped down to cents ($0.0138, $0.03, $0.0030 -> $0.003),
  // so the rows of a table add up as they read (2 decimals made $0.0138 read $0.01 beside $0.0081)
  const text = a.toFixed(4).replace(/0{1,2}$/, "");
  return sign + "$" + text;
}

/** Axis labels: $0, $5, $12.5, $0.25, $1.2k. */
export function usdAxis(v) {
  if (!isNum(v)) return "";
  if (v === 0) return "$0";
  if (Math.abs(v) >= 1000) return "$" + count(v);
  return "$" + String(Math.round(v * 10000) / 10000);
}

/** 305 ms, 3.2 s, 2.5 min */
export function ms(v) {
  if (!isNum(v)) return "–";
  if (v === 0) return "0";
  if (v < 10) return nf(1).format(v) + " ms";
  if (v < 1000) return int.format(v) + " ms";
  if (v < 60_000) return nf(v < 10_000 ? 2 : 1).format(v / 1000) + " s";
  return nf(1).format(v / 60_000) + " min";
}

/** Axis labels: 0, 250 ms, 1.5 s, 10 s. */
export function msAxis(v) {
  if (!isNum(v) || v === 0) return "0";
  if (v < 1000) return `${Math.round(v * 10) / 10} ms`;
  if (v < 60_000) return `${Math.round(v / 10) / 100} s`;
  return `${Math.round(v / 6000) / 10} min`;
}

/** a ratio 0.0485 -> 4.85% */
export function pctAxis(v) {
  return isNum(v) ? `${Math.round(v * 1000) / 10}%` : "";
}

export function pct(v) {
  if (!isNum(v)) return "–";
  const p = v * 100;
  if (p === 0) return "0%";
  if (Math.abs(p) < 0.1) return nf(2).format(p) + "%";
  if (Math.abs(p) < 10) return nf(2).format(p) + "%";
  return nf(1).format(p) + "%";
}

/** A time from the API: ISO with Z, or "YYYY-MM-DD hh:mm:ss[.ffffff]" in UTC. */
export function parseTime(s) {
  if (s instanceof Date) return s;
  if (typeof s !== "string") return new Date(NaN);
  let t = s.replace(" ", "T");
  if (!/[zZ]|[+-]\d\d:?\d\d$/.test(t)) t += "Z";
  t = t.replace(/(\.\d{3})\d+/, "$1");
  return new Date(t);
}

const two = (n) => String(n).padStart(2, "0");

/** Local time, "Nov 24, 14:05:32" (year added when not this year). */
export function dateTime(s, withSeconds = true) {
  const d = parseTime(s);
  if (Number.isNaN(d.getTime())) return "–";
  const now = new Date();
  const month = d.toLocaleString("en-US", { month: "short" });
  const year = d.getFullYear() !== now.getFullYear() ? ` ${d.getFullYear()}` : "";
  const time = `${two(d.getHours())}:${two(d.getMinutes())}` + (withSeconds ? `:${two(d.getSeconds())}` : "");
  return `${month} ${d.getDate()}${year}, ${time}`;
}

/** "3 min ago", "2 h ago", "5 d ago" */
export function ago(s) {
  const d = parseTime(s);
  const sec = (Date.now() - d.getTime()) / 1000;
  if (!Number.isFinite(sec)) return "–";
  if (sec < 60) return "just now";
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
  return `${Math.floor(sec / 86400)} d ago`;
}

/** "Nov 24" for a UTC day "2026-11-24" (shown as that calendar day, whatever the local zone). */
export function day(s) {
  const d = new Date(s + "T00:00:00Z");
  return d.toLocaleString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

/** Seconds as a step label: "1 min", "15 min", "1 h", "1 day". */
export function step(seconds) {
  if (seconds < 3600) return `${seconds / 60} min`;
  if (seconds < 86400) return `${seconds / 3600} h`;
  return `${seconds / 86400} day`;
}

export function plural(n, word, words = word + "s") {
  return `${count(n)} ${n === 1 ? word : words}`;
}
