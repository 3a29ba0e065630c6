// Traces: search with the filters, newest / costliest / slowest first, only those holding a score
// (name, source, value between bounds, label) or whose captured prompt or response holds every word of a
// text search (q: needs read-content); each trace's scores as columns; a row opens the trace.
// In live mode the newest-first list asks every few seconds for traces newer than its newest row.

import * as api from "../api.js";
import { badge, bar, h, table } from "../dom.js";
import { count, dateTime, ms, parseTime, plural } from "../fmt.js";
import * as live from "../live.js";
import * as state from "../state.js";
import { costText, pager, title, whenEmpty } from "./common.js";

const LIMIT = 50;
const ORDERS = [["start_time", "Newest"], ["cost", "Costliest"], ["duration", "Slowest"]];
// the traces page's own options kept by its pager and order buttons (scores: see query/traces.py ScoreFilter)
const SCORE_KEYS = ["score_name", "score_source", "score_label", "score_min", "score_max"];
const SOURCES = ["feedback", "sdk", "eval", "api"];
const SCORE_COLUMNS = 3;
const TAIL_MS = 3000;

export default async function traces(root) {
  title(root, "Traces");
  const order = state.option("order", "start_time");
  const offset = Math.max(0, Number(state.option("offset", "0")) || 0);
  const scored = scoreOptions();
  const text = state.option("q").trim();
  root.append(controls(order, scored, text));
  if (text) scored.q = text; // sent with the score options: the API narrows by both
  const doc = await api.get("traces", { order, offset, limit: LIMIT, ...scored });
  const rows = doc.traces;
  if (!rows.length && offset === 0) {
    if (text) {
      root.append(h("div", { class: "empty", testid: "empty-state" },
        h("h3", {}, `No trace in this range holds every word of “${text}”`),
        h("p", {}, "The search reads captured prompts and responses (the capture policy decides which calls keep ",
          "their content) and matches whole words, case-insensitive. Try a longer time range, fewer words or ",
          h("a", { href: state.href("traces", { q: null, offset: null }), "data-nav": true }, "clear the search"), ".")));
    } else if (Object.keys(scored).length) {
      root.append(h("div", { class: "empty", testid: "empty-state" }, h("h3", {}, "No trace holds such a score in this range"),
        h("p", {}, "Scores come from user feedback, evals and the API (POST /api/scores). Try a longer time range or ",
          h("a", { href: state.href("traces", clearedScores()), "data-nav": true }, "remove the score filter"), ".")));
    } else {
      root.append((await whenEmpty({ requests: 0 })) || h("p", {}, "No traces."));
    }
    tailWhenEmpty(order, offset, scored);
    return;
  }
  const columns = traceColumns(rows);
  const wrap = table(columns, rows, { testid: "traces-table", rowTestid: "trace-row", empty: "No more traces.",
    href: (r) => state.href(`traces/${r.trace_id}`) });
  markRows(wrap, rows);
  root.append(h("section", { class: "panel" }, wrap));
  root.append(pager("traces", { offset, n: rows.length, limit: LIMIT, noun: "traces", keep: pageOptions() }));
  if (order === "start_time" && offset === 0) tail(wrap, rows, columns, scored);
}

// ---- score filters and columns ------------------------------------------------------------------------

function scoreOptions() {
  const out = {};
  for (const k of SCORE_KEYS) {
    const v = state.option(k);
    if (v !== "") out[k] = v;
  }
  return out;
}

function clearedScores() {
  return Object.fromEntries(SCORE_KEYS.map((k) => [k, null]));
}

function controls(order, scored, text) {
  const f = state.filters();
  const find = h("input", { type: "search", placeholder: "go to trace id (32 hex)", size: 34, testid: "trace-id-input",
    onkeydown: (e) => {
      const id = e.target.value.trim().toLowerCase();
      if (e.key === "Enter" && /^[0-9a-f]{32}$/.test(id)) state.navigate(state.href(`traces/${id}`));
    } });
  return h("div", { class: "traces-controls" },
    h("div", { class: "toolbar" },
      h("div", { class: "segmented", testid: "trace-order" }, ORDERS.map(([v, label]) =>
        h("button", { type: "button", class: v === order ? "active" : null, dataset: { order: v },
          onclick: () => state.update({ order: v === "start_time" ? null : v, offset: null }) }, label))),
      h("label", { class: "check" }, h("input", { type: "checkbox", checked: f.status === "error", testid: "errors-only",
        onchange: (e) => state.update({ status: e.target.checked ? "error" : null, offset: null }) }), "Errors only"),
      textSearch(text),
      h("span", { class: "spacer" }),
      find),
    scoreFilter(scored));
}

/** Full-text search over captured prompts and responses (every word, whole words, any case). */
function textSearch(text) {
  const box = h("input", { type: "search", name: "q", value: text, size: 28, testid: "content-search",
    placeholder: "search prompts and responses", "aria-label": "search prompts and responses",
    title: "Traces whose captured prompt or response holds every word (needs the read-content permission)" });
  return h("form", { class: "text-search", testid: "content-search-form", onsubmit: (e) => {
    e.preventDefault();
    state.update({ q: box.value.trim(), offset: null });
  } }, box,
  h("button", { type: "submit", class: "button", testid: "content-search-go" }, "Search"),
  text ? h("button", { type: "button", class: "link-button", testid: "content-search-clear",
    onclick: () => state.update({ q: null, offset: null }) }, "Clear") : null);
}

/** Score name, source, value bounds (and a label from the URL, e.g. a thumbs-down link). */
function scoreFilter(scored) {
  const names = h("datalist", { id: "score-names" });
  api.get("scores/names").then((doc) => names.replaceChildren(...doc.names.map((n) =>
    h("option", { value: n.name }, `${plural(n.scores, "score")} · ${n.sources.join(", ")}`)))).catch(() => {});
  const input = (key, attrs) => h("input", { name: key, value: scored[key] || "", testid: `filter-${key.replace("_", "-")}`,
    ...attrs });
  const apply = (e) => {
    e.preventDefault();
    const fm = e.target.closest("form");
    const changes = { offset: null };
    for (const k of ["score_name", "score_source", "score_min", "score_max"]) changes[k] = fm.elements[k].value.trim();
    state.update(changes);
  };
  const source = h("select", { name: "score_source", testid: "filter-score-source" },
    h("option", { value: "" }, "any source"), SOURCES.map((s) => h("option", { value: s }, s)));
  source.value = scored.score_source || "";
  const any = Object.keys(scored).length > 0;
  return h("form", { class: "score-filter", testid: "score-filter", onsubmit: apply },
    h("span", { class: "toolbar-label" }, "Score"),
    input("score_name", { type: "search", list: "score-names", placeholder: "any name", size: 14,
      "aria-label": "score name" }),
    names,
    source,
    h("label", { class: "inline" }, "from", input("score_min", { type: "number", step: "any", size: 5,
      placeholder: "min", "aria-label": "lowest value" })),
    h("label", { class: "inline" }, "to", input("score_max", { type: "number", step: "any", size: 5,
      placeholder: "max", "aria-label": "highest value" })),
    scored.score_label ? h("span", { class: "chip", testid: "chip-score-label" }, `label: ${scored.score_label}`,
      h("button", { type: "button", title: "Remove the label filter", onclick: () => state.update({ score_label: null }) },
        "×")) : null,
    h("button", { type: "submit", class: "button", testid: "score-apply" }, "Filter"),
    any ? h("button", { type: "button", class: "link-button", testid: "score-clear",
      onclick: () => state.update({ ...clearedScores(), offset: null }) }, "Any score") : null);
}

/** The score names of these rows, most frequent first (at most SCORE_COLUMNS; a filtered name first). */
function scoreNames(rows) {
  const seen = new Map();
  for (const r of rows) for (const s of r.scores || []) seen.set(s.name, (seen.get(s.name) || 0) + 1);
  const wanted = state.option("score_name");
  const names = [...seen.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([n]) => n);
  if (wanted && names.includes(wanted)) names.unshift(...names.splice(names.indexOf(wanted), 1));
  return names.slice(0, SCORE_COLUMNS);
}

function scoreCell(r, name) {
  const mine = (r.scores || []).filter((s) => s.name === name);
  if (!mine.length) return h("span", { class: "faint" }, "–");
  return h("span", { class: "scores" }, mine.map((s) => {
    const text = s.label || (s.value === null || s.value === undefined ? "–" : String(Math.round(s.value * 1000) / 1000));
    const low = s.value !== null && s.value !== undefined && s.value <= 0;
    return h("span", { class: `score ${low ? "score-low" : ""}`, title: `${s.name} = ${s.value ?? ""} ${s.label || ""} ` +
      `(${s.source})`, dataset: { value: String(s.value ?? ""), label: s.label || "", source: s.source } }, text);
  }));
}

function traceColumns(rows) {
  const maxDur = Math.max(0, ...rows.map((r) => r.duration_ms));
  return [
    { label: "time", value: (r) => dateTime(r.start_time), cls: "nowrap" },
    // beside the time: on a narrow screen the columns at the right scroll out of view
    { label: "status", value: (r) => (r.status === "error" ? badge(r.error_type || "error", "bad") : badge("ok", "good")),
      title: "error: the error type of a failed call in the trace (429 RateLimitError, timeouts ...)", testid: "cell-status" },
    { label: "trace", value: (r) => [h("span", { class: "trace-name" }, r.name || r.trace_id.slice(0, 12)), matchSnippet(r.match)],
      cls: "key" },
    { label: "route", value: (r) => r.route || "–", cls: "nowrap" },
    { label: "models", value: (r) => (r.models || []).join(", ") || "–", cls: "models ellipsis" },
    { label: "user", value: (r) => r.user_id || "–", cls: "nowrap" },
    { label: "spans", num: true, value: (r) => count(r.spans), raw: (r) => r.spans, title: "spans (LLM calls)" },
    { label: "duration", value: (r) => bar(r.duration_ms, maxDur, ms(r.duration_ms), "muted"), raw: (r) => r.duration_ms,
      cls: "bar-col narrow" },
    { label: "tokens in / out", num: true, value: (r) => `${count(r.input_tokens)} / ${count(r.output_tokens)}` },
    { label: "cost", num: true, value: (r) => costText(r.cost_usd, r.unpriced, true), raw: (r) => r.cost_usd,
      testid: "cell-cost" },
    ...scoreNames(rows).map((name) => ({ label: name, value: (r) => scoreCell(r, name), cls: "nowrap score-col",
      testid: "cell-score", title: `score "${name}": label or value of each (several: oldest first)` })),
  ];
}

/** Where a text search matched this trace: a snippet of the prompt or response, the searched words marked. */
function matchSnippet(m) {
  if (!m) return null;
  return h("div", { class: "match-snippet", testid: "match-snippet", dataset: { field: m.field } },
    h("span", { class: "faint" }, m.field === "input" ? "prompt: " : "response: "), m.before ? "…" : "",
    m.parts.map((p) => (p.mark ? h("mark", {}, p.text) : p.text)), m.after ? "…" : "");
}

function markRows(wrap, rows) {
  wrap.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.dataset.traceId = rows[i].trace_id;
  });
}

// ---- live tail ----------------------------------------------------------------------------------------

function since(rows) {
  const newest = Math.max(...rows.map((r) => parseTime(r.start_time).getTime()));
  return new Date(newest).toISOString();
}

/** Every few seconds in live mode: traces whose spans started at or after the newest row, at the top. */
function tail(wrap, rows, columns, scored) {
  const shown = new Map(rows.map((r) => [r.trace_id, r]));
  const body = wrap.querySelector("tbody");
  live.every(TAIL_MS, async () => {
    if (!rangeOpen()) return;
    const doc = await api.poll("traces", { order: "start_time", limit: LIMIT, offset: null, range: null,
      since: since([...shown.values()]), live: 1, ...scored });
    const fresh = doc.traces.filter((r) => !shown.has(r.trace_id) || changed(shown.get(r.trace_id), r));
    if (!fresh.length) {
      live.status(`checked ${clock()}`);
      return;
    }
    const made = table(columns, fresh, { rowTestid: "trace-row", href: (r) => state.href(`traces/${r.trace_id}`) });
    markRows(made, fresh);
    const added = [];
    [...made.querySelectorAll("tbody tr")].reverse().forEach((tr) => {
      const old = body.querySelector(`tr[data-trace-id="${tr.dataset.traceId}"]`);
      if (old) old.replaceWith(tr);
      else {
        tr.classList.add("row-new");
        body.prepend(tr);
        added.push(tr);
      }
    });
    for (const r of fresh) shown.set(r.trace_id, r);
    while (body.rows.length > LIMIT) { // the page keeps its size: the oldest rows go to the next page
      const last = body.rows[body.rows.length - 1];
      shown.delete(last.dataset.traceId);
      last.remove();
    }
    live.status(`${plural(added.length, "new trace")} at ${clock()}`);
  });
}

/** An empty list in live mode: draw the page again as soon as a trace arrives. */
function tailWhenEmpty(order, offset, scored) {
  if (order !== "start_time" || offset !== 0) return;
  live.every(TAIL_MS, async () => {
    if (!rangeOpen()) return;
    const doc = await api.poll("traces", { order, limit: 1, live: 1, ...scored });
    if (doc.traces.length) window.dispatchEvent(new Event("tt:navigate"));
    else live.status(`checked ${clock()}`);
  });
}

function changed(a, b) {
  return a.spans !== b.spans || a.status !== b.status || a.cost_usd !== b.cost_usd ||
    (a.scores || []).length !== (b.scores || []).length;
}

function rangeOpen() {
  const until = state.filters().until;
  if (until && Date.parse(until) < Date.now()) {
    live.status("the time range has ended: nothing new to show");
    return false;
  }
  return true;
}

function clock() {
  return dateTime(new Date(), true).split(", ").pop();
}

function pageOptions() {
  const out = {};
  for (const k of ["order", "q", ...SCORE_KEYS]) {
    const v = state.option(k);
    if (v) out[k] = v;
  }
  return out;
}
