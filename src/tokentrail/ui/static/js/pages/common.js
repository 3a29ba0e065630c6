// What several pages share: the page title, the "no data yet" guide, drill-down links.

import * as api from "../api.js";
import { bar, code, emptyState, h, table } from "../dom.js";
import { count, dateTime, ms, parseTime, pct, plural, usd } from "../fmt.js";
import * as state from "../state.js";

/** The page's title row: "Overview · last 24 hours". */
export function title(root, text, note) {
  const f = state.filters();
  root.append(h("div", { class: "page-title" },
    h("h1", {}, text),
    h("span", { class: "page-range", testid: "range-label" }, state.rangeLabel(f, (t) => dateTime(t, false))),
    note ? h("span", { class: "page-note" }, note) : null));
}

/** The title of a column of percentiles read from the rollups' sketches. */
export const SKETCH_TITLE = "a sketch (DDSketch) accurate to 1%: rows whose calls took about as long show the same value";

/** A grid row of panels or tiles. */
export function grid(cls, ...children) {
  return h("div", { class: `grid ${cls}` }, ...children);
}

/**
 * When the filters match no LLM call: tell a new user how to send data (no data at all), or
 * that the filters exclude everything (data exists). Returns a node, or null when there is data.
 */
export async function whenEmpty(summary) {
  if (summary.requests > 0) return null;
  const f = state.filters();
  const base = f.project ? { project: f.project } : {};
  const ever = await api.get("metrics/summary", { range: "400d", metric: "requests" }, base);
  if (ever.requests > 0) {
    return emptyState("No LLM calls match these filters in this time range",
      h("p", {}, `This project has ${plural(ever.requests, "call")} in the last 400 days. Try a longer time range or fewer filters.`),
      h("p", {}, h("a", { href: state.href(route(), { range: "30d" }, base), "data-nav": true, class: "button" },
        "Show the last 30 days, no filters")));
  }
  return noDataYet();
}

export function noDataYet() {
  const origin = window.location.origin;
  return emptyState("No data yet",
    h("p", {}, "tokentrail shows every LLM call it receives. Send it some:"),
    h("ol", { class: "steps" },
      h("li", {}, "Point any OpenTelemetry exporter at this server: ",
        code(`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${origin}/v1/traces`), " (OTLP/HTTP, protobuf or JSON)."),
      h("li", {}, "Or instrument a Python app with the SDK: ", code(`tokentrail.init(endpoint="${origin}")`), "."),
      h("li", {}, "Or send OpenAI calls through the gateway: ", code(`base_url="${origin}/gateway/openai/v1"`), "."),
      h("li", {}, "Just looking? Load a week of realistic demo traffic: ",
        code(`tokentrail demo --url ${origin}` + (state.filters().project ? ` --project ${state.filters().project}` : "")),
        ".")),
    h("p", { class: "muted" }, "Then refresh this page."));
}

function route() {
  return window.location.pathname.replace(/^\/ui\/?/, "") || "overview";
}

/** The since/until of a chart bucket, for "click to see these traces". */
export function bucketFilters(ts, i) {
  const start = parseTime(ts.timestamps[i]);
  const end = new Date(start.getTime() + ts.step_seconds * 1000);
  return { since: start.toISOString().replace(".000Z", "Z"), until: end.toISOString().replace(".000Z", "Z"),
    range: null };
}

/** Go to the traces of a chart bucket (keeping the other filters). */
export function drillToTraces(ts, extra = {}) {
  return (i) => state.navigate(state.href("traces", { ...bucketFilters(ts, i), ...extra }));
}

/** A link to the traces page with one more filter: traces of this route, this user ... */
export function tracesLink(text, extra, testid) {
  return h("a", { href: state.href("traces", extra), "data-nav": true, testid }, text);
}

/** Hosted-API providers; any other provider name is taken as a self-hosted server. */
export const SELF_HOSTED = ["vllm", "ollama", "tgi", "huggingface_tgi", "text-generation-inference", "sglang",
  "llama.cpp", "llamacpp", "lmstudio", "localai", "triton", "tensorrt-llm", "self-hosted", "selfhosted", "local"];

export function isSelfHosted(provider) {
  return SELF_HOSTED.includes(String(provider).toLowerCase());
}

/** A cost that does not pass unpriced calls off as $0: "no price", or "$1.20 + 3 unpriced" when some lack one. */
export function costText(cost, unpriced, precise = false) {
  if (unpriced && !cost) {
    return h("span", { class: "warn-text", title: "this model has no price: add it to your price file" }, "no price");
  }
  if (unpriced) {
    const what = `${plural(unpriced, "call")} without a price ${unpriced === 1 ? "is" : "are"} not in this total: add ` +
      "the model to your price file";
    return h("span", { title: what }, usd(cost, precise),
      h("span", { class: "warn-text", testid: "unpriced-part" }, ` + ${count(unpriced)} unpriced`));
  }
  return usd(cost, precise);
}

/**
 * Rows of /api/metrics/breakdown as a table with a share bar; each row drills to its traces.
 * `total` is the spend of the whole range (the share of each row is of that, not of the rows shown).
 */
export function breakdownTable(doc, { testid, columns = "cost", limit = 10, total } = {}) {
  const rows = doc.rows.slice(0, limit);
  const by = doc.by;
  const maxReq = Math.max(0, ...rows.map((r) => r.requests));
  const name = { label: by.replace("_", " "), value: (r) => r.key || "(none)", cls: "key" };
  const sets = {
    cost: [name, ...costColumns(rows, total)],
    usage: [name,
      { label: "requests", value: (r) => bar(r.requests, maxReq, count(r.requests)), raw: (r) => r.requests,
        testid: "cell-requests", cls: "bar-col" },
      { label: "input tokens", num: true, value: (r) => count(r.input_tokens), raw: (r) => r.input_tokens },
      { label: "output tokens", num: true, value: (r) => count(r.output_tokens), raw: (r) => r.output_tokens },
      { label: "tokens / req", num: true, value: (r) => count(Math.round((r.input_tokens + r.output_tokens) / (r.requests || 1))) },
      { label: "latency p95", num: true, value: (r) => ms(r.latency_ms.p95), title: SKETCH_TITLE },
      { label: "errors", num: true, value: (r) => pct(r.error_rate) }],
  };
  return table(sets[columns], rows, { testid, empty: "Nothing in this range.",
    href: (r) => (r.key ? state.href("traces", { [by]: r.key }) : null) });
}

/** The cost, share, requests and cost-per-1k columns of a breakdown table (bars scaled to `rows`). */
function costColumns(rows, total) {
  const maxCost = Math.max(0, ...rows.map((r) => r.cost_usd));
  const share = (r) => (total > 0 ? r.cost_usd / total : null);
  return [
    { label: "cost", value: (r) => bar(r.cost_usd, maxCost, costText(r.cost_usd, r.unpriced)),
      raw: (r) => r.cost_usd, testid: "cell-cost", cls: "bar-col" },
    { label: "share", num: true, title: "share of all spend in the range", value: (r) => pct(share(r)) },
    { label: "requests", num: true, value: (r) => count(r.requests), raw: (r) => r.requests, testid: "cell-requests" },
    { label: "per 1k req", num: true, title: "cost per 1,000 requests",
      value: (r) => (r.unpriced && !r.cost_usd ? "–" : usd(r.cost_per_1k_requests)) },
  ];
}

/** A family's versions worth listing under it: several, or one named otherwise than the family. */
export function shownVersions(family) {
  const versions = family.versions || [];
  return versions.length > 1 || (versions.length === 1 && versions[0].key !== family.key) ? versions : [];
}

/** "gpt-4o-mini · 2 versions": a model family's name, with how many model names it was seen under. */
export function familyName(family) {
  const n = (family.versions || []).length;
  return [family.key || "(none)", n > 1 ? h("span", { class: "family-count" }, ` · ${n} versions`) : null];
}

/**
 * /api/metrics/breakdown?by=model_family as a table: a row per family with its totals (testid "row"), its
 * versions (the model names seen: gpt-4o-mini, gpt-4o-mini-2024-07-18 ...) indented under it ("version-row"),
 * each with its own numbers. A click on a family filters the page `page` by model_family, on a version by model.
 */
export function familyTable(doc, { testid, page, limit = 10, total } = {}) {
  const families = doc.rows.slice(0, limit);
  if (!families.length) return h("p", { class: "empty-inline", testid: testid + "-empty" }, "Nothing in this range.");
  const cols = costColumns(families, total);
  const row = (r, name, link, attrs) => {
    const cells = [h("td", { class: "key" }, link ? h("a", { href: link, "data-nav": true }, name) : name),
      ...cols.map((c) => h("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null,
        dataset: c.raw ? { value: String(c.raw(r) ?? "") } : null, testid: c.testid }, c.value(r)))];
    const tr = h("tr", { ...attrs, class: [attrs.class, link ? "clickable" : ""].join(" ").trim() }, cells);
    if (link) tr.dataset.href = link;
    return tr;
  };
  const body = families.flatMap((f) => [
    row(f, familyName(f), f.key ? state.href(page, { model_family: f.key, model: null }) : null,
      { testid: "row", class: "family-row", dataset: { family: f.key } }),
    ...shownVersions(f).map((v) => row(v, v.key || "(none)", v.key ? state.href(page, { model: v.key }) : null,
      { testid: "version-row", class: "version-row", dataset: { family: f.key, version: v.key } })),
  ]);
  const head = h("tr", {}, h("th", {}, "model family · versions"),
    cols.map((c) => h("th", { class: c.num ? "num" : null, title: c.title }, c.label)));
  return h("div", { class: "table-wrap" }, h("table", { class: "data family-table", testid }, h("thead", {}, head),
    h("tbody", {}, body)));
}

// ---- "why did this change?" from any chart -----------------------------------------------------

function iso(ms) {
  return new Date(Math.round(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** The time range the page shows, as explicit since/until (a relative range ends now). */
export function visibleWindow(f = state.filters()) {
  if (f.since) return { since: f.since, until: f.until || iso(Date.now()) };
  const end = Date.now();
  return { since: iso(end - state.rangeSeconds(f) * 1000), until: iso(end) };
}

/**
 * The explain page for `metric` (cost_usd, tokens, input_tokens, output_tokens, requests, errors,
 * unpriced) over a window (the visible range by default) against the window before it, with the
 * page's filters.
 */
export function explainHref(metric, win = visibleWindow()) {
  return state.href("explain", { metric, since: win.since, until: win.until, range: null });
}

/** The "Why did this change?" control of a chart. */
export function whyLink(metric, testid = `why-${metric}`) {
  return h("a", { href: explainHref(metric), "data-nav": true, class: "why-link", testid,
    title: "What changed against the window before: which route, model, user, customer or release, and the traces" },
  "Why did this change?");
}

/** A chart's onBrush: dragging across buckets explains that range. */
export function brushToExplain(ts, metric) {
  return (a, b) => {
    const { since } = bucketFilters(ts, a);
    const { until } = bucketFilters(ts, b);
    state.navigate(explainHref(metric, { since, until }));
    window.scrollTo(0, 0);
  };
}

/** Previous / next links of a paged list: ``n`` rows shown from ``offset``, pages of ``limit``; ``keep``: the
 * page's own options the links carry (its order, search, ...). */
export function pager(page, { offset, n, limit, noun, keep = {} }) {
  const prev = offset > 0 ? state.href(page, { ...keep, offset: Math.max(0, offset - limit) || null }) : null;
  const next = n === limit ? state.href(page, { ...keep, offset: offset + limit }) : null;
  return h("div", { class: "pager", testid: "pager" },
    prev ? h("a", { href: prev, "data-nav": true, class: "button", testid: "prev-page" }, "← Previous") : null,
    h("span", { class: "muted" }, n ? `${noun} ${count(offset + 1)}–${count(offset + n)}` : `no more ${noun}`),
    next ? h("a", { href: next, "data-nav": true, class: "button", testid: "next-page" }, "Next →") : null);
}
