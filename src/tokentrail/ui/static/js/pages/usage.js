// Usage: request volume, input/output tokens per minute, by route and by model; spikes show
// up as peaks in the per-minute charts (click one to see its traces).

import * as api from "../api.js";
import { chart, COLORS, groupSeries, seriesValues } from "../charts.js";
import { fill, kpi, panel } from "../dom.js";
import { count, pct, plural, step } from "../fmt.js";
import * as state from "../state.js";
import { breakdownTable, brushToExplain, drillToTraces, grid, title, whenEmpty, whyLink } from "./common.js";

// what the usage tables show (a breakdown merges a latency sketch per row it reads: ask only for these)
const USAGE_METRICS = "requests,input_tokens,output_tokens,latency_ms,errors";

export default async function usage(root) {
  title(root, "Usage");
  const summary = await api.get("metrics/summary",  // what its tiles show (no latency: sketches are the slow part of a long range)
    { metric: "requests,input_tokens,output_tokens,cached_input_tokens,streamed,users" });
  const empty = await whenEmpty(summary);
  if (empty) {
    root.append(empty);
    return;
  }
  const minutes = state.rangeSeconds() / 60;
  root.append(grid("kpis",
    kpi("Requests", count(summary.requests), summary.requests, { testid: "kpi-requests",
      sub: `${count(round1(summary.requests / minutes))} per minute on average` }),
    kpi("Input tokens", count(summary.input_tokens), summary.input_tokens, { testid: "kpi-input-tokens",
      sub: `${count(Math.round(summary.input_tokens / minutes))} per minute · ${count(summary.cached_input_tokens)} cached` }),
    kpi("Output tokens", count(summary.output_tokens), summary.output_tokens, { testid: "kpi-output-tokens",
      sub: `${count(Math.round(summary.output_tokens / minutes))} per minute` }),
    kpi("Tokens per request", count(Math.round((summary.input_tokens + summary.output_tokens) / summary.requests)),
      null, { testid: "kpi-tokens-per-request", sub: "input + output, average" }),
    kpi("Streamed", pct(summary.streamed_rate), summary.streamed_rate, { testid: "kpi-streamed",
      sub: "of requests" }),
    summary.users !== undefined
      ? kpi("Users", count(summary.users), summary.users, { testid: "kpi-users", sub: plural(summary.sessions, "session") })
      : kpi("Users", "–", null, { testid: "kpi-users", sub: "counted for ranges up to a day" })));

  const reqs = panel("Requests per minute", { testid: "panel-requests-per-minute", actions: whyLink("requests") });
  const tokens = panel("Tokens per minute", { testid: "panel-tokens-per-minute", actions: whyLink("tokens") });
  const byRoute = panel("Requests by route", { testid: "panel-requests-by-route", actions: whyLink("requests", "why-requests-route") });
  const byModel = panel("Requests by model", { testid: "panel-requests-by-model", actions: whyLink("requests", "why-requests-model") });
  const routeTable = panel("Routes", { testid: "panel-usage-routes", subtitle: "tokens and latency per route" });
  const modelTable = panel("Models", { testid: "panel-usage-models" });
  root.append(grid("two", reqs.el, tokens.el), grid("two", byRoute.el, byModel.el), grid("one", routeTable.el),
    grid("one", modelTable.el));

  const total = api.get("metrics/timeseries", { metric: "requests,input_tokens,output_tokens" });
  const grouped = (by) => api.get("metrics/timeseries", { metric: "requests", group_by: by, top: 7 });
  await Promise.all([
    fill(reqs.body, async () => perMinute(await total, reqs)),
    fill(tokens.body, async () => tokensChart(await total)),
    fill(byRoute.body, async () => stackedChart(await grouped("route"), "chart-requests-by-route")),
    fill(byModel.body, async () => stackedChart(await grouped("model"), "chart-requests-by-model")),
    fill(routeTable.body, async () => breakdownTable(
      await api.get("metrics/breakdown", { by: "route", order: "requests", limit: 15, metric: USAGE_METRICS }),
      { testid: "usage-by-route", columns: "usage", limit: 15 })),
    fill(modelTable.body, async () => breakdownTable(
      await api.get("metrics/breakdown", { by: "model", order: "requests", limit: 15, metric: USAGE_METRICS }),
      { testid: "usage-by-model", columns: "usage", limit: 15 })),
  ]);
}

function round1(v) {
  return v >= 10 ? Math.round(v) : Math.round(v * 10) / 10;
}

function perMinuteOf(ts, values) {
  const per = ts.step_seconds / 60;
  return values.map((v) => (typeof v === "number" ? v / per : v));
}

function perMinute(ts, p) {
  p.el.querySelector(".panel-head div").append(Object.assign(document.createElement("p"),
    { className: "subtitle", textContent: `average over each ${step(ts.step_seconds)}; click a peak to see its traces` }));
  return chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "area", height: 200,
    testid: "chart-requests-per-minute", format: (v) => count(round1(v)), onClick: drillToTraces(ts),
    onBrush: brushToExplain(ts, "requests"),
    series: [{ name: "requests / min", values: perMinuteOf(ts, seriesValues(ts, "requests")), color: COLORS.requests }] });
}

function tokensChart(ts) {
  return chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "line", height: 200,
    testid: "chart-tokens-per-minute", format: (v) => count(Math.round(v)), onClick: drillToTraces(ts),
    onBrush: brushToExplain(ts, "tokens"),
    series: [
      { name: "input tokens / min", values: perMinuteOf(ts, seriesValues(ts, "input_tokens")), color: COLORS.input },
      { name: "output tokens / min", values: perMinuteOf(ts, seriesValues(ts, "output_tokens")), color: COLORS.output },
    ] });
}

function stackedChart(ts, testid) {
  const series = groupSeries(ts, "requests");
  return chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "area", stacked: true, height: 220,
    testid, format: count, series, legend: true, onClick: drillToTraces(ts), onBrush: brushToExplain(ts, "requests") });
}
