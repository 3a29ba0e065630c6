// The app shell: which page the path names, the filter bar, links that keep the filters.

import * as api from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { dateTime } from "./fmt.js";
import * as state from "./state.js";
import cost from "./pages/cost.js";
import overview from "./pages/overview.js";
import quality from "./pages/quality.js";
import { sessionDetail, sessionList } from "./pages/sessions.js";
import trace from "./pages/trace.js";
import traces from "./pages/traces.js";
import usage from "./pages/usage.js";
import users from "./pages/users.js";

const PAGES = { "": overview, overview, cost, usage, quality, traces, sessions: sessionList, users };
const TITLES = { overview: "Overview", cost: "Cost", usage: "Usage", quality: "Quality", traces: "Traces",
  sessions: "Sessions", users: "Users" };
const CHIP_LABELS = { provider: "provider", status: "status", kind: "kind", error_type: "error type",
  http_status: "HTTP status", session: "session", customer: "customer", source: "source", project: "project" };
const BAR_FILTERS = ["route", "model", "environment", "release"];

const main = () => document.getElementById("page");
const form = () => document.querySelector("[data-testid=filters]");
let renderCount = 0;

function route() {
  const path = window.location.pathname.replace(/^\/ui\/?/, "").replace(/\/+$/, "");
  const [section, ...rest] = path.split("/");
  const id = rest.length ? decodeURIComponent(rest.join("/")) : "";
  if (section === "traces" && id) return { name: "traces", page: trace, id };
  if (section === "sessions" && id) return { name: "sessions", page: sessionDetail, id };
  return { name: section || "overview", page: PAGES[section], id };
}

async function render() {
  const mine = ++renderCount;
  const { name, page, id } = route();
  api.fresh();
  syncFilterBar();
  document.querySelectorAll(".tabs a").forEach((a) => {
    a.classList.toggle("active", a.dataset.page === name);
    a.href = state.href(a.dataset.page);
  });
  document.querySelector(".brand").href = state.href("overview");
  document.title = `${TITLES[name] || "tokentrail"} · tokentrail`;
  const root = h("div", { class: "page", testid: `page-${page ? name : "missing"}` });
  const el = main();
  el.dataset.state = "loading";
  el.dataset.page = name;
  clear(el, root);
  if (!page) {
    clear(root, errorBox(`There is no page "${name}" here. Pick one from the menu above.`));
    el.dataset.state = "ready";
    return;
  }
  try {
    await page(root, { id });
    if (mine === renderCount) el.dataset.state = "ready";
  } catch (e) {
    if (mine !== renderCount) return;
    root.append(errorBox(e));
    el.dataset.state = "error";
    console.error("tokentrail UI:", e);
  }
}

// ---- filter bar -------------------------------------------------------------------------

let optionsKey = "";

function syncFilterBar() {
  const f = state.filters();
  const fm = form();
  const range = fm.elements.range;
  if (!range.options.length) for (const [v, text] of state.RANGES) range.append(new Option(text, v));
  const custom = range.querySelector("option[data-custom]");
  if (f.since) {
    const text = state.rangeLabel(f, (t) => dateTime(t, false));
    if (custom) custom.textContent = text;
    else {
      const option = new Option(text, "custom");
      option.dataset.custom = "1";
      range.append(option);
    }
    range.value = "custom";
  } else {
    if (custom) custom.remove();
    range.value = state.RANGES.some(([v]) => v === f.range) ? f.range : (f.range ? addRange(range, f.range) : "24h");
  }
  for (const k of BAR_FILTERS) ensureOption(fm.elements[k], f[k] || "");
  fm.elements.user.value = f.user || "";
  const chips = document.querySelector("[data-testid=filter-chips]");
  clear(chips, Object.entries(CHIP_LABELS).filter(([k]) => f[k]).map(([k, label]) =>
    h("span", { class: "chip", testid: `chip-${k}` }, `${label}: ${f[k]}`,
      h("button", { type: "button", title: `Remove the ${label} filter`, onclick: () => state.update({ [k]: null }) },
        "×"))));
  const any = state.DIMENSIONS.some((k) => f[k]) || f.since;
  fm.querySelector("[data-action=clear]").hidden = !any;
  loadFilterOptions(f);
}

function addRange(select, value) {
  select.append(new Option(`Last ${value}`, value));
  return value;
}

function ensureOption(select, value) {
  if (value && ![...select.options].some((o) => o.value === value)) select.append(new Option(value, value));
  select.value = value;
}

/** Fill the drop-downs with the values seen in the range (once per range and project). */
async function loadFilterOptions(f) {
  const key = `${f.project || ""}|${f.range || ""}|${f.since || ""}|${f.until || ""}`;
  if (key === optionsKey) return;
  optionsKey = key;
  const base = { project: f.project, range: f.range, since: f.since, until: f.until };
  Object.keys(base).forEach((k) => base[k] === undefined && delete base[k]);
  let values;
  try {
    values = await api.get("filters/values", {}, base);
  } catch {
    return; // the page shows the API's error; the drop-downs keep what they have
  }
  const fm = form();
  for (const k of BAR_FILTERS) {
    const select = fm.elements[k];
    const current = state.filters()[k] || "";
    const first = select.options[0];
    select.replaceChildren(first, ...(values[k] || []).map((v) => new Option(v, v)));
    ensureOption(select, current);
  }
}

function wireFilterBar() {
  const fm = form();
  fm.addEventListener("submit", (e) => e.preventDefault());
  fm.elements.range.addEventListener("change", (e) => {
    if (e.target.value === "custom") return;
    state.update({ range: e.target.value === state.DEFAULT_RANGE ? null : e.target.value, since: null, until: null });
  });
  for (const k of BAR_FILTERS) fm.elements[k].addEventListener("change", (e) => state.update({ [k]: e.target.value }));
  const user = fm.elements.user;
  user.addEventListener("change", () => state.update({ user: user.value.trim() }));
  user.addEventListener("keydown", (e) => {
    if (e.key === "Enter") state.update({ user: user.value.trim() });
  });
  fm.querySelector("[data-action=clear]").addEventListener("click", () => {
    const keep = {};
    const f = state.filters();
    if (f.project) keep.project = f.project;
    if (f.range) keep.range = f.range;
    state.navigate(state.href(window.location.pathname.replace(/^\/ui\/?/, ""), {}, keep));
  });
  fm.querySelector("[data-action=refresh]").addEventListener("click", () => render());
}

// ---- links ------------------------------------------------------------------------------

function wireLinks() {
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    let a = e.target.closest("a[data-nav]");
    if (!a) {
      const row = e.target.closest("tr[data-href]");
      if (row && !e.target.closest("a, button, input, select")) {
        state.navigate(row.dataset.href);
        window.scrollTo(0, 0);
      }
      return;
    }
    if (a.origin !== window.location.origin) return;
    e.preventDefault();
    state.navigate(a.pathname + a.search);
    window.scrollTo(0, 0);
  });
  window.addEventListener("popstate", render);
  window.addEventListener("tt:navigate", render);
}

function boot() {
  const offset = -new Date().getTimezoneOffset() / 60;
  document.querySelector("[data-testid=timezone]").textContent =
    `Times are your local time (UTC${offset >= 0 ? "+" : ""}${offset}); days and weeks in cost charts are UTC.`;
  wireFilterBar();
  wireLinks();
  render();
}

boot();
