// Users and customers: who uses most, who costs most, who sees errors; a row opens their traces.

import * as api from "../api.js";
import { bar, h, table } from "../dom.js";
import { ago, count, usd } from "../fmt.js";
import * as state from "../state.js";
import { pager, title, whenEmpty } from "./common.js";

const LIMIT = 100;
const ORDERS = [["cost", "Cost"], ["requests", "Requests"], ["tokens", "Tokens"], ["errors", "Errors"]];

export default async function users(root) {
  title(root, "Users");
  const by = state.option("by", "user") === "customer" ? "customer" : "user";
  const order = ORDERS.some(([v]) => v === state.option("order")) ? state.option("order") : "cost";
  root.append(h("div", { class: "toolbar" },
    h("div", { class: "segmented", testid: "users-by" }, [["user", "By user"], ["customer", "By customer"]].map(([v, label]) =>
      h("button", { type: "button", class: v === by ? "active" : null, dataset: { by: v },
        onclick: () => state.update({ by: v === "user" ? null : v, offset: null }) }, label))),
    h("span", { class: "toolbar-label" }, "sorted by"),
    h("div", { class: "segmented", testid: "users-order" }, ORDERS.map(([v, label]) =>
      h("button", { type: "button", class: v === order ? "active" : null, dataset: { order: v },
        onclick: () => state.update({ order: v === "cost" ? null : v, offset: null }) }, label)))));
  const offset = Math.max(0, Number(state.option("offset", "0")) || 0);
  const doc = await api.get("users", { by, order, limit: LIMIT, offset });
  if (!doc.rows.length && offset === 0) {
    const empty = await whenEmpty(await api.get("metrics/summary", { metric: "requests" }));
    root.append(empty || h("div", { class: "empty", testid: "empty-state" }, h("h3", {}, `No ${by}s in this range`),
      h("p", {}, "Calls are attributed when they carry ", h("code", {}, by === "user" ? "user.id" : "tokentrail.customer"),
        " (SDK: ", h("code", {}, `tokentrail.context(${by === "user" ? "user_id" : "customer"}=...)`), ").")));
    return;
  }
  const rows = doc.rows;
  const max = { cost: "cost_usd", requests: "requests", tokens: "tokens", errors: "errors" }[order];
  const top = Math.max(0, ...rows.map((r) => r[max]));
  const shown = (key, text, r) => (max === key ? bar(r[key], top, text) : text);
  root.append(h("section", { class: "panel" }, table([
    { label: by, value: (r) => r.key, cls: "key" },
    { label: "cost", value: (r) => shown("cost_usd", usd(r.cost_usd), r), raw: (r) => r.cost_usd, testid: "cell-cost",
      cls: max === "cost_usd" ? "bar-col" : "num" },
    { label: "requests", value: (r) => shown("requests", count(r.requests), r), raw: (r) => r.requests,
      testid: "cell-requests", cls: max === "requests" ? "bar-col" : "num" },
    { label: "tokens", value: (r) => shown("tokens", count(r.tokens), r), raw: (r) => r.tokens,
      cls: max === "tokens" ? "bar-col" : "num" },
    { label: "errors", value: (r) => shown("errors", count(r.errors), r), raw: (r) => r.errors,
      cls: max === "errors" ? "bar-col" : "num" },
    { label: "sessions", num: true, value: (r) => count(r.sessions) },
    // over priced calls only: a call of a model without a price has no known cost ("–" when none has one)
    { label: "cost / request", num: true, testid: "cell-cost-per-request",
      value: (r) => (r.cost_per_request == null ? "–" : usd(r.cost_per_request)) },
    { label: "last seen", value: (r) => ago(r.last_seen), cls: "nowrap" },
  ], rows, { testid: "users-table", rowTestid: "user-row", href: (r) => state.href("traces", { [by]: r.key }) })));
  const keep = { by: by === "user" ? null : by, order: order === "cost" ? null : order };
  root.append(pager("users", { offset, n: rows.length, limit: LIMIT, noun: by === "user" ? "users" : "customers", keep }));
}
