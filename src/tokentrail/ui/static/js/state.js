// The URL is the state: the page is the path, the filters are the query string, so a view
// can be shared by copying its address. Navigation keeps the filters (not the page's own options).

export const RANGES = [
  ["15m", "Last 15 minutes"], ["1h", "Last hour"], ["6h", "Last 6 hours"], ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"], ["30d", "Last 30 days"],
];
export const DEFAULT_RANGE = "24h";

// Filters every API route understands (server: query/filters.py DIMENSIONS), plus time and project.
export const DIMENSIONS = ["route", "model", "model_family", "provider", "environment", "release", "status", "kind",
  "error_type", "http_status", "finish", "user", "session", "customer", "source"];
export const GLOBAL_KEYS = ["range", "since", "until", "project", ...DIMENSIONS];

export function params() {
  return new URLSearchParams(window.location.search);
}

/** The global filters in the URL, as an object (only those set). */
export function filters() {
  const p = params();
  const out = {};
  for (const k of GLOBAL_KEYS) {
    const v = p.get(k);
    if (v) out[k] = v;
  }
  return out;
}

/** A page-local option from the URL (order, by, offset ...). */
export function option(name, fallback = "") {
  return params().get(name) || fallback;
}

/** The range in seconds the filters cover (for per-minute rates and labels). */
export function rangeSeconds(f = filters()) {
  if (f.since) {
    const end = f.until ? Date.parse(f.until) : Date.now();
    return Math.max(60, (end - Date.parse(f.since)) / 1000);
  }
  return parseRange(f.range || DEFAULT_RANGE);
}

export function parseRange(r) {
  const m = /^(\d+(?:\.\d+)?)(m|h|d|w)$/.exec(r || "");
  if (!m) return 86400;
  return Number(m[1]) * { m: 60, h: 3600, d: 86400, w: 604800 }[m[2]];
}

/** Human words for the current time range: "last 24 hours", "Nov 3, 10:00 – Nov 4, 10:00". */
export function rangeLabel(f = filters(), fmtTime = (s) => s) {
  if (f.since) {
    const [a, b] = [fmtTime(f.since), f.until ? fmtTime(f.until) : "now"];
    const [dayA, timeA] = a.split(", ");
    const [dayB, timeB] = b.split(", ");
    return dayA === dayB && timeA && timeB ? `${dayA}, ${timeA}–${timeB}` : `${a} – ${b}`;
  }
  const r = f.range || DEFAULT_RANGE;
  const known = RANGES.find(([k]) => k === r);
  return known ? known[1].toLowerCase() : `last ${r}`;
}

/** Query string for the API: the global filters plus extra parameters. */
export function query(extra = {}, base = filters()) {
  const p = new URLSearchParams(base);
  if (!p.get("range") && !p.get("since")) p.set("range", DEFAULT_RANGE);
  for (const [k, v] of Object.entries(extra)) {
    if (v === null || v === undefined || v === "") p.delete(k);
    else p.set(k, String(v));
  }
  return p.toString();
}

/** A link inside the UI that keeps the global filters: href("traces", {order: "cost"}). */
export function href(path, extra = {}, base = filters()) {
  const p = new URLSearchParams(base);
  for (const [k, v] of Object.entries(extra)) {
    if (v === null || v === undefined || v === "") p.delete(k);
    else p.set(k, String(v));
  }
  const q = p.toString();
  return `/ui/${path}${q ? "?" + q : ""}`;
}

/** Change query parameters of the current page and re-render (one history entry). */
export function update(changes, { replace = false } = {}) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") p.delete(k);
    else p.set(k, String(v));
  }
  const q = p.toString();
  navigate(window.location.pathname + (q ? "?" + q : ""), { replace });
}

export function navigate(url, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  window.dispatchEvent(new Event("tt:navigate"));
}

// ---- the project: in the URL (so links carry it), remembered in this browser ----------------------

const PROJECT_KEY = "tokentrail.project";

/** The project last chosen with the picker in this browser ("" if none). */
export function rememberedProject() {
  try {
    return window.localStorage.getItem(PROJECT_KEY) || "";
  } catch {
    return "";
  }
}

export function rememberProject(project) {
  try {
    window.localStorage.setItem(PROJECT_KEY, project);
  } catch {
    // private mode: the URL still carries it
  }
}

/** Put `project` in the current URL without a new history entry (links made afterwards carry it). */
export function setProjectInUrl(project) {
  const p = params();
  p.set("project", project);
  window.history.replaceState(null, "", `${window.location.pathname}?${p}`);
}
