// Cost: daily and weekly spend, against the budget; which route, model, user, customer costs
// most; cost per 1,000 requests; models without a price (never silently counted as $0).

import * as api from "../api.js";
import { chart, COLORS, groupSeries, seriesValues } from "../charts.js";
import { fill, h, kpi, panel } from "../dom.js";
import { count, day, pct, plural, step, usd, usdAxis } from "../fmt.js";
import * as state from "../state.js";
import { breakdownTable, brushToExplain, drillToTraces, familyTable, grid, title, whenEmpty, whyLink } from "./common.js";

const DAY = 86400;

export default async function cost(root) {
  title(root, "Cost");
  const summary = await api.get("metrics/summary", { metric: "requests,cost_usd" });  // what its tiles show
  const empty = await whenEmpty(summary);
  if (empty) {
    root.append(empty);
    return;
  }
  const f = state.filters();
  const project = f.project ? { project: f.project } : {};
  const [budget, pricing] = await Promise.all([
    api.get("cost", { range: "1d" }, project).then((c) => c.budget),
    api.get("pricing"),
  ]);
  root.append(kpis(summary, budget));
  if (pricing.reload_error) {
    root.append(h("div", { class: "warning", testid: "price-file-error" },
      h("strong", {}, "⚠ The price file could not be reloaded; the previous prices are still in use. "),
      pricing.reload_error));
  }
  const unpriced = unpricedWarning(summary, pricing.unpriced_models || []);
  if (unpriced) root.append(unpriced);

  const daily = panel("Daily spend", { testid: "panel-daily", subtitle: "up to the last 30 days, UTC days" });
  const weekly = panel("Weekly spend", { testid: "panel-weekly",
    subtitle: "up to the last 12 weeks, weeks start Monday (UTC)" });
  const byRouteTime = panel("Spend by route", { testid: "panel-cost-by-route-time", actions: whyLink("cost_usd") });
  const per1k = panel("Cost per 1,000 requests", { testid: "panel-cost-per-1k" });
  root.append(grid("two", daily.el, weekly.el), grid("two", byRouteTime.el, per1k.el));
  const tables = ["route", "model", "user", "customer"].map((by) => panel(
    { route: "By route", model: "By model", user: "Top users", customer: "Top customers" }[by],
    { testid: `panel-cost-by-${by}`, subtitle: by === "model"
      ? `${state.rangeLabel()} · by model family, with its versions`
      : state.rangeLabel() }));
  root.append(grid("two", ...tables.map((t) => t.el)));
  // models by family: gpt-4o-mini and gpt-4o-mini-2024-07-18 are one model, listed with its versions
  const by = (i) => ["route", "model_family", "user", "customer"][i];

  const long = longRange();
  const days = api.get("metrics/timeseries", { metric: "cost_usd,requests", step: DAY, ...long });
  const byRoute = api.get("metrics/timeseries", { metric: "cost_usd,requests,unpriced", group_by: "route", top: 6 });
  await Promise.all([
    fill(daily.body, async () => dailyChart(await days, budget)),
    fill(weekly.body, async () => weeklyChart(await days)),
    fill(byRouteTime.body, async () => routeChart(await byRoute, byRouteTime)),
    fill(per1k.body, async () => per1kChart(await byRoute)),
    ...tables.map((t, i) => fill(t.body, async () => {
      const doc = await api.get("metrics/breakdown", { by: by(i), order: "cost_usd", limit: 10,
        metric: "requests,cost_usd,unpriced" });
      const testid = `cost-by-${["route", "model", "user", "customer"][i]}`;
      return by(i) === "model_family" ? familyTable(doc, { testid, page: "cost", total: summary.cost_usd })
        : breakdownTable(doc, { testid, total: summary.cost_usd });
    })),
  ]);
}

/** At least 12 weeks (84 days) for the daily and weekly charts, whatever shorter range is picked. */
function longRange() {
  if (state.rangeSeconds() >= 84 * DAY) return {};
  return { range: "84d", since: null, until: null };
}

function kpis(s, b) {
  const scoped = state.DIMENSIONS.some((k) => state.filters()[k]);
  const whole = scoped ? "whole project (filters do not apply)" : null;
  const budgetTile = b.daily_budget_usd
    ? kpi("Today vs budget", `${usd(b.today_usd)} of ${usd(b.daily_budget_usd)}`, b.today_usd, {
      testid: "kpi-budget", tone: b.today_ratio > 1 ? "bad" : b.today_ratio > 0.8 ? "warn" : "good",
      sub: h("div", { class: "meter" }, h("div", { style: { width: Math.min(100, 100 * b.today_ratio) + "%" } }),
        h("span", {}, `${pct(b.today_ratio)} of the daily budget (UTC day)`)) })
    : kpi("Today (UTC)", usd(b.today_usd), b.today_usd, { testid: "kpi-budget",
      sub: whole || h("span", {}, "No budget set: ", h("code", {}, "TOKENTRAIL_BUDGET_DAILY_USD")) });
  return grid("kpis",
    kpi("Spend", usd(s.cost_usd), s.cost_usd, { testid: "kpi-cost", sub: plural(s.requests, "request") }),
    kpi("Cost per 1,000 requests", usd(s.cost_per_1k_requests), s.cost_per_1k_requests, { testid: "kpi-cost-per-1k",
      sub: s.unpriced > 0 ? "average over the range's priced calls" : "average over the range" }),
    budgetTile,
    kpi("This month so far", usd(b.month_to_date_usd), b.month_to_date_usd, { testid: "kpi-month",
      sub: whole || (b.month_budget_usd ? `budget ${usd(b.month_budget_usd)}` : "all routes and models") }),
    kpi("Projected this month", usd(b.projected_month_usd), b.projected_month_usd, { testid: "kpi-projected",
      tone: b.month_budget_usd && b.projected_month_usd > b.month_budget_usd ? "bad" : null,
      sub: whole || "at this month's daily average" }));
}

function unpricedWarning(s, models) {
  if (!(s.unpriced > 0)) return null;
  return h("div", { class: "warning", testid: "unpriced-warning" },
    h("strong", {}, `⚠ ${plural(s.unpriced, "call")} ${s.unpriced === 1 ? "has" : "have"} no price and ${s.unpriced === 1 ? "is" : "are"} not in these totals. `),
    models.length ? h("span", {}, "Models without a price in this project: ", models.map((m, i) => [i ? ", " : "",
      h("code", { testid: "unpriced-model" }, m.model), ` (${m.provider || "?"}, ${plural(m.calls, "call")})`])) : null,
    h("div", { class: "muted" }, "Add them to your price file (", h("code", {}, "TOKENTRAIL_PRICES_FILE"),
      "); then ", h("code", {}, "tokentrail recompute-costs"), " prices the past calls too."));
}

/** The last `n` days, from the first with any data (at least `min` days). */
function lastDays(ts, n, min = 7) {
  const reqs = seriesValues(ts, "requests");
  const firstData = reqs.findIndex((v) => v > 0);
  const len = ts.timestamps.length;
  const from = Math.min(Math.max(0, len - min), Math.max(len - n, firstData < 0 ? len : firstData));
  return { labels: ts.timestamps.slice(from).map((t) => day(t.slice(0, 10))),
    cost: seriesValues(ts, "cost_usd").slice(from), requests: seriesValues(ts, "requests").slice(from) };
}

function dailyChart(ts, budget) {
  const d = lastDays(ts, 30);
  const total = d.cost.reduce((a, v) => a + v, 0);
  return [h("div", { class: "mini-head" }, h("span", {}, "30-day total"), h("b", { testid: "daily-total" }, usd(total))),
    chart({ x: { labels: d.labels }, type: "bar", height: 200, testid: "chart-daily", format: usd, axisFormat: usdAxis,
      series: [{ name: "spend", values: d.cost, color: COLORS.cost }],
      refLine: budget.daily_budget_usd ? { value: budget.daily_budget_usd, label: `budget ${usd(budget.daily_budget_usd)}` } : null })];
}

/** Sum UTC days into weeks starting Monday. */
function weeks(ts) {
  const out = new Map();
  const cost = seriesValues(ts, "cost_usd");
  const reqs = seriesValues(ts, "requests");
  ts.timestamps.forEach((t, i) => {
    const d = new Date(t.slice(0, 10) + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    const key = d.toISOString().slice(0, 10);
    const w = out.get(key) || { cost: 0, requests: 0 };
    w.cost += cost[i] || 0;
    w.requests += reqs[i] || 0;
    out.set(key, w);
  });
  const all = [...out.entries()];
  const first = all.findIndex(([, w]) => w.requests > 0);
  return all.slice(Math.min(Math.max(0, all.length - 4), Math.max(all.length - 12, first < 0 ? all.length : first)));
}

function weeklyChart(ts) {
  const w = weeks(ts);
  const last = w.length ? w[w.length - 1][1].cost : 0;
  return [h("div", { class: "mini-head" }, h("span", {}, "This week so far"), h("b", {}, usd(last))),
    chart({ x: { labels: w.map(([k]) => day(k)), tips: w.map(([k]) => "week of " + day(k)) }, type: "bar",
      height: 200, testid: "chart-weekly", format: usd, axisFormat: usdAxis, series: [{ name: "spend", values: w.map(([, v]) => v.cost), color: "#0d9488" }] })];
}

function routeChart(ts, p) {
  p.el.querySelector(".panel-head h2").textContent = `Spend by route, per ${step(ts.step_seconds)}`;
  const series = groupSeries(ts, "cost_usd");
  return chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "bar", stacked: true, height: 220,
    testid: "chart-cost-by-route", format: (v) => usd(v, true), axisFormat: usdAxis, series, onClick: drillToTraces(ts, { order: "cost" }),
    onBrush: brushToExplain(ts, "cost_usd"),
    clickHint: "click to see the costliest traces then" });
}

/** Cost per 1,000 priced calls in each interval (as the KPI): a call without a price has no known cost, so an
 * interval whose calls are all unpriced is a gap, not $0. */
function per1kChart(ts) {
  const n = ts.timestamps.length;
  const cost = Array(n).fill(0);
  const priced = Array(n).fill(0);
  for (const sr of ts.series) {
    sr.metrics.cost_usd.forEach((v, i) => { cost[i] += v || 0; });
    sr.metrics.requests.forEach((v, i) => { priced[i] += (v || 0) - (sr.metrics.unpriced[i] || 0); });
  }
  const values = cost.map((c, i) => (priced[i] > 0 ? (1000 * c) / priced[i] : null));
  return chart({ x: { times: ts.timestamps, step: ts.step_seconds }, type: "line", height: 220,
    testid: "chart-cost-per-1k", format: usd, axisFormat: usdAxis, series: [{ name: "cost per 1,000 requests", values, color: COLORS.cost }] });
}
