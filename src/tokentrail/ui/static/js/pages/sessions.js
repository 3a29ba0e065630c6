// Sessions: the list (most recent first), and one session's turns in order, each with its
// prompt and response where captured, and a link to its trace.

import * as api from "../api.js";
import { badge, errorBox, h, table } from "../dom.js";
import { ago, count, dateTime, ms, plural } from "../fmt.js";
import { contentView } from "./conversation.js";
import * as session from "../session.js";
import * as state from "../state.js";
import { costText, pager, title, whenEmpty } from "./common.js";

const LIMIT = 50;

export async function sessionList(root) {
  title(root, "Sessions");
  const offset = Math.max(0, Number(state.option("offset", "0")) || 0);
  const doc = await api.get("sessions", { limit: LIMIT, offset });
  if (!doc.sessions.length && offset === 0) {
    const empty = await whenEmpty(await api.get("metrics/summary", { metric: "requests" }));
    root.append(empty || h("div", { class: "empty", testid: "empty-state" }, h("h3", {}, "No sessions in this range"),
      h("p", {}, "Calls join a session when they carry a session id: ", h("code", {}, "tokentrail.context(session_id=...)"),
        ", the ", h("code", {}, "session.id"), " span attribute, or the gateway's ", h("code", {}, "X-Tokentrail-Session"),
        " header.")));
    return;
  }
  root.append(h("section", { class: "panel" }, table([
    { label: "session", value: (r) => r.session_id, cls: "key" },
    { label: "user", value: (r) => r.user_id || "–", cls: "nowrap" },
    { label: "turns", num: true, value: (r) => count(r.turns), raw: (r) => r.turns },
    { label: "last active", value: (r) => h("span", { title: dateTime(r.last_seen) }, ago(r.last_seen)), cls: "nowrap" },
    { label: "started", value: (r) => dateTime(r.first_seen), cls: "nowrap" },
    { label: "LLM calls", num: true, value: (r) => count(r.llm_calls) },
    { label: "tokens", num: true, value: (r) => count(r.tokens) },
    { label: "cost", num: true, value: (r) => costText(r.cost_usd, r.unpriced, true), raw: (r) => r.cost_usd,
      testid: "cell-cost" },
    { label: "errors", num: true, title: "failed LLM and embedding calls",
      value: (r) => (r.errors ? h("span", { class: "bad-text" }, count(r.errors)) : "0") },
    { label: "routes", value: (r) => (r.routes || []).join(", "), cls: "models ellipsis" },
  ], doc.sessions, { testid: "sessions-table", rowTestid: "session-row",
    href: (r) => state.href(`sessions/${encodeURIComponent(r.session_id)}`) })));
  root.append(pager("sessions", { offset, n: doc.sessions.length, limit: LIMIT, noun: "sessions" }));
}

export async function sessionDetail(root, { id }) {
  root.append(h("a", { href: state.href("sessions"), "data-nav": true, class: "back" }, "← All sessions"));
  let doc;
  try {
    doc = await api.getOne(`sessions/${encodeURIComponent(id)}`, state.filters().project);
  } catch (e) {
    if (e.status === 404) {
      root.append(errorBox(e.message));
      return;
    }
    throw e;
  }
  const turns = doc.turns;
  const cost = turns.reduce((a, t) => a + t.cost_usd, 0);
  const unpriced = turns.reduce((a, t) => a + (t.unpriced || 0), 0);
  const user = turns.find((t) => t.user_id)?.user_id;
  root.append(h("div", { class: "page-title" }, h("h1", { testid: "session-id" }, `Session ${doc.session_id}`),
    h("span", { class: "page-range", title: "every turn of the session, whatever the time range" },
      `${turns.length === 1 ? "its one turn" : `all ${count(turns.length)} turns`} · `, costText(cost, unpriced, true),
      user ? [" · user ", h("a", { href: state.href("traces", { user }), "data-nav": true }, user)] : null)));
  if (!doc.content_permitted) {
    root.append(h("p", { class: "note", testid: "content-hidden" },
      `Prompts and responses are hidden: ${session.contentHiddenReason(session.project(state.filters()))}.`));
  }
  root.append(h("ol", { class: "turns", testid: "turns" }, turns.map((t, i) => turn(t, i, doc.content_permitted))));
}

function turn(t, i, permitted) {
  const captured = t.input || t.output;
  return h("li", { class: "turn", testid: "turn", dataset: { traceId: t.trace_id } },
    h("div", { class: "turn-head" },
      h("span", { class: "turn-n" }, `#${i + 1}`),
      h("b", {}, t.route || t.name),
      h("span", { class: "muted" }, dateTime(t.start_time)),
      t.status === "error" ? badge("error", "bad") : null,
      captured || !permitted ? null : h("span", { class: "faint small" }, "content not captured"),
      h("span", { class: "spacer" }),
      h("span", { class: "muted" }, `${ms(t.duration_ms)} · ${plural(t.llm_calls, "LLM call")} · `,
        costText(t.cost_usd, t.unpriced, true)),
      h("a", { href: state.href(`traces/${t.trace_id}`), "data-nav": true, testid: "turn-trace-link" }, "trace →")),
    // read as on the trace page: a conversation (roles, tool calls and results), the raw JSON one click away
    captured ? contentView({ input: t.input, output: t.output },
      { kind: "llm", status: t.status, streamed: false }) : null);
}
