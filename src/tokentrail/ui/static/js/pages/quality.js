// Quality: user feedback and eval scores (and over time), schema-validation rate, cache-hit
// rate, output-length distribution, finish reasons (canonical: truncated and filtered answers).

import * as api from "../api.js";
import { chart, PALETTE, seriesValues } from "../charts.js";
import { badge, bar, fill, h, kpi, panel, table } from "../dom.js";
import { count, dateTime, parseTime, pct, pctAxis } from "../fmt.js";
import * as state from "../state.js";
import { drillToTraces, grid, title, whenEmpty } from "./common.js";

export default async function quality(root) {
  title(root, "Quality");
  const q = await api.get("quality");
  const s = q.summary;
  const empty = await whenEmpty(s);
  if (empty) {
    root.append(empty);
    return;
  }
  // scores carry no route or model: they follow the filters through a user, customer or session filter (the
  // scores of that person's traces matching every filter), else the range alone (scores_filtered_by)
  const followed = q.scores_filtered_by || [];
  const ignored = state.DIMENSIONS.filter((k) => state.filters()[k] && !followed.includes(k));
  const scoreNote = ignored.length
    ? `whole project, not filtered by ${ignored.join(", ")}: scores follow the filters only with a user, customer or session filter`
    : followed.length ? `scores of the traces matching ${followed.join(", ")} · ${state.rangeLabel()}` : state.rangeLabel();
  const feedback = q.feedback || [];
  const main = feedback[0];
  root.append(grid("kpis",
    main
      ? kpi(`Positive ${main.name}`, pct(main.count ? main.positive / main.count : null),
        main.count ? main.positive / main.count : null, { testid: "kpi-feedback",
          sub: `${count(main.positive)} of ${count(main.count)} scores above 0 · mean ${main.mean ?? "–"}` +
            (ignored.length ? " · whole project" : "") })
      : followed.length ? kpi("Feedback", "none", null, { testid: "kpi-feedback", sub: "no scores match these filters" })
        : kpi("Feedback", "none yet", null, { testid: "kpi-feedback", sub: "send it with tokentrail.feedback(value)" }),
    kpi("Schema-valid rate", pct(s.schema_valid_rate), s.schema_valid_rate, { testid: "kpi-schema-valid",
      tone: s.schema_valid_rate !== null && s.schema_valid_rate < 0.95 ? "warn" : null,
      sub: s.schema_checked ? `${count(s.schema_checked - s.schema_valid)} invalid of ${count(s.schema_checked)} checked`
        : "no calls were validated" }),
    kpi("Cache-hit rate", pct(s.cache_hit_rate), s.cache_hit_rate, { testid: "kpi-cache-hit",
      sub: `responses served from cache · ${pct(s.input_tokens ? s.cached_input_tokens / s.input_tokens : null)} of input tokens from prompt cache` }),
    kpi("Requests", count(s.requests), s.requests, { testid: "kpi-requests", sub: "LLM and embedding calls" })));

  const fb = panel("Feedback and scores", { testid: "panel-feedback", subtitle: scoreNote });
  const overTime = panel("Scores over time", { testid: "panel-scores-over-time",
    subtitle: ignored.length ? scoreNote : "mean score per interval" });
  const rates = panel("Schema-valid and cache-hit rate", { testid: "panel-quality-rates" });
  const lengths = panel("Output length", { testid: "panel-output-length",
    subtitle: "successful LLM calls by output tokens" });
  const finishes = panel("Finish reasons", { testid: "panel-finish-reasons",
    subtitle: "LLM calls by how the answer ended (canonical; click to see those calls)" });
  const redacted = panel("PII redacted", { testid: "panel-redactions",
    subtitle: "values replaced by a placeholder before storage, per type" });
  const low = panel("Thumbs-down and low scores", { testid: "panel-low-scores",
    subtitle: (ignored.length ? `${scoreNote} · ` : "") +
      "the most recent, each with its trace: click one to see what the model was asked and answered" });
  root.append(grid("two", fb.el, overTime.el), low.el, grid("two", rates.el, lengths.el),
    grid("two", finishes.el, redacted.el));
  const ts = api.get("metrics/timeseries", { metric: "requests,schema_checked,schema_valid,cache_hits" });
  await Promise.all([
    fill(fb.body, async () => feedbackTable(feedback, followed.length > 0)),
    fill(low.body, async () => lowScoresTable(q.low_scores || { rows: [], total: 0 })),
    fill(overTime.body, async () => scoresChart(q.scores_over_time || [])),
    fill(rates.body, async () => ratesChart(await ts)),
    fill(lengths.body, async () => lengthChart(q.output_length)),
    fill(finishes.body, async () => finishTable(q.finish_reasons || [])),
    fill(redacted.body, async () => redactionTable(q.redactions || [])),
  ]);
}

function redactionTable(rows) {
  if (!rows.length) return h("p", { class: "empty-inline", testid: "redactions-empty" }, "No PII was redacted in this range.");
  return table([
    { label: "type", value: (r) => h("code", {}, `<${r.type}>`), raw: (r) => r.type, cls: "key" },
    { label: "values", num: true, value: (r) => count(r.values), raw: (r) => r.values, testid: "cell-values" },
    { label: "spans", num: true, value: (r) => count(r.spans), raw: (r) => r.spans },
  ], rows, { testid: "redactions-table" });
}

function feedbackTable(rows, filtered) {
  if (!rows.length && filtered) {
    return h("p", { class: "empty-inline", testid: "feedback-empty" },
      "No scores on the traces matching these filters in this range.");
  }
  if (!rows.length) {
    return h("div", { class: "empty small", testid: "feedback-empty" }, h("h3", {}, "No feedback or scores yet"),
      h("p", {}, "Record a user's thumbs up or down with ", h("code", {}, "tokentrail.feedback(True)"),
        ", or POST scores to ", h("code", {}, "/api/scores"), "; eval runs add theirs here too."));
  }
  return table([
    { label: "score", value: (r) => r.name, cls: "key" },
    { label: "count", num: true, value: (r) => count(r.count), raw: (r) => r.count, testid: "cell-count" },
    { label: "mean", num: true, value: (r) => (r.mean === null ? "–" : String(r.mean)), raw: (r) => r.mean },
    { label: "positive", value: (r) => bar(r.positive, r.count, pct(r.count ? r.positive / r.count : null), "good"),
      cls: "bar-col" },
    { label: "labels", value: (r) => Object.entries(r.labels || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) =>
      badge(`${k} ${count(v)}`, /down|bad|wrong|fail/i.test(k) ? "bad" : /up|good|correct|pass/i.test(k) ? "good" : "neutral")) },
  ], rows, { testid: "feedback-table" });
}

/** Low scores linked to their traces (feedback -> trace: what was asked, what was answered). */
function lowScoresTable(low) {
  if (!low.rows.length) {
    return h("p", { class: "empty-inline", testid: "low-scores-empty" },
      "No thumbs-down or low scores in this range.");
  }
  const traceHref = (r) => (r.trace_id ? state.href(`traces/${r.trace_id}`) : null);
  return [
    low.total > low.rows.length ? h("p", { class: "muted small" }, `the ${low.rows.length} most recent of ${count(low.total)}`) : null,
    table([
      { label: "when", value: (r) => dateTime(r.timestamp) },
      { label: "score", value: (r) => r.name, cls: "key" },
      { label: "value", num: true, value: (r) => (r.value === null ? "–" : String(r.value)), testid: "cell-low-value" },
      { label: "label", value: (r) => (r.label ? badge(r.label, "bad") : "–") },
      { label: "source", value: (r) => r.source || "–" },
      { label: "comment", value: (r) => r.comment || "" },
      { label: "trace", value: (r) => (r.trace_id ? h("a", { href: traceHref(r), "data-nav": true, testid: "low-score-trace" },
        h("code", {}, r.trace_id.slice(0, 12) + "…")) : h("span", { class: "muted" }, "span not stored")) },
    ], low.rows, { testid: "low-scores-table", rowTestid: "low-score-row", href: traceHref }),
  ];
}

/**
 * Scores arrive as (t, name, count, mean) rows for the buckets that have any. Lay them on a
 * grid of at most ~40 buckets (feedback is sparse: means of 1-2 scores only make noise).
 */
function scoresChart(rows) {
  if (!rows.length) return h("p", { class: "empty-inline" }, "No scores in this range.");
  const ms = [...new Set(rows.map((r) => parseTime(r.t).getTime()))].sort((a, b) => a - b);
  let stepMs = Infinity;
  for (let i = 1; i < ms.length; i++) stepMs = Math.min(stepMs, ms[i] - ms[i - 1]);
  if (!Number.isFinite(stepMs) || stepMs <= 0) stepMs = 3600_000;
  const start = ms[0];
  stepMs *= Math.max(1, Math.ceil((ms[ms.length - 1] - start) / stepMs / 40));
  const n = Math.floor((ms[ms.length - 1] - start) / stepMs) + 1;
  const names = [...new Set(rows.map((r) => r.name))];
  const series = names.map((name, k) => {
    const sums = Array(n).fill(0);
    const counts = Array(n).fill(0);
    for (const r of rows) {
      if (r.name !== name || r.mean === null) continue;
      const i = Math.floor((parseTime(r.t).getTime() - start) / stepMs);
      sums[i] += r.mean * r.count;
      counts[i] += r.count;
    }
    return { name, values: sums.map((v, i) => (counts[i] ? v / counts[i] : null)), color: PALETTE[k % PALETTE.length] };
  });
  const grid = Array.from({ length: n }, (_, i) => start + i * stepMs);
  return chart({ x: { times: grid.map((t) => new Date(t).toISOString()), step: stepMs / 1000 }, type: "line",
    height: 210, testid: "chart-scores", format: (v) => (v === null ? "–" : (Math.round(v * 1000) / 1000).toString()),
    series, legend: true, zeroIsData: true });
}

function ratesChart(ts) {
  const reqs = seriesValues(ts, "requests");
  const checked = seriesValues(ts, "schema_checked");
  const valid = seriesValues(ts, "schema_valid");
  const hits = seriesValues(ts, "cache_hits");
  return chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "line", height: 210, testid: "chart-rates",
    format: pct, axisFormat: pctAxis, legend: true, onClick: drillToTraces(ts),
    series: [
      { name: "schema valid", values: checked.map((c, i) => (c ? valid[i] / c : null)), color: "#10b981" },
      { name: "cache hits", values: reqs.map((r, i) => (r ? hits[i] / r : null)), color: "#a855f7" },
    ] });
}

/** "17-32" -> "≤32", "1025-2048" -> "≤2k": short axis labels; the read-out has the full range. */
function shortLabel(label) {
  const m = /^(\d+)-(\d+)$/.exec(label) || /^>(\d+)$/.exec(label);
  if (!m) return label;
  const k = (v) => (Number(v) >= 1024 ? `${Math.round(Number(v) / 1024)}k` : v);
  return m.length === 3 ? `≤${k(m[2])}` : `>${k(m[1])}`;
}

function lengthChart(buckets) {
  const total = buckets.reduce((a, b) => a + b.count, 0);
  return [h("div", { class: "mini-head" }, h("span", {}, "calls counted"), h("b", { testid: "output-length-total" }, count(total))),
    chart({ x: { labels: buckets.map((b) => shortLabel(b.label)), tips: buckets.map((b) => `${b.label} output tokens`) },
      type: "bar", height: 200, testid: "chart-output-length",
      format: count, series: [{ name: "calls", values: buckets.map((b) => b.count), color: "#6366f1" }] })];
}

const FINISH_TONE = { stop: "good", tool_calls: "neutral", length: "warn", content_filter: "bad", error: "bad" };
const FINISH_NOTE = {
  stop: "the model ended its answer", length: "cut by the token limit", tool_calls: "asked for tools",
  content_filter: "refused or filtered", error: "the call failed", other: "another reason", none: "not recorded",
};

function finishTable(rows) {
  const total = rows.reduce((a, r) => a + r.count, 0);
  if (!total) return h("p", { class: "empty-inline" }, "No LLM calls in this range.");
  return table([
    { label: "finish", value: (r) => badge(r.finish, FINISH_TONE[r.finish] || "neutral"), cls: "key" },
    { label: "meaning", value: (r) => FINISH_NOTE[r.finish] || "" },
    { label: "calls", num: true, value: (r) => count(r.count), raw: (r) => r.count, testid: "cell-finish-count" },
    { label: "share", value: (r) => bar(r.count, total, pct(r.count / total), FINISH_TONE[r.finish] === "good" ? "good" : ""),
      cls: "bar-col" },
  ], rows.filter((r) => r.count > 0), { testid: "finish-table",
    href: (r) => (r.finish === "none" ? null : state.href("traces", { finish: r.finish })) });
}
