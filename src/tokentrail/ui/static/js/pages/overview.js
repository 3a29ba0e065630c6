// Overview: is something broken, what does it cost? Four quadrants: volume and cost, latency,
// errors (429s and timeouts on their own), self-hosted model health.

import * as api from "../api.js";
import { chart, COLORS, seriesValues } from "../charts.js";
import { badge, clear, fill, h, kpi, panel, table } from "../dom.js";
import { count, ms, msAxis, pct, plural, step, usd, usdAxis } from "../fmt.js";
import * as state from "../state.js";
import { brushToExplain, drillToTraces, familyName, grid, isSelfHosted, SKETCH_TITLE, title, tracesLink,
  whenEmpty, whyLink } from "./common.js";

const METRICS = "requests,cost_usd,errors,rate_limited,timeouts,latency_ms,ttft_ms,tpot_ms";

export default async function overview(root) {
  title(root, "Overview");
  // the latency tiles' percentiles come with the timeseries (its total: one pass merges each sketch once)
  const ts = api.get("metrics/timeseries", { metric: METRICS, total: 1 });
  const summary = await api.get("metrics/summary", { metric: "requests,cost_usd,errors,rate_limited,timeouts,users" });
  const empty = await whenEmpty(summary);
  if (empty) {
    root.append(empty);
    return;
  }
  const { latency_ms, ttft_ms, tpot_ms } = (await ts).total;
  Object.assign(summary, { latency_ms, ttft_ms, tpot_ms });
  root.append(kpis(summary));
  const volume = panel("Volume and cost", { testid: "panel-volume" });
  const latency = panel("Latency", { testid: "panel-latency", subtitle: "percentiles of LLM call duration" });
  const errors = panel("Errors", { testid: "panel-errors", actions: whyLink("errors") });
  const selfHosted = panel("Self-hosted models", { testid: "panel-self-hosted" });
  root.append(grid("quad", volume.el, latency.el, errors.el, selfHosted.el));
  const byModel = api.get("metrics/breakdown", { by: "model_family", order: "errors", limit: 4,
    metric: "requests,errors,rate_limited,timeouts" });
  await Promise.all([
    fill(volume.body, async () => volumePanel(await ts, summary, volume)),
    fill(latency.body, async () => latencyPanel(await ts, summary)),
    fill(errors.body, async () => errorsPanel(await ts, summary, await byModel)),
    fill(selfHosted.body, () => selfHostedPanel(selfHosted, errors)),
  ]);
}

function kpis(s) {
  const errTone = s.error_rate > 0.05 ? "bad" : s.error_rate > 0.01 ? "warn" : "good";
  const rlTone = s.rate_limited_rate > 0.01 ? "warn" : null;
  const unpriced = s.unpriced > 0
    ? h("a", { href: state.href("cost"), "data-nav": true, class: "warn-link", testid: "kpi-unpriced" },
      `⚠ ${plural(s.unpriced, "call")} ${s.unpriced === 1 ? "has" : "have"} no price`)
    : `${usd(s.cost_per_1k_requests)} per 1,000 requests`;
  return grid("kpis",
    kpi("Requests", count(s.requests), s.requests, { testid: "kpi-requests", title: "LLM and embedding calls",
      sub: s.users !== undefined ? `${plural(s.users, "user")} · ${plural(s.sessions, "session")}` : "LLM and embedding calls" }),
    kpi("Cost", usd(s.cost_usd), s.cost_usd, { testid: "kpi-cost", sub: unpriced }),
    kpi("Error rate", pct(s.error_rate), s.error_rate, { testid: "kpi-error-rate", tone: errTone,
      sub: plural(s.errors, "failed call") }),
    kpi("Rate limited (429)", count(s.rate_limited), s.rate_limited, { testid: "kpi-rate-limited", tone: rlTone,
      sub: `${pct(s.rate_limited_rate)} of requests` }),
    kpi("Latency p95", ms(s.latency_ms.p95), s.latency_ms.p95, { testid: "kpi-latency-p95",
      sub: `p50 ${ms(s.latency_ms.p50)} · p99 ${ms(s.latency_ms.p99)}` }),
    kpi("Time to first token p95", ms(s.ttft_ms.p95), s.ttft_ms.p95, { testid: "kpi-ttft-p95",
      sub: s.ttft_ms.p50 === null ? "no streamed calls" : `p50 ${ms(s.ttft_ms.p50)} · p99 ${ms(s.ttft_ms.p99)}` }));
}

function volumePanel(ts, s, p) {
  p.el.querySelector(".subtitle")?.remove();
  p.el.querySelector(".panel-head div").append(h("p", { class: "subtitle" }, `per ${step(ts.step_seconds)}`));
  const x = { times: ts.timestamps, step: ts.step_seconds };
  const onClick = drillToTraces(ts);
  return [
    h("div", { class: "mini-head" }, h("span", {}, "Requests", whyLink("requests")), h("b", {}, count(s.requests))),
    chart({ x, type: "bar", height: 120, testid: "chart-requests", format: count, onClick,
      onBrush: brushToExplain(ts, "requests"),
      series: [{ name: "requests", values: seriesValues(ts, "requests"), color: COLORS.requests }] }),
    h("div", { class: "mini-head" }, h("span", {}, "Cost", whyLink("cost_usd")), h("b", {}, usd(s.cost_usd))),
    chart({ x, type: "area", height: 120, testid: "chart-cost", format: (v) => usd(v, true), axisFormat: usdAxis, onClick,
      onBrush: brushToExplain(ts, "cost_usd"),
      series: [{ name: "cost", values: seriesValues(ts, "cost_usd"), color: COLORS.cost }] }),
  ];
}

function latencyPanel(ts, s) {
  const holder = h("div");
  const kinds = [["latency_ms", "Total"], ["ttft_ms", "Time to first token"], ["tpot_ms", "Time per output token"]];
  let current = "latency_ms";
  const draw = () => {
    const reqs = seriesValues(ts, "requests");
    // an interval without calls has no percentile (the API sends 0 there: keep it a gap)
    const series = ["p50", "p95", "p99"].map((p) => ({ name: p, color: COLORS[p],
      values: seriesValues(ts, `${current}_${p}`).map((v, i) => (reqs[i] ? v : null)) }));
    clear(holder, chart({ x: { times: ts.timestamps, step: ts.step_seconds }, series, height: 170,
      testid: "chart-latency", format: ms, axisFormat: msAxis, emptyText: current === "latency_ms" ? undefined : "no streamed calls",
      onClick: drillToTraces(ts, { order: "duration" }), clickHint: "click to see the slowest traces then" }));
    toggle.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.metric === current));
  };
  const toggle = h("div", { class: "segmented" }, kinds.map(([m, label]) =>
    h("button", { type: "button", dataset: { metric: m }, onclick: () => { current = m; draw(); } }, label)));
  draw();
  const rows = kinds.map(([m, label]) => ({ label, m, q: s[m] }));
  const pcts = table([
    { label: "", value: (r) => r.label },
    ...["p50", "p95", "p99"].map((p) => ({ label: p, num: true, value: (r) => ms(r.q[p]), raw: (r) => r.q[p],
      testid: `latency-${p}` })),
  ], rows, { testid: "latency-table", rowTestid: "latency-row" });
  return [toggle, holder, pcts];
}

function errorsPanel(ts, s, byModel) {
  const errors = seriesValues(ts, "errors");
  const limited = seriesValues(ts, "rate_limited");
  const timeouts = seriesValues(ts, "timeouts");
  const other = errors.map((v, i) => Math.max(0, (v || 0) - (limited[i] || 0) - (timeouts[i] || 0)));
  const otherTotal = Math.max(0, s.errors - s.rate_limited - s.timeouts);
  const head = h("div", { class: "error-counts" },
    stat("Other errors", count(otherTotal), "errors-other", "errors"),
    stat("429 rate limited", count(s.rate_limited), "errors-429", "rate_limited"),
    stat("Timeouts", count(s.timeouts), "errors-timeouts", "timeouts"),
    stat("Error rate", pct(s.error_rate), "errors-rate", null));
  const c = chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "bar", stacked: true, height: 130,
    testid: "chart-errors", format: count, legend: false, onClick: drillToTraces(ts, { status: "error" }),
    onBrush: brushToExplain(ts, "errors"),
    clickHint: "click to see the failed traces then", emptyText: "no errors in this range",
    series: [{ name: "other errors", values: other, color: COLORS.errors },
      { name: "429 rate limited", values: limited, color: COLORS.rate_limited },
      { name: "timeouts", values: timeouts, color: COLORS.timeouts }] });
  const models = h("div", { class: "sub-table" }, h("h3", {}, "Error rate by model",
    h("span", { class: "muted small" }, " · the 4 model families with the most failed calls")), table([
    { label: "model family", value: (r) => familyName(r) },
    { label: "requests", num: true, value: (r) => count(r.requests) },
    { label: "failed", num: true, value: (r) => count(r.errors) },
    { label: "error rate", num: true, value: (r) => pct(r.error_rate), raw: (r) => r.error_rate },
    { label: "429s", num: true, value: (r) => count(r.rate_limited) },
    { label: "timeouts", num: true, value: (r) => count(r.timeouts) },
  ], byModel.rows.filter((r) => r.errors > 0), { testid: "errors-by-model", empty: "No failed calls.",
    href: (r) => state.href("traces", { model_family: r.key, model: null, status: "error" }) }));
  return [head, c, models];
}

function stat(label, text, testid, color) {
  return h("div", { class: "stat", testid },
    h("span", { class: "stat-label" }, color ? h("i", { class: "swatch", style: { background: COLORS[color] } }) : null,
      label),
    h("b", {}, text));
}

/** Self-hosted servers' health; with none in the range, a one-line note across the row (not half of it). */
async function selfHostedPanel(p, beside) {
  const providers = await api.get("metrics/breakdown", { by: "provider", order: "requests", limit: 50, metric: "requests,errors,latency_ms,ttft_ms" });
  const rows = providers.rows.filter((r) => isSelfHosted(r.key));
  const scrapeNote = h("p", { class: "muted" },
    "Server-side metrics (KV-cache usage, queue depth, tokens/s) appear here once tokentrail scrapes your vLLM ",
    "/metrics endpoints; that is not configured yet.");
  if (!rows.length) {
    const hosted = providers.rows.map((r) => r.key).filter(Boolean);
    p.el.classList.add("span-all", "slim");
    beside.el.classList.add("span-all");  // the errors panel alone in its row: the whole row, not half of it
    return h("details", { class: "muted", testid: "self-hosted-empty" },
      h("summary", {}, "No self-hosted model metrics yet: no calls to a self-hosted server (vLLM, Ollama, TGI, SGLang …)",
        " in this range", hosted.length ? ` — only hosted APIs: ${hosted.join(", ")}.` : "."),
      h("p", {}, "Send self-hosted calls through the gateway (an upstream with ", h("code", {}, 'provider = "vllm"'),
        ") or tag their spans with ", h("code", {}, "gen_ai.provider.name"), " to see their health here."),
      scrapeNote);
  }
  return [table([
    { label: "server", value: (r) => tracesLink(r.key, { provider: r.key }) },
    { label: "requests", num: true, value: (r) => count(r.requests) },
    { label: "error rate", num: true, value: (r) => pct(r.error_rate) },
    { label: "latency p95", num: true, value: (r) => ms(r.latency_ms.p95), title: SKETCH_TITLE },
    { label: "TTFT p95", num: true, value: (r) => ms(r.ttft_ms.p95), title: SKETCH_TITLE },
    { label: "", value: (r) => (r.error_rate > 0.05 ? badge("unhealthy", "bad") : badge("ok", "good")) },
  ], rows, { testid: "self-hosted-table" }), scrapeNote];
}
