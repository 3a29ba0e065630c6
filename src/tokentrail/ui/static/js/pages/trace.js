// One trace: the span tree as a timing waterfall (model -> tool -> model), the chosen span's
// details, and its prompt and response where they were captured and the reader may see them.

import * as api from "../api.js";
import { badge, clear, errorBox, h, table } from "../dom.js";
import { count, dateTime, ms, plural, usd } from "../fmt.js";
import * as session from "../session.js";
import * as state from "../state.js";
import { contentView } from "./conversation.js";

const KIND_TONE = { llm: "llm", embedding: "llm", tool: "tool", retrieval: "retrieval", agent: "agent", chain: "agent" };

export default async function trace(root, { id }) {
  const back = h("a", { href: state.href("traces"), "data-nav": true, class: "back" }, "← All traces");
  root.append(back);
  let doc;
  try {
    doc = await api.getOne(`traces/${encodeURIComponent(id)}`, state.filters().project);
  } catch (e) {
    if (e.status === 404 || e.status === 400) {
      root.append(errorBox(`${e.message}. Raw spans expire after the retention period; rollups keep the totals.`));
      return;
    }
    throw e;
  }
  const t = doc.trace;
  root.append(h("div", { class: "page-title" },
    h("h1", { testid: "trace-name" }, t.name || "trace"),
    t.status === "error" ? badge("error", "bad", { testid: "trace-status" }) : badge("ok", "good", { testid: "trace-status" }),
    h("code", { class: "trace-id", title: "trace id" }, t.trace_id)));
  root.append(facts(t));
  const detail = h("section", { class: "panel span-detail", testid: "span-detail" });
  const rows = waterfall(doc, (span) => showSpan(detail, span, doc));
  root.append(h("div", { class: "grid trace-grid" },
    h("section", { class: "panel", testid: "waterfall" },
      h("header", { class: "panel-head" }, h("div", {}, h("h2", {}, "Spans"),
        h("p", { class: "subtitle" }, `${plural(doc.spans.length, "span")} · bars show when each ran; click one for details`))),
      rows),
    detail));
  root.append(scoresPanel(doc));
  const failed = (s) => s.status === "error" && (s.error_message || s.http_status >= 400);
  const first = doc.spans.find(failed) || doc.spans.find((s) => doc.content[s.span_id])
    || doc.spans.find((s) => s.kind === "llm") || doc.spans[0];
  showSpan(detail, first, doc);
}

function facts(t) {
  const f = (label, value, testid) => h("div", { class: "fact", testid }, h("span", {}, label), h("b", {}, value));
  const link = (text, href) => h("a", { href, "data-nav": true }, text);
  return h("div", { class: "facts", testid: "trace-facts" },
    f("Started", dateTime(t.start_time)),
    f("Duration", ms(t.duration_ms), "fact-duration"),
    f("Cost", t.unpriced ? `${usd(t.cost_usd, true)} + ${t.unpriced} unpriced` : usd(t.cost_usd, true), "fact-cost"),
    f("Tokens in / out", `${count(t.input_tokens)} / ${count(t.output_tokens)}`, "fact-tokens"),
    f("Spans", `${count(t.spans)} (${count(t.llm_calls)} LLM)`, "fact-spans"),
    f("Route", t.route ? link(t.route, state.href("traces", { route: t.route })) : "–"),
    f("User", t.user_id ? link(t.user_id, state.href("traces", { user: t.user_id })) : "–"),
    f("Session", t.session_id ? link(t.session_id, state.href(`sessions/${encodeURIComponent(t.session_id)}`)) : "–"),
    f("Environment", t.environment || "–"),
    f("Models", (t.models || []).join(", ") || "–"));
}

function waterfall(doc, onSelect) {
  const spans = doc.spans;
  const total = Math.max(1e-3, doc.trace.duration_ms, ...spans.map((s) => (s.offset_ms || 0) + s.duration_ms));
  const axis = h("div", { class: "wf-row wf-axis" }, h("div", { class: "wf-name" }),
    h("div", { class: "wf-track" }, [0, 0.25, 0.5, 0.75, 1].map((p) =>
      h("span", { style: { left: `${p * 100}%` }, class: p === 1 ? "last" : null }, ms(total * p)))));
  const rows = spans.map((s) => {
    const left = (100 * (s.offset_ms || 0)) / total;
    const width = Math.max(0.4, (100 * s.duration_ms) / total);
    const tone = s.status === "error" ? "error" : KIND_TONE[s.kind] || "other";
    const model = s.response_model || s.request_model;
    const ttft = s.ttft_ms && s.duration_ms ? Math.min(100, (100 * s.ttft_ms) / s.duration_ms) : null;
    const row = h("div", { class: "wf-row", testid: "span-row", dataset: { spanId: s.span_id }, tabindex: 0,
      title: `${s.name}: ${ms(s.duration_ms)}` },
      h("div", { class: "wf-name", style: { paddingLeft: `${8 + 16 * (s.depth || 0)}px` } },
        h("span", { class: `kind kind-${tone}` }, s.kind),
        h("span", { class: "wf-label" }, s.name),
        model && !s.name.includes(model) ? h("span", { class: "wf-model" }, model) : null),
      h("div", { class: "wf-track" },
        h("div", { class: `wf-bar bar-${tone}`, style: { left: `${left}%`, width: `${width}%` } },
          ttft !== null ? h("i", { class: "wf-ttft", style: { width: `${ttft}%` }, title: `first token after ${ms(s.ttft_ms)}` }) : null),
        durationLabel(s, left, width)));
    const pick = () => {
      row.parentElement.querySelectorAll(".wf-row.selected").forEach((r) => r.classList.remove("selected"));
      row.classList.add("selected");
      onSelect(s);
    };
    row.addEventListener("click", pick);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
    return row;
  });
  return h("div", { class: "waterfall" }, axis, rows);
}

/** The duration beside its bar: right of it, else left of it, else inside it (white). */
function durationLabel(s, left, width) {
  if (left + width <= 82) return h("span", { class: "wf-dur", style: { left: `${left + width + 0.6}%` } }, ms(s.duration_ms));
  if (left >= 14) return h("span", { class: "wf-dur", style: { right: `${100 - left + 0.6}%` } }, ms(s.duration_ms));
  return h("span", { class: "wf-dur inside", style: { right: `${100 - left - width + 0.8}%` } }, ms(s.duration_ms));
}

function showSpan(el, s, doc) {
  if (!s) return;
  el.parentElement?.querySelectorAll(".wf-row").forEach((r) => r.classList.toggle("selected", r.dataset.spanId === s.span_id));
  const model = s.response_model || s.request_model;
  const fields = [
    ["kind", s.kind], ["status", s.status === "error" ? badge("error", "bad") : s.status],
    ["duration", ms(s.duration_ms)], ["time to first token", s.ttft_ms === null ? null : ms(s.ttft_ms)],
    ["model", model], ["provider", s.provider], ["operation", s.operation],
    ["input tokens", s.kind === "llm" || s.input_tokens ? count(s.input_tokens) : null],
    ["output tokens", s.kind === "llm" || s.output_tokens ? count(s.output_tokens) : null],
    ["cached input tokens", s.cached_input_tokens ? count(s.cached_input_tokens) : null],
    ["reasoning tokens", s.reasoning_tokens ? count(s.reasoning_tokens) : null],
    ["cost", s.total_cost === null || s.total_cost === undefined
      ? (["llm", "embedding"].includes(s.kind) && s.status === "ok" ? h("span", { class: "warn-text" }, "no price for this model") : null)
      : `${usd(s.total_cost, true)} (input ${usd(s.input_cost, true)} · output ${usd(s.output_cost, true)})`],
    ["finish reason", s.finish ? (s.finish_reason && s.finish_reason !== s.finish ? `${s.finish} (${s.finish_reason})` : s.finish) : s.finish_reason], ["HTTP status", s.http_status || null],
    ["error", s.error_type ? `${s.error_type}${s.error_message ? ": " + s.error_message : ""}` : null],
    ["streamed", s.kind === "llm" ? (s.streamed ? "yes" : "no") : null],
    ["cache hit", s.cache_hit ? "yes" : null],
    ["schema valid", s.schema_valid === null || s.schema_valid === undefined ? null : (s.schema_valid ? "yes" : "no")],
    ["release", s.release], ["service", s.service], ["tags", (s.tags || []).join(", ")],
    ["span id", h("code", {}, s.span_id)],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  const attrs = Object.entries(s.attributes || {});
  clear(el,
    h("header", { class: "panel-head" }, h("div", {}, h("h2", { testid: "span-title" }, s.name),
      h("p", { class: "subtitle" }, s.offset_ms ? `started ${ms(s.offset_ms)} into the trace` : "started with the trace"))),
    h("div", { class: "panel-body" },
      s.error_message || s.http_status >= 400 ? h("div", { class: "error-box", testid: "span-error" },
        h("strong", {}, `${s.error_type || "error"}${s.http_status >= 400 ? ` (HTTP ${s.http_status})` : ""}: `),
        s.error_message || "no message") : null,
      content(s, doc),
      h("dl", { class: "kv" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      attrs.length ? h("details", {}, h("summary", {}, `${attrs.length} more attributes`),
        h("dl", { class: "kv" }, attrs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))) : null));
}

function content(s, doc) {
  const c = doc.content[s.span_id];
  if (c) return contentView(c, s);
  if (!["llm", "embedding", "tool"].includes(s.kind)) return null;
  const what = s.kind === "tool" ? "Arguments and result" : "Prompt and response";  // a tool's content
  if (!doc.content_permitted) {
    return h("p", { class: "note", testid: "content-hidden" },
      `${what} are hidden: ${session.contentHiddenReason(session.project(state.filters()))}.`);
  }
  const why = (doc.not_captured || {})[s.span_id];
  if (!why) {
    return h("p", { class: "note", testid: "content-not-captured" },
      `${what} were not captured for this ${s.kind === "tool" ? "tool call" : "call"}.`);
  }
  return h("div", { class: "note not-captured", testid: "content-not-captured", dataset: { code: why.code } },
    h("p", { testid: "not-captured-why" }, `${what} ${why.text}.`),
    why.fix_in === "sender"
      ? h("p", { class: "small" }, "To send them from now on, at the sender: ",
        h("code", { testid: "not-captured-change" }, why.change), ".")
      : h("p", { class: "small" }, "To keep them from now on: ", h("code", { testid: "not-captured-change" }, why.change),
        " (or ", h("code", {}, "sampled:0.1"), " instead of ", h("code", {}, "always"), " for a 10% sample)."),
    h("p", { class: "muted small" }, `(${why.note})`));
}

/** The trace's scores and feedback, and a form to add one (an annotation, POST /api/scores). */
function scoresPanel(doc) {
  const body = h("div", { class: "panel-body" });
  const project = state.filters().project;
  const traceId = doc.trace.trace_id;
  const render = (rows) => clear(body, scoresTable(rows), annotationForm(traceId, project, async () => {
    api.fresh();
    const answer = await api.get("scores", { trace_id: traceId }, project ? { project } : {});
    render(answer.scores || []);
  }));
  render(doc.scores || []);
  return h("section", { class: "panel", testid: "trace-scores" },
    h("header", { class: "panel-head" }, h("div", {}, h("h2", {}, "Scores and feedback"),
      h("p", { class: "subtitle" }, "user feedback, eval scores and reviewers' annotations of this trace"))),
    body);
}

function scoresTable(rows) {
  return table([
    { label: "name", value: (r) => r.name, cls: "key" },
    { label: "value", num: true, value: (r) => (r.value === null ? "–" : String(r.value)), testid: "score-value" },
    { label: "label", value: (r) => (r.label ? badge(r.label, /down|bad|wrong|fail/i.test(r.label) ? "bad"
      : /up|good|correct|pass/i.test(r.label) ? "good" : "neutral") : "–") },
    { label: "source", value: (r) => r.source || "–" },
    { label: "by", value: (r) => r.user_id || "–" },
    { label: "comment", value: (r) => r.comment || "", testid: "score-comment" },
    { label: "when", value: (r) => dateTime(r.timestamp) },
  ], rows, { testid: "scores-table", rowTestid: "score-row", empty: "No scores or feedback for this trace yet." });
}

function annotationForm(traceId, project, reload) {
  const me = session.me();
  const name = h("input", { type: "text", value: "review", required: true, maxlength: 200, testid: "annotate-name", size: 14 });
  const value = h("input", { type: "number", step: "any", required: true, testid: "annotate-value", placeholder: "e.g. 0 or 1",
    style: { width: "8em" } });
  const comment = h("textarea", { rows: 2, maxlength: 10000, testid: "annotate-comment", placeholder: "What is right or wrong here?" });
  const status = h("span", { class: "save-status", testid: "annotate-status", role: "status" });
  const submit = h("button", { type: "submit", class: "button primary small-button", testid: "annotate-submit" }, "Add score");
  const form = h("form", { class: "annotate", testid: "annotate-form" },
    h("div", { class: "annotate-row" },
      h("label", {}, h("span", { class: "field-label" }, "name"), name),
      h("label", {}, h("span", { class: "field-label" }, "value"), value),
      h("label", { class: "annotate-comment" }, h("span", { class: "field-label" }, "comment"), comment)),
    h("div", { class: "form-actions" }, submit, status,
      h("span", { class: "muted small" }, `stored as source "annotation"${me && me.actor ? ` by ${me.actor}` : ""}`)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = Number(value.value);
    if (!name.value.trim() || value.value === "" || !Number.isFinite(v)) {
      status.textContent = "A name and a numeric value are needed.";
      status.className = "save-status bad-text";
      return;
    }
    submit.disabled = true;
    status.textContent = "Saving…";
    status.className = "save-status muted";
    try {
      await api.send("POST", "scores", { trace_id: traceId, name: name.value.trim(), value: v, comment: comment.value,
        source: "annotation", user_id: me && me.actor ? me.actor : "" }, { project });
      await reload();
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
      status.className = "save-status bad-text";
      submit.disabled = false;
    }
  });
  return form;
}
