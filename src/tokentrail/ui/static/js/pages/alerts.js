// Alerts: what fires now (and why), the evaluator and every receiver's health, rules with a live
// preview and a replay over stored history, silences, history. Reads /api/alerts*; changing rules and
// silences needs admin on the project: a refusal shows the server's reason.

import * as api from "../api.js";
import { badge, clear, errorBox, fill, h, kpi, panel, table } from "../dom.js";
import { ago, count, dateTime, parseTime, plural } from "../fmt.js";
import * as session from "../session.js";
import * as state from "../state.js";
import { grid } from "./common.js";

const TABS = [["now", "Firing now"], ["rules", "Rules"], ["silences", "Silences"], ["history", "History"]];
const SEVERITY_TONE = { page: "bad", ticket: "warn", info: "neutral" };
const STATE_TONE = { firing: "bad", pending: "warn", resolved: "good", silenced: "neutral", notified: "neutral",
  error: "bad" };
const HISTORY_RANGES = [["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
const REPLAY_RANGES = [["24h", "24 hours"], ["3d", "3 days"], ["7d", "7 days"]];

// The rule kinds (server: alerts/rules.py) and the fields the editor shows for each. A field left empty
// takes the server's default (shown as its placeholder once the preview has answered).
const KINDS = {
  budget: {
    label: "Budget", help: "Spend per day / week / month above a threshold or above N% of expected (with a projection "
      + "that fires before the period ends); or, per user / customer, one spending N x the median.",
    fields: [
      ["period", "select", "period", ["day", "week", "month"]], ["threshold_usd", "number", "threshold ($)"],
      ["percent_of_expected", "number", "% of expected"], ["project_spend", "bool", "fire on the projection", true],
      ["per", "select", "per", ["", "user", "customer"]], ["factor", "number", "x the median (per)"],
      ["window", "duration", "rolling window (per)"], ["min_usd", "number", "ignore below ($)"],
      ["metric", "select", "compare (per)", ["cost_usd", "tokens"]]],
  },
  cost_jump: {
    label: "Cost jump", help: "Each group's cost over the window against its own trailing baseline.",
    fields: [["group_by", "select", "group by", ["route", "model", "environment", ""]],
      ["window", "duration", "window"], ["baseline_days", "int", "baseline days"], ["percent", "number", "% above baseline"],
      ["min_usd", "number", "ignore below ($)"]],
  },
  burn_rate: {
    label: "SLO burn rate", help: "Availability or latency SLO, multiwindow multi-burn-rate (SRE workbook: 14.4x over "
      + "1 h and 5 min, 6x over 6 h and 30 min, 1x over 3 d and 6 h). Edit the windows as JSON.",
    fields: [["slo", "select", "SLO", ["availability", "latency", "ttft"]], ["objective", "number", "objective (0.99)"],
      ["threshold_ms", "number", "slow above (ms)"], ["min_requests", "int", "min requests"]],
  },
  anomaly: {
    label: "Anomaly", help: "A metric per group against a robust (median / MAD) seasonal baseline.",
    fields: [["metric", "select", "metric", ["output_tokens_per_call", "error_rate", "tokens", "tool_calls_per_session",
      "requests", "ttft_p95", "latency_p95", "cost_usd"]],
    ["group_by", "select", "group by", ["", "route", "model", "user", "customer", "environment", "session"]],
    ["window", "duration", "window"], ["baseline_days", "int", "baseline days"], ["seasonal", "bool", "seasonal", true],
    ["threshold", "number", "robust z (MADs)"], ["direction", "select", "direction", ["up", "down", "both"]],
    ["min_requests", "int", "min requests"], ["min_change", "number", "min change (0.25 = 25%)"],
    ["top", "int", "groups examined"]],
  },
  silent_model: {
    label: "Silent model", help: "A model that had traffic stops getting any (deprecation, routing break).",
    fields: [["window", "duration", "silent for"], ["baseline", "duration", "baseline"],
      ["min_expected", "number", "min calls expected"]],
  },
  unpriced_model: {
    label: "Unpriced model", help: "A model is called that has no known price (its cost is missing from every total).",
    fields: [["window", "duration", "window"]],
  },
  rate_drop: {
    label: "Rate drop", help: "Schema-valid rate or cache-hit rate falls below its baseline.",
    fields: [["metric", "select", "rate", ["schema_valid_rate", "cache_hit_rate"]],
      ["group_by", "select", "group by", ["", "route", "model"]], ["window", "duration", "window"],
      ["baseline_days", "int", "baseline days"], ["drop_points", "number", "drop (points)"],
      ["min_requests", "int", "min requests"]],
  },
};
const COMMON = [["severity", "select", "severity", ["ticket", "page", "info"]], ["for", "duration", "for"],
  ["repeat_interval", "duration", "repeat every"], ["enabled", "bool", "enabled", true]];
const FILTER_KEYS = ["route", "model", "customer", "user", "environment", "provider", "release"];

export default async function alerts(root) {
  const tab = state.option("tab", "now");
  const project = session.project(state.filters());
  const base = project ? { project } : {};
  const refresh = h("button", { type: "button", class: "button", testid: "alerts-refresh",
    onclick: () => state.update({}, { replace: true }) }, "Refresh");
  root.append(h("div", { class: "page-title" }, h("h1", {}, "Alerts"),
    h("span", { class: "page-range" }, project ? `project ${project}` : ""), h("span", { class: "spacer" }), refresh));
  const now = await api.get("alerts", {}, base);
  announceCount(now.alerts);
  root.append(tabs(tab, now));
  const body = h("div", { testid: `alerts-tab-${tab}` });
  root.append(body);
  if (tab === "rules") await rulesTab(body, base, project, now.evaluator.file);
  else if (tab === "silences") await silencesTab(body, base, project, now);
  else if (tab === "history") await historyTab(body, base, project);
  else await nowTab(body, base, project, now);
}

/** Tell the nav how many alerts fire (not silenced). */
function announceCount(rows) {
  const firing = rows.filter((a) => a.state === "firing");
  window.dispatchEvent(new CustomEvent("tt:alert-count",
    { detail: { firing: firing.filter((a) => !a.silenced).length, silenced: firing.filter((a) => a.silenced).length } }));
}

function tabs(current, now) {
  const firing = now.alerts.filter((a) => a.state === "firing").length;
  return h("div", { class: "toolbar" }, h("div", { class: "segmented", testid: "alerts-tabs" }, TABS.map(([v, label]) =>
    h("button", { type: "button", class: v === current ? "active" : null, dataset: { tab: v }, testid: `tab-${v}`,
      onclick: () => state.navigate(tabHref(v)) }, label, v === "now" && firing ? h("span", { class: "tab-count" },
      String(firing)) : null))));
}

function tabHref(tab, extra = {}) {
  const f = state.filters();
  const keep = f.project ? { project: f.project } : {};
  return state.href("alerts", { tab: tab === "now" ? null : tab, ...extra }, keep);
}

// ---- firing now ---------------------------------------------------------------------------

async function nowTab(body, base, project, now) {
  const ev = now.evaluator;
  const firing = now.alerts.filter((a) => a.state === "firing");
  const pending = now.alerts.filter((a) => a.state === "pending");
  const failing = ev.receivers.filter((r) => !r.healthy);
  const last = ev.last_round || {};
  body.append(grid("kpis",
    kpi("Firing", count(firing.length), firing.length, { testid: "kpi-firing", tone: firing.some((a) => !a.silenced) ? "bad" : "good",
      sub: firing.some((a) => a.silenced) ? `${firing.filter((a) => a.silenced).length} silenced` : "alerts firing now" }),
    kpi("Pending", count(pending.length), pending.length, { testid: "kpi-pending", tone: pending.length ? "warn" : null,
      sub: "holding, not yet for their 'for'" }),
    kpi("Receivers", failing.length ? `${failing.length} failing` : ev.receivers.length ? `${ev.receivers.length} ok` : "none",
      failing.length, { testid: "kpi-receivers", tone: failing.length ? "bad" : ev.receivers.length ? "good" : "neutral",
        sub: ev.receivers.length ? ev.receivers.map((r) => r.name).join(", ") : "none configured" }),
    kpi("Evaluator", ev.interval_seconds ? (last.at ? ago(new Date(last.at * 1000).toISOString()) : "not run yet") : "off",
      last.at || null, { testid: "kpi-evaluator", tone: ev.config_error || last.errors ? "bad" : null,
        sub: ev.interval_seconds ? `every ${ev.interval_seconds} s · ${plural(last.rules || 0, "rule")} · ${plural(last.errors || 0, "error")}`
          : "alerts_interval is 0" })));
  if (ev.config_error) {
    body.append(h("div", { class: "error-box", testid: "alerts-file-error" },
      h("strong", {}, "The alerts file was not reloaded: "), ev.config_error,
      h("div", { class: "small" }, "The last good rules and receivers stay in force until the file is fixed.")));
  }
  const f = panel("Firing now", { testid: "panel-firing", subtitle: "worst first; each links to what changed" });
  f.body.replaceChildren(alertTable(firing, project, "firing-table", "Nothing is firing."));
  const p = panel("Pending", { testid: "panel-pending", subtitle: "the condition holds, waiting for the rule's 'for'" });
  p.body.replaceChildren(alertTable(pending, project, "pending-table", "Nothing is pending."));
  const e = panel("Evaluator", { testid: "panel-evaluator" });
  clear(e.body, evaluatorStatus(ev));
  const r = panel("Receivers", { testid: "panel-receivers", subtitle: "a failing receiver is retried with backoff and never stops the evaluator" });
  body.append(f.el, p.el, grid("two", e.el, r.el));
  await fill(r.body, async () => receivers(ev.receivers, await api.get("alerts/deliveries", { limit: 20 }, base)));
}

function labelsText(labels) {
  const entries = Object.entries(labels || {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(", ") : "";
}

/** The explain page for an alert (the same address its notifications link to). */
export function explainHref(rule, project, explainJson) {
  let ex;
  try {
    ex = typeof explainJson === "string" ? JSON.parse(explainJson || "null") : explainJson;
  } catch {
    ex = null;
  }
  if (!ex || !ex.metric) return null;
  const p = { rule, project, metric: ex.metric, since: ex.since, until: ex.until, baseline_since: ex.baseline_since,
    baseline_until: ex.baseline_until };
  for (const [k, v] of Object.entries(ex.filters || {})) p[k] = v;
  for (const [k, v] of Object.entries(ex.focus || {})) p[`focus.${k}`] = v;
  if (ex.dimensions && ex.dimensions.length) p.dimensions = ex.dimensions.join(",");
  return state.href("explain", p, {});
}

function alertTable(rows, project, testid, empty) {
  return table([
    { label: "severity", value: (a) => badge(a.severity || "–", SEVERITY_TONE[a.severity] || "neutral") },
    { label: "rule", value: (a) => h("a", { href: tabHref("rules", { edit: a.rule }), "data-nav": true }, a.rule),
      testid: "cell-rule" },
    { label: "group", value: (a) => labelsText(a.labels) || h("span", { class: "muted" }, "whole scope"),
      testid: "cell-group", cls: "nowrap" },
    { label: "summary", value: (a) => a.summary, testid: "cell-summary" },
    { label: "since", value: (a) => h("span", { title: dateTime(a.since) }, ago(a.since)), cls: "nowrap" },
    { label: "", value: (a) => [a.silenced ? badge("silenced", "neutral", { testid: "silenced-badge",
      title: "a silence matches: it notifies no one" }) : null], cls: "nowrap" },
    { label: "", cls: "nowrap actions", value: (a) => {
      const why = explainHref(a.rule, project, a.explain);
      return [why ? h("a", { href: why, "data-nav": true, class: "button small-button", testid: "explain-link" }, "Why?") : null,
        h("a", { href: tabHref("silences", { s_rule: a.rule, s_match: labelsText(a.labels) }), "data-nav": true,
          class: "link-button", testid: "silence-link" }, "Silence…")];
    } },
  ], rows, { testid, rowTestid: "alert-row", empty });
}

function evaluatorStatus(ev) {
  const last = ev.last_round || {};
  const when = last.at ? new Date(last.at * 1000).toISOString() : null;
  const items = [
    ["Runs", ev.interval_seconds ? `every ${ev.interval_seconds} s` : "off (alerts_interval = 0)"],
    ["Last round", when ? `${dateTime(when)} (${ago(when)})` : "not run yet"],
    ["Took", last.at ? `${last.seconds} s for ${plural(last.rules, "rule")}` : "–"],
    ["Firing after it", last.at ? count(last.firing) : "–"],
    ["Alerts file", ev.file || "none (rules from the API only)"],
    ["File status", ev.config_error ? h("span", { class: "bad-text" }, ev.config_error) : (ev.file ? "loaded" : "–")],
    ["Lease", ev.lease_holder ? `held by ${ev.lease_holder}` : "–"],
  ];
  const errors = Object.entries(last.rule_errors || {});
  return [h("dl", { class: "kv", testid: "evaluator-status" }, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("div", { class: "sub-table" }, h("h3", {}, "Errors per rule (last round)"), table([
      { label: "rule", value: ([rule]) => rule },
      { label: "error", value: ([, msg]) => h("span", { class: "bad-text" }, msg) },
    ], errors, { testid: "rule-errors", empty: "No rule failed in the last round." }))];
}

function receivers(list, deliveries) {
  const health = (r) => {
    if (!r.healthy) return badge("failing", "bad", { testid: "receiver-health" });
    return r.sent ? badge("ok", "good", { testid: "receiver-health" }) : badge("no sends yet", "neutral", { testid: "receiver-health" });
  };
  const t = table([
    { label: "receiver", value: (r) => r.name, cls: "key", testid: "cell-receiver" },
    { label: "type", value: (r) => r.kind },
    { label: "health", value: health },
    { label: "sent", num: true, value: (r) => count(r.sent) },
    { label: "failed", num: true, value: (r) => count(r.failed) },
    { label: "retries", num: true, value: (r) => count(r.retries) },
    { label: "queued", num: true, value: (r) => count(r.backlog) },
    { label: "last error", testid: "cell-last-error", value: (r) => (r.last_error
      ? [h("span", { class: r.healthy ? "muted" : "bad-text" }, r.last_error),
        h("div", { class: "small muted" }, ago(new Date(r.last_error_at * 1000).toISOString()))] : "–") },
  ], list, { testid: "receivers-table", rowTestid: "receiver-row",
    empty: "No receivers: notifications go nowhere. Add Slack, PagerDuty or webhook receivers to an alerts file " +
      "and start the server with --alerts-file (docs: Alerts)." });
  t.querySelectorAll?.("tr[data-testid=receiver-row]").forEach((tr, i) => tr.classList.toggle("row-bad", !list[i].healthy));
  const recent = deliveries.deliveries || [];
  return [t, h("div", { class: "sub-table" }, h("h3", {}, "Recent notifications"), table([
    { label: "when", value: (d) => dateTime(d.time), cls: "nowrap" },
    { label: "rule", value: (d) => d.rule },
    { label: "receiver", value: (d) => d.receiver },
    { label: "status", value: (d) => d.status },
    { label: "", value: (d) => (d.ok ? badge("sent", "good") : badge("failed", "bad")) },
    { label: "attempts", num: true, value: (d) => count(d.attempts) },
    { label: "error", value: (d) => d.error || "" },
  ], recent, { testid: "deliveries-table", empty: list.length
    ? "No notification finished yet (a failing one is still being retried)." : "No notification: no receiver is configured." }))];
}

// ---- rules and the editor -------------------------------------------------------------------

async function rulesTab(body, base, project, file) {
  const doc = await api.get("alerts/rules", {}, base);
  const editing = state.option("edit");
  const list = panel("Rules", { testid: "panel-rules",
    subtitle: "rules from the alerts file are read-only here; rules made here live in the store",
    actions: h("a", { href: tabHref("rules", { edit: "" }), "data-nav": true, class: "button", testid: "new-rule" }, "New rule") });
  list.body.replaceChildren(table([
    { label: "name", value: (r) => r.name, cls: "key", testid: "cell-name" },
    { label: "kind", value: (r) => KINDS[r.kind]?.label || r.kind },
    { label: "severity", value: (r) => badge(r.severity, SEVERITY_TONE[r.severity] || "neutral") },
    { label: "scope", value: (r) => labelsText(r.filters) || h("span", { class: "muted" }, "whole project") },
    { label: "source", value: (r) => (r.source === "file" ? badge("alerts file", "neutral", { title: `read-only: change it in ${file}` })
      : badge("API / UI", "good")), testid: "cell-source" },
    { label: "", value: (r) => (r.enabled ? "" : badge("disabled", "warn")) },
    { label: "description", value: (r) => r.description || "" },
  ], doc.rules, { testid: "rules-table", rowTestid: "rule-row", empty: "No rules yet: make one below.",
    href: (r) => tabHref("rules", { edit: r.name }) }));
  const found = doc.rules.find((r) => r.name === editing);
  const ed = panel(found ? (found.source === "file" ? `Rule ${found.name} (read-only)` : `Edit rule ${found.name}`) : "New rule",
    { testid: "panel-rule-editor", subtitle: "the preview runs the rule now and replays it over stored history, as you type" });
  body.append(list.el, ed.el);
  editor(ed.body, { rule: found || null, receivers: doc.receivers || [], project, file });
}

function field(name, type, label, options) {
  let input;
  if (type === "select") {
    input = h("select", { name }, options.map((o) => new Option(o === "" ? "(none)" : o, o)));
  } else if (type === "bool") {
    input = h("input", { type: "checkbox", name });
    input.checked = options === true; // a checkbox's 4th item is its default
  } else {
    input = h("input", { name, type: type === "duration" ? "text" : "text", inputmode: type === "duration" ? null : "decimal",
      size: type === "duration" ? 6 : 9, placeholder: type === "duration" ? "e.g. 1h" : "" });
  }
  input.dataset.type = type;
  input.dataset.testid = `rule-${name}`;
  return h("label", { class: type === "bool" ? "check" : "field" }, type === "bool" ? [input, label] : [label, input]);
}

/** The rule editor: kind, fields (or JSON), live preview (findings now + replay), save / delete. */
function editor(el, { rule, receivers, project, file }) {
  const readOnly = rule && rule.source === "file";
  const kinds = h("select", { name: "kind", testid: "rule-kind" }, Object.entries(KINDS).map(([k, v]) => new Option(v.label, k)));
  const name = h("input", { name: "name", placeholder: "e.g. checkout-cost-jump", size: 26, testid: "rule-name",
    value: rule ? rule.name : "" });
  const description = h("input", { name: "description", placeholder: "what it means, what to do", size: 40,
    testid: "rule-description" });
  const help = h("p", { class: "muted small kind-help" });
  const kindFields = h("div", { class: "field-row" });
  const common = h("div", { class: "field-row" }, COMMON.map(([n, t, l, o]) => field(n, t, l, o)));
  const filters = h("div", { class: "field-row" }, FILTER_KEYS.map((k) => h("label", { class: "field" }, k,
    h("input", { name: `filter.${k}`, size: 10, placeholder: "any", testid: `rule-filter-${k}` }))));
  const recv = h("div", { class: "field-row receivers-row" }, h("span", { class: "field-label" }, "notify"),
    receivers.length ? receivers.map((r) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: `receiver.${r}`, testid: `rule-receiver-${r}` }), r)) : h("span", { class: "muted small" },
    "No receivers configured (add them to the alerts file); the rule still fires on this page."));
  const json = h("textarea", { class: "json-spec", rows: 8, spellcheck: "false", testid: "rule-json" });
  const jsonMode = h("input", { type: "checkbox", testid: "rule-json-mode" });
  const validity = h("div", { class: "validity", testid: "rule-validity" });
  const replayRange = h("select", { testid: "replay-range" }, REPLAY_RANGES.map(([v, l]) => new Option(l, v)));
  replayRange.value = "7d";
  const nowBox = h("div", { testid: "preview-now" });
  const replayBox = h("div", { testid: "preview-replay" });
  const status = h("div", { class: "save-status", testid: "rule-save-status" });
  const save = h("button", { type: "button", class: "button primary", testid: "rule-save", disabled: readOnly }, "Save rule");
  const del = rule && !readOnly ? h("button", { type: "button", class: "button danger", testid: "rule-delete" }, "Delete") : null;
  const form = h("form", { class: "rule-form", testid: "rule-form", autocomplete: "off" },
    readOnly ? h("div", { class: "note", testid: "rule-readonly" }, "This rule comes from the alerts file",
      file ? ` (${file})` : "", ": change it there. You can still preview it here.") : null,
    h("div", { class: "field-row" }, h("label", { class: "field" }, "name", name), h("label", { class: "field" }, "kind", kinds),
      h("label", { class: "field grow" }, "description", description)),
    help,
    h("fieldset", {}, h("legend", {}, "What it watches"), kindFields),
    h("fieldset", {}, h("legend", {}, "Scope (filters; empty = all)"), filters),
    h("fieldset", {}, h("legend", {}, "When and whom"), common, recv),
    h("label", { class: "check" }, jsonMode, "Edit as JSON (every field, e.g. burn-rate windows)"),
    json, validity,
    h("div", { class: "form-actions" }, save, del, status));
  form.addEventListener("submit", (e) => e.preventDefault());
  const previewPanel = h("div", { class: "preview" },
    h("h3", {}, "Findings now"), nowBox,
    h("div", { class: "preview-head" }, h("h3", {}, "Replay: when it would have fired over the last "), replayRange),
    replayBox);
  clear(el, h("div", { class: "editor-grid" }, form, previewPanel));

  let extra = {}; // keys of a loaded rule the form does not show (burn-rate windows ...)
  const inputs = () => [...form.querySelectorAll("input[name], select[name]")].filter((i) => i.name !== "name");

  const showKind = (kind) => {
    help.textContent = KINDS[kind].help;
    clear(kindFields, KINDS[kind].fields.map(([n, t, l, o]) => field(n, t, l, o)));
  };

  const fromForm = () => {
    const kind = kinds.value;
    const spec = { kind, project: project || "default" };
    const known = new Set(["kind", "project", "name", "description", "filters", "receivers"]);
    for (const i of inputs()) {
      const [group, key] = i.name.includes(".") ? i.name.split(".") : [null, i.name];
      if (group === "filter") {
        if (i.value.trim()) (spec.filters ||= {})[key] = i.value.trim();
        continue;
      }
      if (group === "receiver") {
        if (i.checked) (spec.receivers ||= []).push(key);
        continue;
      }
      if (i.name === "kind") continue;
      known.add(i.name);
      const t = i.dataset.type;
      if (t === "bool") spec[i.name] = i.checked;
      else if (i.value.trim() !== "") {
        spec[i.name] = t === "number" || t === "int" ? Number(i.value) : i.value.trim();
      } else if (t === "select" && i.value === "") spec[i.name] = "";
    }
    if (description.value.trim()) spec.description = description.value.trim();
    for (const [k, v] of Object.entries(extra)) if (!known.has(k) && !(k in spec)) spec[k] = v;
    return spec;
  };

  const toForm = (spec) => {
    kinds.value = KINDS[spec.kind] ? spec.kind : "unpriced_model";
    showKind(kinds.value);
    description.value = spec.description || "";
    const shown = new Set(["kind", "name", "project", "description", "filters", "receivers", "source"]);
    for (const i of inputs()) {
      const [group, key] = i.name.includes(".") ? i.name.split(".") : [null, i.name];
      if (group === "filter") i.value = (spec.filters || {})[key] || "";
      else if (group === "receiver") i.checked = (spec.receivers || []).includes(key);
      else if (i.name !== "kind") {
        shown.add(i.name);
        if (i.dataset.type === "bool") {
          if (i.name in spec) i.checked = !!spec[i.name];
        } else if (i.name in spec && spec[i.name] !== null) i.value = String(spec[i.name]);
        else i.value = i.tagName === "SELECT" ? i.options[0].value : "";
      }
    }
    extra = Object.fromEntries(Object.entries(spec).filter(([k]) => !shown.has(k)));
  };

  const spec = () => {
    if (!jsonMode.checked) return fromForm();
    const parsed = JSON.parse(json.value); // a SyntaxError is shown as the validity message
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new SyntaxError("the rule must be a JSON object");
    return parsed;
  };

  // ---- the live preview: findings now (fast, validates), then the replay (slower)
  let seq = 0;
  let timer = null;
  const schedule = (delay = 350) => {
    clearTimeout(timer);
    timer = setTimeout(preview, delay);
  };
  async function preview() {
    const mine = ++seq;
    let s;
    try {
      s = spec();
    } catch (e) {
      showInvalid(`JSON: ${e.message}`);
      return;
    }
    if (!jsonMode.checked) json.value = JSON.stringify(withName(s), null, 2);
    const n = name.value.trim();
    const body = { rule: withName(s), since: "1h", step: "1h" };
    if (!n) delete body.rule.name;
    validity.className = "validity checking";
    validity.textContent = "checking…";
    let answer;
    try {
      answer = await api.send("POST", "alerts/preview", body);
    } catch (e) {
      if (mine === seq) showInvalid(e.message, e.status);
      return;
    }
    if (mine !== seq) return;
    validity.className = "validity ok";
    validity.textContent = "✓ valid rule";
    placeholders(answer.rule);
    clear(nowBox, findingsTable(answer.now));
    clear(replayBox, h("div", { class: "loading" }, `Replaying the last ${replayRange.selectedOptions[0].text}…`));
    try {
      const step = body.rule.kind === "burn_rate" ? "10m" : "";
      const r = await api.send("POST", "alerts/preview", { rule: body.rule, since: replayRange.value, step });
      if (mine === seq) clear(replayBox, replayView(r.replay));
    } catch (e) {
      if (mine === seq) clear(replayBox, errorBox(e));
    }
  }
  const withName = (s) => (name.value.trim() ? { ...s, name: name.value.trim() } : { ...s });
  const showInvalid = (message, status) => {
    validity.className = "validity bad";
    validity.textContent = status === 400 || status === undefined ? `✗ ${message}` : `✗ (HTTP ${status}) ${message}`;
    clear(nowBox, h("p", { class: "empty-inline" }, "Fix the rule to see what it finds."));
    clear(replayBox);
  };
  const placeholders = (normal) => {
    for (const i of inputs()) {
      if (i.tagName === "INPUT" && i.type !== "checkbox" && normal[i.name] !== undefined && normal[i.name] !== null) {
        i.placeholder = `${normal[i.name]}`;
      }
    }
  };

  kinds.addEventListener("change", () => {
    extra = {};
    showKind(kinds.value);
    schedule(0);
  });
  form.addEventListener("input", (e) => {
    if (e.target === json) {
      schedule();
      return;
    }
    if (e.target !== jsonMode) schedule();
  });
  form.addEventListener("change", (e) => {
    if (e.target.tagName === "SELECT" || e.target.type === "checkbox") schedule(0);
  });
  jsonMode.addEventListener("change", () => {
    if (jsonMode.checked) {
      json.value = JSON.stringify(withName(fromForm()), null, 2);
      json.readOnly = false;
      form.classList.add("json-mode");
    } else {
      try {
        const parsed = JSON.parse(json.value);
        if (parsed.name) name.value = parsed.name;
        toForm(parsed);
      } catch {
        // keep the form as it was: the JSON did not parse
      }
      json.readOnly = true;
      form.classList.remove("json-mode");
    }
    schedule(0);
  });
  replayRange.addEventListener("change", () => schedule(0));

  save.addEventListener("click", async () => {
    const n = name.value.trim();
    if (!n) {
      status.className = "save-status bad-text";
      status.textContent = "Give the rule a name first.";
      name.focus();
      return;
    }
    let s;
    try {
      s = spec();
    } catch (e) {
      status.className = "save-status bad-text";
      status.textContent = `JSON: ${e.message}`;
      return;
    }
    delete s.name;
    status.className = "save-status";
    status.textContent = "saving…";
    try {
      await api.send("PUT", `alerts/rules/${encodeURIComponent(n)}`, s);
    } catch (e) {
      status.className = "save-status bad-text";
      status.textContent = `Not saved: ${e.message}` + (e.status === 403 ? " (changing rules needs admin on this project)" : "");
      return;
    }
    state.navigate(tabHref("rules", { edit: n, saved: "1" }));
  });
  if (del) {
    del.addEventListener("click", async () => {
      if (del.dataset.armed !== "1") {
        del.dataset.armed = "1";
        del.textContent = "Really delete?";
        return;
      }
      try {
        await api.send("DELETE", `alerts/rules/${encodeURIComponent(rule.name)}`, undefined, project ? { project } : {});
      } catch (e) {
        status.className = "save-status bad-text";
        status.textContent = `Not deleted: ${e.message}`;
        return;
      }
      state.navigate(tabHref("rules", { deleted: rule.name }));
    });
  }

  if (rule) {
    toForm(rule);
  } else {
    kinds.value = "unpriced_model";
    showKind(kinds.value);
  }
  json.readOnly = true;
  if (readOnly) {
    for (const i of form.querySelectorAll("input, select, textarea")) i.disabled = true;
  }
  if (state.option("saved")) {
    status.className = "save-status good-text";
    status.textContent = `Saved ${rule ? rule.name : ""}: the evaluator picks it up on its next round.`;
  }
  if (state.option("deleted")) {
    status.className = "save-status good-text";
    status.textContent = `Deleted ${state.option("deleted")}.`;
  }
  schedule(0);
}

function findingsTable(rows) {
  const active = rows.filter((f) => f.active);
  return [h("p", { class: "preview-verdict", testid: "preview-now-verdict" }, active.length
    ? h("span", { class: "bad-text" }, `${plural(active.length, "group")} would fire now`)
    : h("span", { class: "good-text" }, rows.length ? `nothing would fire now (${plural(rows.length, "group")} checked)` : "no data in scope now")),
  table([
    { label: "", value: (f) => (f.active ? badge("holds", "bad") : badge("ok", "good")) },
    { label: "group", value: (f) => labelsText(f.labels) || "whole scope", cls: "nowrap" },
    { label: "value", num: true, value: (f) => num(f.value) },
    { label: "threshold", num: true, value: (f) => num(f.threshold) },
    { label: "summary", value: (f) => (f.active ? f.summary : h("span", { class: "muted" }, f.summary)) },
  ], active.length ? active.slice(0, 15) : rows.slice(0, 3), { testid: "preview-findings", rowTestid: "finding-row", empty: "" }),
  active.length && rows.length > active.length
    ? h("p", { class: "muted small" }, `${plural(rows.length - active.length, "other group")} ${rows.length - active.length === 1 ? "is" : "are"} fine.`) : null];
}

function num(v) {
  if (typeof v !== "number") return "–";
  return Math.abs(v) >= 100 ? count(v) : String(Math.round(v * 1000) / 1000);
}

function replayView(r) {
  const start = parseTime(r.since).getTime();
  const end = parseTime(r.until).getTime();
  const span = Math.max(1, end - start);
  const strip = h("div", { class: "episode-strip", testid: "replay-strip", title: "each red mark: an episode it would have fired" },
    r.episodes.map((ep) => {
      const a = parseTime(ep.fired_at).getTime();
      const b = ep.resolved_at ? parseTime(ep.resolved_at).getTime() : end;
      const width = Math.max(0.8, (100 * (b - a)) / span); // an episode still firing at the end stays visible
      const left = Math.min(100 - width, (100 * (a - start)) / span);
      return h("div", { class: "episode", style: { left: `${left}%`, width: `${width}%` },
        title: `${dateTime(ep.fired_at)}: ${ep.summary}` });
    }));
  const verdict = r.fired
    ? `would have fired ${r.fired} time${r.fired === 1 ? "" : "s"}`
    : "would not have fired";
  return [h("p", { class: "preview-verdict", testid: "replay-verdict", dataset: { fired: String(r.fired) } },
    h("b", {}, verdict), ` — ${plural(r.evaluations, "evaluation")} every ${Math.round(r.step_seconds / 60)} min`,
    r.errors ? h("span", { class: "bad-text" }, ` · ${r.errors} failed: ${r.first_error}`) : null),
  h("div", { class: "strip-axis" }, h("span", {}, dateTime(r.since, false)), h("span", {}, dateTime(r.until, false))),
  strip,
  table([
    { label: "fired", value: (ep) => dateTime(ep.fired_at, false), cls: "nowrap" },
    { label: "resolved", value: (ep) => (ep.resolved_at ? dateTime(ep.resolved_at, false) : h("span", { class: "bad-text" }, "still firing")),
      cls: "nowrap" },
    { label: "group", value: (ep) => labelsText(ep.labels) || "whole scope", cls: "nowrap" },
    { label: "peak", num: true, value: (ep) => num(ep.peak) },
    { label: "summary", value: (ep) => ep.summary },
  ], r.episodes.slice(0, 50), { testid: "replay-episodes", rowTestid: "episode-row", empty: "No episode: quiet over the whole range." })];
}

// ---- silences -----------------------------------------------------------------------------

async function silencesTab(body, base, project, now) {
  const [doc, rules] = await Promise.all([api.get("alerts/silences", {}, base), api.get("alerts/rules", {}, base)]);
  const list = panel("Active silences", { testid: "panel-silences",
    subtitle: "a silenced alert still changes state and shows here, but notifies no one" });
  const problem = h("div", { class: "save-status", testid: "silence-status" });
  list.body.replaceChildren(table([
    { label: "rule", value: (s) => s.rule || h("span", { class: "muted" }, "any rule"), testid: "cell-rule" },
    { label: "matchers", value: (s) => labelsText(s.matchers) || h("span", { class: "muted" }, "every group"), testid: "cell-matchers" },
    { label: "started", value: (s) => dateTime(s.starts_at), cls: "nowrap" },
    { label: "ends", value: (s) => h("span", { title: dateTime(s.ends_at) }, `in ${until(s.ends_at)}`), cls: "nowrap" },
    { label: "comment", value: (s) => s.comment },
    { label: "by", value: (s) => s.created_by },
    { label: "silences now", num: true, title: "alerts firing or pending now that it matches",
      value: (s) => count(now.alerts.filter((a) => (!s.rule || s.rule === a.rule)
        && Object.entries(s.matchers).every(([k, v]) => (a.labels || {})[k] === v)).length) },
    { label: "", value: (s) => h("button", { type: "button", class: "button small-button", testid: "end-silence",
      onclick: async () => {
        try {
          await api.send("DELETE", `alerts/silences/${encodeURIComponent(s.id)}`, undefined, base);
        } catch (e) {
          problem.className = "save-status bad-text";
          problem.textContent = `Not ended: ${e.message}`;
          return;
        }
        state.update({}, { replace: true });
      } }, "End now") },
  ], doc.silences, { testid: "silences-table", rowTestid: "silence-row", empty: "No active silence." }), problem);

  const ruleSel = h("select", { name: "rule", testid: "silence-rule" }, new Option("any rule", ""),
    rules.rules.map((r) => new Option(r.name, r.name)));
  ruleSel.value = state.option("s_rule");
  const matchers = h("input", { name: "matchers", size: 34, placeholder: "model=house-model-x, route=chat",
    value: state.option("s_match"), testid: "silence-matchers" });
  const duration = h("input", { name: "duration", size: 6, value: "2h", testid: "silence-duration" });
  const comment = h("input", { name: "comment", size: 36, placeholder: "why, and who is on it", testid: "silence-comment" });
  const status = h("div", { class: "save-status", testid: "silence-create-status" });
  const submit = h("button", { type: "submit", class: "button primary", testid: "silence-create" }, "Silence");
  const form = h("form", { class: "rule-form silence-form", testid: "silence-form" },
    h("div", { class: "field-row" }, h("label", { class: "field" }, "rule", ruleSel),
      h("label", { class: "field grow" }, "label matchers (key=value, comma-separated; empty = every group)", matchers),
      h("label", { class: "field" }, "for (1m–90d)", duration),
      h("label", { class: "field grow" }, "comment", comment)),
    h("div", { class: "form-actions" }, submit, status));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const m = {};
    for (const part of matchers.value.split(",").map((x) => x.trim()).filter(Boolean)) {
      const i = part.indexOf("=");
      if (i < 1) {
        status.className = "save-status bad-text";
        status.textContent = `"${part}" is not key=value`;
        return;
      }
      m[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    status.className = "save-status";
    status.textContent = "saving…";
    try {
      await api.send("POST", "alerts/silences", { rule: ruleSel.value, matchers: m, duration: duration.value.trim(),
        comment: comment.value.trim(), project: project || "" });
    } catch (err) {
      status.className = "save-status bad-text";
      status.textContent = `Not silenced: ${err.message}` + (err.status === 403 ? " (silences need admin on this project)" : "");
      return;
    }
    state.navigate(tabHref("silences"));
  });
  const create = panel("New silence", { testid: "panel-new-silence" });
  create.body.replaceChildren(form);
  body.append(create.el, list.el);
}

function until(iso) {
  const sec = (parseTime(iso).getTime() - Date.now()) / 1000;
  if (sec < 60) return `${Math.max(0, Math.round(sec))} s`;
  if (sec < 3600) return `${Math.round(sec / 60)} min`;
  if (sec < 86400) return `${Math.round(sec / 360) / 10} h`;
  return `${Math.round(sec / 8640) / 10} d`;
}

// ---- history ------------------------------------------------------------------------------

async function historyTab(body, base, project) {
  const rule = state.option("h_rule");
  const range = state.option("h_range", "7d");
  const [doc, rules] = await Promise.all([
    api.get("alerts/history", { rule, range, limit: 500 }, base),
    api.get("alerts/rules", {}, base)]);
  const ruleSel = h("select", { testid: "history-rule" }, new Option("every rule", ""),
    rules.rules.map((r) => new Option(r.name, r.name)));
  ruleSel.value = rule;
  const rangeSel = h("select", { testid: "history-range" }, HISTORY_RANGES.map(([v, l]) => new Option(l, v)));
  rangeSel.value = range;
  ruleSel.addEventListener("change", () => state.update({ h_rule: ruleSel.value }));
  rangeSel.addEventListener("change", () => state.update({ h_range: rangeSel.value === "7d" ? null : rangeSel.value }));
  const p = panel("History", { testid: "panel-history", subtitle: `${plural(doc.events.length, "event")}, newest first`,
    actions: h("div", { class: "toolbar tight" }, h("label", { class: "field" }, "rule", ruleSel),
      h("label", { class: "field" }, "range", rangeSel)) });
  p.body.replaceChildren(table([
    { label: "when", value: (e) => dateTime(e.time), cls: "nowrap" },
    { label: "rule", value: (e) => e.rule, testid: "cell-rule" },
    { label: "group", value: (e) => labelsText(e.labels) || (e.key ? e.key : h("span", { class: "muted" }, "–")), cls: "nowrap" },
    { label: "event", value: (e) => badge(e.state, STATE_TONE[e.state] || "neutral"), testid: "cell-state" },
    { label: "severity", value: (e) => e.severity || "" },
    { label: "value", num: true, value: (e) => num(e.value) },
    { label: "summary", value: (e) => e.summary },
    { label: "", value: (e) => {
      const why = explainHref(e.rule, project, e.explain);
      return why ? h("a", { href: why, "data-nav": true }, "why?") : null;
    } },
  ], doc.events, { testid: "history-table", rowTestid: "history-row", empty: "No alert events in this range." }));
  body.append(p.el);
}
