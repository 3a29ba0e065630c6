// Traces: search with the filters, newest / costliest / slowest first; a row opens the trace.

import * as api from "../api.js";
import { badge, bar, h, table } from "../dom.js";
import { count, dateTime, ms } from "../fmt.js";
import * as state from "../state.js";
import { costText, title, whenEmpty } from "./common.js";

const LIMIT = 50;
const ORDERS = [["start_time", "Newest"], ["cost", "Costliest"], ["duration", "Slowest"]];

export default async function traces(root) {
  title(root, "Traces");
  const order = state.option("order", "start_time");
  const offset = Math.max(0, Number(state.option("offset", "0")) || 0);
  root.append(controls(order));
  const doc = await api.get("traces", { order, offset, limit: LIMIT });
  const rows = doc.traces;
  if (!rows.length && offset === 0) {
    root.append((await whenEmpty({ requests: 0 })) || h("p", {}, "No traces."));
    return;
  }
  const maxDur = Math.max(0, ...rows.map((r) => r.duration_ms));
  root.append(h("section", { class: "panel" }, table([
    { label: "time", value: (r) => dateTime(r.start_time), cls: "nowrap" },
    { label: "trace", value: (r) => h("span", { class: "trace-name" }, r.name || r.trace_id.slice(0, 12)), cls: "key" },
    { label: "route", value: (r) => r.route || "–", cls: "nowrap" },
    { label: "models", value: (r) => (r.models || []).join(", ") || "–", cls: "models ellipsis" },
    { label: "user", value: (r) => r.user_id || "–", cls: "nowrap" },
    { label: "spans", num: true, value: (r) => count(r.spans), raw: (r) => r.spans, title: "spans (LLM calls)" },
    { label: "duration", value: (r) => bar(r.duration_ms, maxDur, ms(r.duration_ms), "muted"), raw: (r) => r.duration_ms,
      cls: "bar-col narrow" },
    { label: "tokens in / out", num: true, value: (r) => `${count(r.input_tokens)} / ${count(r.output_tokens)}` },
    { label: "cost", num: true, value: (r) => costText(r.cost_usd, r.unpriced, true), raw: (r) => r.cost_usd,
      testid: "cell-cost" },
    { label: "status", value: (r) => (r.status === "error" ? badge("error", "bad") : badge("ok", "good")) },
  ], rows, { testid: "traces-table", rowTestid: "trace-row", empty: "No more traces.",
    href: (r) => state.href(`traces/${r.trace_id}`) })));
  root.append(pager(offset, rows.length));
}

function controls(order) {
  const f = state.filters();
  const find = h("input", { type: "search", placeholder: "go to trace id (32 hex)", size: 34, testid: "trace-id-input",
    onkeydown: (e) => {
      const id = e.target.value.trim().toLowerCase();
      if (e.key === "Enter" && /^[0-9a-f]{32}$/.test(id)) state.navigate(state.href(`traces/${id}`));
    } });
  return h("div", { class: "toolbar" },
    h("div", { class: "segmented", testid: "trace-order" }, ORDERS.map(([v, label]) =>
      h("button", { type: "button", class: v === order ? "active" : null, dataset: { order: v },
        onclick: () => state.update({ order: v === "start_time" ? null : v, offset: null }) }, label))),
    h("label", { class: "check" }, h("input", { type: "checkbox", checked: f.status === "error", testid: "errors-only",
      onchange: (e) => state.update({ status: e.target.checked ? "error" : null, offset: null }) }), "Errors only"),
    h("span", { class: "spacer" }),
    find);
}

function pager(offset, n) {
  const prev = offset > 0 ? state.href("traces", { ...pageOptions(), offset: Math.max(0, offset - LIMIT) || null }) : null;
  const next = n === LIMIT ? state.href("traces", { ...pageOptions(), offset: offset + LIMIT }) : null;
  return h("div", { class: "pager", testid: "pager" },
    prev ? h("a", { href: prev, "data-nav": true, class: "button" }, "← Previous") : null,
    h("span", { class: "muted" }, n ? `traces ${count(offset + 1)}–${count(offset + n)}` : "no more traces"),
    next ? h("a", { href: next, "data-nav": true, class: "button", testid: "next-page" }, "Next →") : null);
}

function pageOptions() {
  const order = state.option("order");
  return order ? { order } : {};
}
