// The audit log (admins): who read content, changed keys, accounts or policy, exported or purged.

import * as api from "../api.js";
import { h, panel, table } from "../dom.js";
import { dateTime } from "../fmt.js";
import * as state from "../state.js";

// page-local filters (the audit page covers every project unless one is asked for here)
const FIELDS = [["actor", "actor", "user:alice, key:tt_…"], ["action", "action", "content.read, key.*"],
  ["target", "target", "trace or session id"], ["audit_project", "project", "every project"]];

export default async function audit(root) {
  const f = state.filters();
  const form = h("form", { class: "audit-filters", testid: "audit-filters" },
    FIELDS.map(([k, label, hint]) => h("label", {}, label,
      h("input", { name: k, type: "search", placeholder: hint, value: state.option(k), testid: `audit-${k}`, size: 18 }))),
    h("button", { type: "submit", class: "button" }, "Filter"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const changes = {};
    for (const [k] of FIELDS) changes[k] = form.elements[k].value.trim();
    state.update(changes);
  });
  const extra = { limit: 500, project: state.option("audit_project") || null };
  for (const [k] of FIELDS.slice(0, 3)) extra[k] = state.option(k);
  const doc = await api.get("admin/audit", extra);
  const { el, body } = panel("Audit log", {
    testid: "audit-log",
    subtitle: `${doc.rows.length} rows, newest first · ${state.rangeLabel(f)}`
      + (extra.project ? ` · project ${extra.project}` : " · every project")
      + ` · kept ${doc.retention_days || "forever"}${doc.retention_days ? " days" : ""}`
      + (doc.dropped ? ` · ${doc.dropped} rows dropped since start` : ""),
  });
  body.replaceChildren(table([
    { label: "when", value: (r) => dateTime(r.time) },
    { label: "actor", value: (r) => r.actor, testid: "cell-actor" },
    { label: "action", value: (r) => r.action, testid: "cell-action" },
    { label: "project", value: (r) => r.project || "–" },
    { label: "target", value: (r) => r.target || "–", testid: "cell-target" },
    { label: "detail", value: (r) => r.detail },
    { label: "from", value: (r) => h("span", { title: r.user_agent }, r.ip || "–") },
  ], doc.rows, { testid: "audit-table", empty: "No audit rows match these filters." }));
  root.append(h("div", { class: "page-title" }, h("h1", {}, "Audit log")), form, el);
}
