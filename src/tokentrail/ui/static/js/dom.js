// Small DOM helpers: elements from data (text is always set as text, never parsed as HTML),
// panels, KPI tiles, tables, empty and error states.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "testid") el.dataset.testid = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A card with a title; returns {el, body}. */
export function panel(title, { subtitle, testid, actions, cls = "" } = {}) {
  const body = h("div", { class: "panel-body" }, loading());
  const el = h("section", { class: `panel ${cls}`, testid },
    h("header", { class: "panel-head" },
      h("div", {}, h("h2", {}, title), subtitle ? h("p", { class: "subtitle" }, subtitle) : null),
      actions ? h("div", { class: "panel-actions" }, actions) : null),
    body);
  return { el, body };
}

export function loading() {
  return h("div", { class: "loading", testid: "loading" }, "Loading…");
}

/** A headline number. `raw` goes to data-value so tests can compare it with the API. */
export function kpi(label, text, raw, { testid, sub, tone, title } = {}) {
  return h("div", { class: `kpi ${tone ? "tone-" + tone : ""}`, testid, title },
    h("div", { class: "kpi-label" }, label),
    h("div", { class: "kpi-value", testid: testid ? testid + "-value" : null,
      dataset: { value: raw === null || raw === undefined ? "" : String(raw) } }, text),
    sub ? h("div", { class: "kpi-sub" }, sub) : null);
}

export function badge(text, tone = "neutral", attrs = {}) {
  return h("span", { class: `badge badge-${tone}`, ...attrs }, text);
}

/**
 * A table from column specs: {label, value: row => node|text, num: bool, raw: row => number}.
 * `href(row)` makes each row a link (the first cell holds the anchor; the row is clickable).
 */
export function table(columns, rows, { testid, href, rowTestid = "row", empty = "Nothing here." } = {}) {
  if (!rows.length) return h("p", { class: "empty-inline", testid: testid ? testid + "-empty" : null }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null, title: c.title }, c.label)));
  const body = rows.map((row) => {
    const link = href ? href(row) : null;
    const cells = columns.map((c, i) => {
      let content = c.value(row);
      if (i === 0 && link) content = h("a", { href: link, "data-nav": true }, content);
      return h("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null,
        dataset: c.raw ? { value: String(c.raw(row) ?? "") } : null, testid: c.testid }, content);
    });
    const tr = h("tr", { testid: rowTestid, class: link ? "clickable" : null }, cells);
    if (link) tr.dataset.href = link;
    return tr;
  });
  return h("div", { class: "table-wrap" }, h("table", { class: "data", testid }, h("thead", {}, head),
    h("tbody", {}, body)));
}

/** A share bar inside a table cell: width = value / max. */
export function bar(value, max, text, tone = "accent") {
  const w = max > 0 && value > 0 ? Math.max(1.5, (100 * value) / max) : 0;
  return h("div", { class: "cell-bar" }, h("div", { class: `cell-bar-fill fill-${tone}`, style: { width: w + "%" } }),
    h("span", {}, text));
}

/** What a new user should do next, when there is nothing to show. */
export function emptyState(title, ...body) {
  return h("div", { class: "empty", testid: "empty-state" }, h("h3", {}, title), ...body);
}

export function errorBox(err) {
  const status = err && err.status ? ` (HTTP ${err.status})` : "";
  return h("div", { class: "error-box", testid: "error" },
    h("strong", {}, "Could not load this" + status + ": "), String((err && err.message) || err));
}

export function code(text) {
  return h("code", {}, text);
}

/** Fill `body` with the result of `build()` (a node or nodes), or an error box. */
export async function fill(body, build) {
  try {
    const content = await build();
    clear(body, content);
  } catch (e) {
    clear(body, errorBox(e));
    if (!(e && e.status !== undefined)) throw e; // a bug of ours, not an API answer: let the page see it
  }
}
