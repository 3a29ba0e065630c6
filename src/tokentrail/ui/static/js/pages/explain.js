// Why did this change? A window against a baseline window (the window before it by default): the
// change, who contributed how much (route, model, user, customer, release, environment), a chart of the
// top contributor against the rest over both windows, and the traces behind it (GET /api/explain).
// Opened from an alert (its notification links here too) or from any chart's "Why did this change?".

import * as api from "../api.js";
import { chart, COLORS } from "../charts.js";
import { badge, bar, clear, fill, h, kpi, panel, table } from "../dom.js";
import { count, dateTime, parseTime, pct, usd, usdAxis } from "../fmt.js";
import * as state from "../state.js";
import { costText, grid, title, visibleWindow } from "./common.js";

export const METRICS = [["cost_usd", "Cost"], ["tokens", "Tokens (in + out)"], ["input_tokens", "Input tokens"],
  ["output_tokens", "Output tokens"], ["requests", "Requests"], ["errors", "Errors"], ["unpriced", "Unpriced calls"]];
const BASELINES = [["prev", "the window before"], ["day", "same time a day earlier"], ["week", "same time a week earlier"]];
const DIM_LABELS = { route: "Route", model: "Model", user: "User", customer: "Customer", release: "Release",
  environment: "Environment", session: "Session", provider: "Provider" };
const LEAD = "#ea580c";

/** f.<dim>=v in the address (notification links) are the page's filters: make them the usual ones. */
function normalize() {
  const p = state.params();
  let changed = false;
  for (const [k, v] of [...p.entries()]) {
    if (k.startsWith("f.") && state.DIMENSIONS.includes(k.slice(2))) {
      p.delete(k);
      if (!p.get(k.slice(2))) p.set(k.slice(2), v);
      changed = true;
    }
  }
  if (changed) window.history.replaceState(null, "", `${window.location.pathname}?${p}`);
}

/** The alert's own labels (focus.<dim>=v): the rows that are its subject get marked. */
function focus() {
  const out = {};
  for (const [k, v] of state.params().entries()) if (k.startsWith("focus.")) out[k.slice(6)] = v;
  return out;
}

function baselineOf(win) {
  const bs = state.option("baseline_since");
  const bu = state.option("baseline_until");
  if (bs && bu) return { since: bs, until: bu, mode: "custom" };
  const mode = state.option("baseline", "prev");
  const a = parseTime(win.since).getTime();
  const b = parseTime(win.until).getTime();
  const shift = mode === "day" ? 86400e3 : mode === "week" ? 7 * 86400e3 : b - a;
  const iso = (t) => new Date(t).toISOString().replace(".000Z", "Z");
  return { since: iso(a - shift), until: iso(b - shift), mode };
}

export default async function explain(root) {
  normalize();
  const f = state.filters();
  const metric = state.option("metric", "cost_usd");
  const win = visibleWindow(f);
  const base = baselineOf(win);
  const rule = state.option("rule");
  const subject = focus();
  title(root, "Why did this change?");
  if (rule) root.append(alertBanner(rule, subject));
  root.append(controls(metric, base));
  const params = { metric, since: win.since, until: win.until, baseline_since: base.since, baseline_until: base.until,
    dimensions: state.option("dimensions") || null, limit: 10 };
  for (const k of state.DIMENSIONS) if (f[k]) params[`f.${k}`] = f[k];
  const doc = await api.get("explain", params, f.project ? { project: f.project } : {});
  root.append(kpis(doc, metric));
  if (!doc.top.length) {
    root.append(h("div", { class: "empty", testid: "explain-empty" }, h("h3", {}, "Nothing to explain"),
      h("p", {}, "No calls in either window with these filters. Try a longer range or fewer filters.")));
    return;
  }
  const lead = doc.top[0];
  const chartPanel = panel(`${DIM_LABELS[lead.dimension] || lead.dimension} ${lead.value || "(none)"} against the rest`, {
    testid: "panel-explain-chart",
    subtitle: "the top contributor over the baseline and the window" });
  // the explainer's chart is grouped by the lead's dimension, top groups only (by size): use it when it
  // holds the lead, else ask for the lead and the total (tokens: input + output, not input only)
  const usable = doc.chart && metric !== "tokens" && doc.chart.series.some((sr) => sr.group === lead.value);
  const charted = fill(chartPanel.body, async () => leadChart(usable ? doc.chart : await chartOfLead(lead, metric, win, base),
    lead, metric, win, base));
  const contrib = panel("Contributions", { testid: "panel-contributions",
    subtitle: "expected: its baseline share of the window's total; excess: how far it is from that" });
  clear(contrib.body, contributions(doc, metric, subject, win));
  const tracesPanel = panel(doc.traces_window === "baseline" ? `Its last traces before the window` : "The traces behind it", {
    testid: "panel-explain-traces",
    subtitle: `${DIM_LABELS[lead.dimension] || lead.dimension} ${lead.value || "(none)"}, `
      + (doc.traces_window === "baseline" ? "in the baseline (it went missing in the window)" : "costliest first, in the window"),
    actions: lead.value ? h("a", { href: tracesHref(lead.dimension, lead.value, doc.traces_window === "baseline" ? base : win),
      "data-nav": true, class: "button small-button", testid: "all-traces-link" }, "All its traces") : null });
  tracesPanel.body.replaceChildren(tracesTable(doc.traces || []));
  root.append(chartPanel.el, contrib.el, tracesPanel.el);
  await charted;
}

function alertBanner(rule, subject) {
  const f = state.filters();
  const keep = f.project ? { project: f.project } : {};
  const about = Object.entries(subject).map(([k, v]) => `${k}=${v}`).join(", ");
  return h("div", { class: "note alert-banner", testid: "alert-banner" },
    "From alert ", h("b", {}, rule), about ? [" about ", h("b", { testid: "alert-focus" }, about)] : null, ". ",
    h("a", { href: state.href("alerts", {}, keep), "data-nav": true }, "← Alerts"), " · ",
    h("a", { href: state.href("alerts", { tab: "rules", edit: rule }, keep), "data-nav": true }, "the rule"));
}

function controls(metric, base) {
  const sel = h("select", { testid: "explain-metric" }, METRICS.map(([v, l]) => new Option(l, v)));
  sel.value = metric;
  sel.addEventListener("change", () => state.update({ metric: sel.value }));
  const modes = h("div", { class: "segmented", testid: "explain-baseline" }, BASELINES.map(([v, l]) =>
    h("button", { type: "button", class: base.mode === v ? "active" : null, dataset: { baseline: v },
      onclick: () => state.update({ baseline: v === "prev" ? null : v, baseline_since: null, baseline_until: null }) }, l)),
  base.mode === "custom" ? h("button", { type: "button", class: "active", title: "the baseline the alert compared with" },
    `${dateTime(base.since, false)} – ${dateTime(base.until, false)}`) : null);
  return h("div", { class: "toolbar" }, h("label", { class: "field inline" }, "Metric ", sel),
    h("span", { class: "toolbar-label" }, "against"), modes,
    h("span", { class: "muted small" }, "The window is the time range above; pick another there."));
}

function fmt(metric) {
  if (metric === "cost_usd") return (v) => usd(v, Math.abs(v) < 1);
  // counts: scaled baselines and expectations are fractional (2.9 calls), keep one decimal below 100
  return (v) => (Number.isInteger(v) || Math.abs(v) >= 100 ? count(Math.round(v)) : String(Math.round(v * 10) / 10));
}

function kpis(doc, metric) {
  const f = fmt(metric);
  const label = METRICS.find(([m]) => m === metric)?.[1] || metric;
  const up = doc.change > 0;
  const pctText = doc.change_percent === null ? "new (nothing in the baseline)"
    : `${doc.change_percent > 0 ? "+" : ""}${doc.change_percent}%`;
  return grid("kpis",
    kpi(`${label}, window`, f(doc.window.value), doc.window.value, { testid: "kpi-window",
      sub: `${dateTime(doc.window.since, false)} – ${dateTime(doc.window.until, false)}` }),
    kpi(`${label}, baseline`, f(doc.baseline.value), doc.baseline.value, { testid: "kpi-baseline",
      sub: doc.baseline.scaled_by !== 1 ? `scaled to the window's length (x${doc.baseline.scaled_by})` : "same length" }),
    kpi("Change", `${up ? "+" : ""}${f(doc.change)}`, doc.change, { testid: "kpi-change",
      tone: Math.abs(doc.change_percent ?? 100) >= 20 ? (up ? "bad" : "warn") : null, sub: pctText }),
    kpi("Top contributor", doc.top.length ? `${doc.top[0].value || "(none)"}` : "–", null, { testid: "kpi-top",
      sub: doc.top.length ? `${DIM_LABELS[doc.top[0].dimension] || doc.top[0].dimension} · excess ${f(doc.top[0].excess)}` : "" }));
}

/**
 * When the explainer could not group the chart by the top contributor's dimension (user and customer are
 * kept per call only for short ranges), the same chart from two series: everything, and the contributor.
 */
async function chartOfLead(lead, metric, win, base) {
  const f = state.filters();
  const scope = {};
  for (const k of ["project", ...state.DIMENSIONS]) if (f[k]) scope[k] = f[k];
  const names = metric === "tokens" ? "input_tokens,output_tokens" : metric;
  const span = { metric: names, since: minIso(win.since, base.since), until: maxIso(win.until, base.until) };
  const [all, mine] = await Promise.all([api.get("metrics/timeseries", span, scope),
    api.get("metrics/timeseries", { ...span, [lead.dimension]: lead.value }, scope)]);
  const values = (ts) => {
    const sr = ts.series.find((x) => x.group === "all");
    if (!sr) return ts.timestamps.map(() => 0);
    return ts.timestamps.map((_, i) => names.split(",").reduce((a, n) => a + (sr.metrics[n][i] || 0), 0));
  };
  return { step_seconds: all.step_seconds, timestamps: all.timestamps, summed: true,
    series: [{ group: lead.value, metrics: { [metric]: values(mine) } }, { group: "other", metrics: { [metric]: values(all).map((v, i) => v - values(mine)[i]) } }] };
}

const countAxis = (v) => (Number.isInteger(v) || Math.abs(v) >= 100 ? count(v) : String(Math.round(v * 100) / 100));
const minIso = (a, b) => (parseTime(a) < parseTime(b) ? a : b);
const maxIso = (a, b) => (parseTime(a) > parseTime(b) ? a : b);

function leadChart(ts, lead, metric, win, base) {
  if (!ts || !ts.timestamps.length) return h("p", { class: "empty-inline" }, "No chart for this metric.");
  const m = metric === "tokens" && !ts.summed ? "input_tokens" : metric;
  const n = ts.timestamps.length;
  const mine = ts.series.find((sr) => sr.group === lead.value);
  const leadValues = mine ? mine.metrics[m].map((v) => v || 0) : Array(n).fill(0);
  const rest = Array(n).fill(0);
  for (const sr of ts.series) if (sr !== mine) sr.metrics[m].forEach((v, i) => { rest[i] += Math.max(0, v || 0); });
  const f = metric === "cost_usd" ? (v) => usd(v, true) : (v) => count(Math.round(v * 10) / 10);
  return chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "area", stacked: true, height: 220,
    testid: "chart-explain", format: f, axisFormat: metric === "cost_usd" ? usdAxis : countAxis, legend: true,
    bands: [{ since: base.since, until: base.until, label: "baseline", tone: "neutral" },
      { since: win.since, until: win.until, label: "window", tone: "warn" }],
    legendNote: m !== metric ? "input tokens" : null,
    series: [{ name: `${lead.value || "(none)"} (${lead.dimension})`, values: leadValues, color: LEAD },
      { name: "the rest", values: rest, color: COLORS.other }] });
}

function isFocus(row, subject) {
  return subject[row.dimension] !== undefined && subject[row.dimension] === row.value;
}

function contributions(doc, metric, subject, win) {
  const f = fmt(metric);
  const holder = h("div");
  const views = [["top", "Top contributors"], ...Object.keys(doc.by_dimension).map((d) => [d, DIM_LABELS[d] || d])];
  let current = "top";
  const draw = () => {
    const rows = current === "top" ? doc.top : doc.by_dimension[current];
    const maxExcess = Math.max(0, ...rows.map((r) => Math.abs(r.excess)));
    const total = doc.window.value;
    clear(holder, table([
      ...(current === "top" ? [{ label: "dimension", value: (r) => DIM_LABELS[r.dimension] || r.dimension, testid: "cell-dimension" }] : []),
      { label: "value", testid: "cell-value", cls: "key", value: (r) => [
        r.value ? h("a", { href: tracesHref(r.dimension, r.value, win), "data-nav": true, title: "its traces in the window" }, r.value)
          : h("span", { class: "muted" }, "(none)"),
        isFocus(r, subject) ? badge("the alert's subject", "warn", { testid: "focus-badge" }) : null] },
      { label: "current", num: true, value: (r) => f(r.current), raw: (r) => r.current, testid: "cell-current" },
      { label: "baseline", num: true, value: (r) => f(r.baseline), raw: (r) => r.baseline, title: "scaled to the window's length" },
      { label: "expected", num: true, value: (r) => f(r.expected), title: "its baseline share of the window's total" },
      { label: "excess", value: (r) => bar(Math.abs(r.excess), maxExcess, `${r.excess > 0 ? "+" : ""}${f(r.excess)}`,
        r.excess >= 0 ? "bad" : "good"), raw: (r) => r.excess, cls: "bar-col", testid: "cell-excess" },
      { label: "share now", num: true, value: (r) => pct(total ? r.current / total : null), title: "its share of the window's total" },
      { label: "share before", num: true, value: (r) => pct(r.share_of_baseline), title: "its share of the baseline" },
    ], rows, { testid: "contributions-table", rowTestid: "contribution-row", empty: "Nothing here." }));
    tabs.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.view === current));
  };
  const tabs = h("div", { class: "segmented", testid: "contribution-tabs" }, views.map(([v, label]) =>
    h("button", { type: "button", dataset: { view: v }, testid: `contrib-tab-${v}`, onclick: () => { current = v; draw(); } }, label)));
  draw();
  return [tabs, holder];
}

function tracesHref(dimension, value, win) {
  const f = state.filters();
  const keep = {};
  for (const k of ["project", ...state.DIMENSIONS]) if (f[k]) keep[k] = f[k];
  return state.href("traces", { [dimension]: value, since: win.since, until: win.until, order: "cost" }, keep);
}

function tracesTable(rows) {
  const f = state.filters();
  const keep = f.project ? { project: f.project } : {};
  return table([
    { label: "time", value: (r) => dateTime(r.start_time), cls: "nowrap" },
    { label: "trace", value: (r) => r.name || r.trace_id.slice(0, 12), cls: "key" },
    { label: "route", value: (r) => r.route || "–", cls: "nowrap" },
    { label: "models", value: (r) => (r.models || []).join(", ") || "–", cls: "models ellipsis", testid: "cell-models" },
    { label: "user", value: (r) => r.user_id || "–", cls: "nowrap" },
    { label: "tokens in / out", num: true, value: (r) => `${count(r.input_tokens)} / ${count(r.output_tokens)}` },
    { label: "cost", num: true, value: (r) => costText(r.cost_usd, r.unpriced, true) },
    { label: "status", value: (r) => (r.status === "error" ? badge("error", "bad") : badge("ok", "good")) },
  ], rows, { testid: "explain-traces", rowTestid: "explain-trace-row", empty: "No traces kept for it (raw spans expire; rollups keep the totals).",
    href: (r) => state.href(`traces/${r.trace_id}`, {}, keep) });
}
