// The app shell: which page the path names, the filter bar, links that keep the filters.

import * as api from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { count, dateTime, plural } from "./fmt.js";
import * as live from "./live.js";
import * as session from "./session.js";
import * as state from "./state.js";
import alerts from "./pages/alerts.js";
import audit from "./pages/audit.js";
import cost from "./pages/cost.js";
import explain from "./pages/explain.js";
import overview from "./pages/overview.js";
import quality from "./pages/quality.js";
import { sessionDetail, sessionList } from "./pages/sessions.js";
import signin from "./pages/signin.js";
import trace from "./pages/trace.js";
import traces from "./pages/traces.js";
import usage from "./pages/usage.js";
import users from "./pages/users.js";
import * as savedViews from "./views.js";

const PAGES = { "": overview, overview, cost, usage, quality, traces, sessions: sessionList, users, audit, alerts,
  explain };
const TITLES = { overview: "Overview", cost: "Cost", usage: "Usage", quality: "Quality", traces: "Traces",
  sessions: "Sessions", users: "Users", audit: "Audit", alerts: "Alerts", explain: "Why did this change?" };
// pages with their own controls: the filter bar would filter nothing there
const NO_FILTER_BAR = new Set(["alerts", "audit"]);
// filters the URL may carry that have no control in the bar: shown as removable chips
const CHIP_LABELS = { model_family: "model family", provider: "provider", kind: "kind", http_status: "HTTP status",
  finish: "finish reason", source: "source" };
// drop-downs filled with the values seen (each narrowed by the other filters), and the fixed status one
const BAR_FILTERS = ["route", "model", "environment", "release", "error_type"];
const TEXT_FILTERS = ["user", "customer", "session"];
// pages whose numbers and charts live mode redraws in place (the traces list adds new rows itself)
const REFRESHABLE = new Set(["overview", "cost", "usage", "quality", "users", "sessions"]);
const REFRESH_MS = 10_000;

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
  if (document.body.classList.contains("signed-out")) return;
  const mine = ++renderCount;
  live.stopAll();
  const { name, page, id } = route();
  syncProjectPicker();
  document.querySelector("[data-testid=live]").hidden = !(name === "traces" || REFRESHABLE.has(name)) || Boolean(id);
  live.status("");
  api.fresh();
  document.body.classList.toggle("no-filters", NO_FILTER_BAR.has(name));
  alertCount();
  syncFilterBar();
  savedViews.sync(name, id, currentProject());
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
    if (mine === renderCount) {
      el.dataset.state = "ready";
      if (REFRESHABLE.has(name) && !id) live.every(REFRESH_MS, refreshInPlace);
    }
  } catch (e) {
    if (mine !== renderCount) return;
    root.append(errorBox(e));
    el.dataset.state = "error";
    console.error("tokentrail UI:", e);
  }
}

/**
 * Live mode on a dashboard: the page is drawn again off-screen (same width, so charts lay out) and
 * swapped in when its last panel is filled: the numbers and charts change in place, no "Loading…".
 */
async function refreshInPlace() {
  const { page, id } = route();
  const el = main();
  const old = el.querySelector(":scope > .page");
  if (!page || !old || el.dataset.state !== "ready" || !liveRangeOpen() || busyWith(old)) return;
  const mine = ++renderCount;
  api.fresh();
  const next = h("div", { class: "page page-next", testid: old.dataset.testid, style: { width: `${old.offsetWidth}px` } });
  el.append(next);
  try {
    await page(next, { id });
  } catch (e) {
    next.remove();
    throw e;
  }
  if (mine !== renderCount || !old.isConnected) {
    next.remove();
    return;
  }
  next.classList.remove("page-next");
  next.style.width = "";
  const chosen = toggleChoices(old);
  old.replaceWith(next);
  restoreToggles(next, chosen);
  loadProjects(state.filters(), true);
  el.dataset.refreshed = String(Number(el.dataset.refreshed || 0) + 1);
  live.status(`updated ${dateTime(new Date(), true).split(", ").pop()}`);
}

/** Someone reading a chart's read-out or typing in the page: the redraw waits for the next turn. */
function busyWith(root) {
  const active = document.activeElement;
  return Boolean(root.querySelector(".chart:hover")) ||
    Boolean(active && root.contains(active) && active.matches("input, select, textarea"));
}

/** The active button of each in-panel toggle (e.g. latency: total / TTFT / TPOT), by position. */
function toggleChoices(root) {
  return [...root.querySelectorAll(".segmented")].map((g) => g.querySelector("button.active")?.textContent ?? null);
}

/** Choose them again in the redrawn page (toggles that follow the URL already match and are left alone). */
function restoreToggles(root, chosen) {
  root.querySelectorAll(".segmented").forEach((g, i) => {
    const want = chosen[i];
    if (!want || g.querySelector("button.active")?.textContent === want) return;
    [...g.querySelectorAll("button")].find((b) => b.textContent === want)?.click();
  });
}

/** A range that ends in the past shows nothing new: live mode rests there. */
function liveRangeOpen() {
  const until = state.filters().until;
  if (until && Date.parse(until) < Date.now()) {
    live.status("the time range has ended: nothing new to show");
    return false;
  }
  return true;
}

// ---- the project picker (top bar): the projects the caller may read, with their calls ---------------

let projectsKey = "";

function projectPicker() {
  return document.querySelector("[data-testid=project-picker]");
}

function currentProject() {
  return state.filters().project || session.me()?.project || "";
}

function syncProjectPicker() {
  const picker = projectPicker();
  const current = currentProject();
  if (current && ![...picker.options].some((o) => o.value === current)) picker.append(new Option(current, current));
  picker.value = current;
  loadProjects(state.filters());
}

/** Fill the picker with /api/projects (once per time range, or again with `force`). */
async function loadProjects(f, force = false) {
  const key = `${f.range || ""}|${f.since || ""}|${f.until || ""}`;
  if (key === projectsKey && !force) return;
  projectsKey = key;
  const base = { range: f.range, since: f.since, until: f.until };
  Object.keys(base).forEach((k) => base[k] === undefined && delete base[k]);
  let doc;
  try {
    doc = await api.poll("projects", {}, base);
  } catch {
    return; // the picker keeps the current project; the page shows what is wrong
  }
  const picker = projectPicker();
  const current = currentProject();
  const rows = doc.projects;
  if (current && !rows.some((r) => r.project === current)) rows.push({ project: current, requests: 0 });
  picker.replaceChildren(...rows.map((r) => {
    const o = new Option(r.requests === undefined ? r.project : `${r.project} · ${callCount(r.requests)}`, r.project);
    o.dataset.requests = String(r.requests ?? "");
    return o;
  }));
  picker.value = current;
  picker.title = `Project: ${current}. Counts are LLM calls in the time range (${state.rangeLabel(f, (t) => dateTime(t, false))}).`;
}

function callCount(n) {
  return n ? plural(n, "call") : "no calls";
}

function wireProjectPicker() {
  const picker = h("select", { testid: "project-picker", "aria-label": "Project" });
  document.querySelector(".brand").after(h("label", { class: "project-switch", testid: "project-switch" },
    h("span", { class: "project-switch-label" }, "Project"), picker));
  picker.addEventListener("change", () => {
    const project = picker.value;
    state.rememberProject(project);
    const { name, id } = route();
    // a trace or session belongs to one project: switching goes to that list in the other project
    if (id) state.navigate(state.href(name, { project, offset: null }));
    else state.update({ project, offset: null });
  });
}

/**
 * The project of a URL without ?project=: the one holding the linked trace or session, else the one last
 * chosen here, else the caller's own. It is put in the URL, so every link made from then on carries it.
 */
async function resolveProject(me) {
  if (state.filters().project) return;
  const readable = me.projects || [];
  const kept = readable.includes(state.rememberedProject()) ? state.rememberedProject() : "";
  const { name, id } = route();
  let project = "";
  if (id && (name === "traces" || name === "sessions")) {
    const found = await holding(name === "traces" ? "trace_id" : "session_id", id);
    project = [kept, me.project].find((p) => p && found.includes(p)) || found[0] || "";
  }
  project = project || kept || me.project;
  if (project) state.setProjectInUrl(project);
}

async function holding(key, id) {
  if (key === "trace_id" && !/^[0-9a-fA-F]{32}$/.test(id)) return [];
  try {
    const r = await fetch(`/api/projects/holding?${key}=${encodeURIComponent(id)}`, { headers: { accept: "application/json" } });
    return r.ok ? (await r.json()).projects : [];
  } catch {
    return []; // the page itself says the trace was not found
  }
}

// ---- live mode toggle (filter bar) ------------------------------------------------------------------

function wireLiveToggle() {
  const box = h("input", { type: "checkbox", testid: "live-toggle", checked: live.isOn(),
    onchange: (e) => live.set(e.target.checked) });
  const toggle = h("label", { class: "live-toggle", testid: "live",
    title: "Live: the traces list shows new calls as they arrive (asks every 3 s); dashboards redraw every 10 s. " +
      "Paused while this tab is hidden." }, box, h("span", {}, "Live"),
  h("span", { class: "live-status", testid: "live-status" }));
  form().querySelector(".filter-actions").prepend(toggle);
  window.addEventListener("tt:live", (e) => {
    box.checked = e.detail.on;
    if (!e.detail.on) live.status("");
    else if (REFRESHABLE.has(route().name) && !route().id) live.status("on: redraws every 10 s");
  });
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
  ensureOption(fm.elements.status, f.status || "");
  for (const k of TEXT_FILTERS) fm.elements[k].value = f[k] || "";
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

/** Fill the drop-downs with the values seen in the range, each narrowed by the other filters in force
 * (asked again when the project, range or a filter changes). */
async function loadFilterOptions(f) {
  const base = { project: f.project, range: f.range, since: f.since, until: f.until };
  for (const k of state.DIMENSIONS) base[k] = f[k];
  Object.keys(base).forEach((k) => (base[k] === undefined || base[k] === "") && delete base[k]);
  const key = JSON.stringify(base);
  if (key === optionsKey) return;
  optionsKey = key;
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
  for (const k of [...BAR_FILTERS, "status"]) {
    fm.elements[k].addEventListener("change", (e) => state.update({ [k]: e.target.value, offset: null }));
  }
  for (const k of TEXT_FILTERS) {
    const box = fm.elements[k];
    const apply = () => {
      if (box.value.trim() !== (state.filters()[k] || "")) state.update({ [k]: box.value.trim(), offset: null });
    };
    box.addEventListener("change", apply);
    box.addEventListener("keydown", (e) => {
      if (e.key === "Enter") apply();
    });
  }
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

// ---- the number of firing alerts, on the Alerts tab ------------------------------------------

let countAt = 0;
let countProject = null;

function showAlertCount({ firing, silenced }) {
  const el = document.querySelector("[data-testid=nav-alerts-count]");
  el.textContent = String(firing);
  el.hidden = !firing;
  el.closest("a").title = firing || silenced ? `${firing} alerts firing` + (silenced ? `, ${silenced} silenced` : "") : "";
}

/** Ask at most every 30 s (and when the project changes); the Alerts page tells it on every rendering. */
async function alertCount() {
  const me = session.me();
  if (!me || !(me.scopes || []).includes("read")) return;
  const project = state.filters().project || me.project || "";
  if (project === countProject && Date.now() - countAt < 30_000) return;
  countAt = Date.now();
  countProject = project;
  try {
    const r = await fetch(`/api/alerts${project ? `?project=${encodeURIComponent(project)}` : ""}`,
      { headers: { accept: "application/json" } });
    if (!r.ok) return;
    const firing = (await r.json()).alerts.filter((a) => a.state === "firing");
    showAlertCount({ firing: firing.filter((a) => !a.silenced).length, silenced: firing.filter((a) => a.silenced).length });
  } catch {
    // the count is a hint: the Alerts page says what is wrong
  }
}

// ---- who is signed in --------------------------------------------------------------------

/** The sign-in page instead of the app (the server wants credentials and there is no session). */
function showSignIn(message) {
  renderCount++;
  document.body.classList.add("signed-out");
  document.title = "Sign in · tokentrail";
  const el = main();
  el.dataset.page = "signin";
  const root = h("div", { class: "page", testid: "page-signin" });
  clear(el, root);
  signin(root, { message, onSignedIn: start });
  el.dataset.state = "ready";
}

/** The signed-in user's bar: name, sign out; the Audit tab for admins (the project picker is the top bar's). */
function showUser(me) {
  document.body.classList.remove("signed-out");
  document.querySelector(".tabs a[data-page=audit]").hidden = !me.admin;
  const bar = document.querySelector("[data-testid=user-bar]");
  if (me.auth === "open") {
    clear(bar);
    return;
  }
  const out = me.auth === "session" ? h("button", { type: "button", class: "link-button signout", testid: "signout",
    onclick: async () => {
      try {
        await session.signOut();
      } finally {
        window.location.assign("/ui/");
      }
    } }, "Sign out") : null;
  clear(bar, h("span", { class: "who", testid: "who", title: me.scopes.join(", ") }, me.actor.replace(/^user:/, "")), out);
}

async function start() {
  let me;
  try {
    me = await session.load();
  } catch (e) {
    clear(main(), errorBox(e));
    main().dataset.state = "error";
    return;
  }
  if (!me) {
    showSignIn();
    return;
  }
  await resolveProject(me);
  showUser(me);
  optionsKey = "";
  projectsKey = "";
  render();
}

function boot() {
  const offset = -new Date().getTimezoneOffset() / 60;
  document.querySelector("[data-testid=timezone]").textContent =
    `Times are your local time (UTC${offset >= 0 ? "+" : ""}${offset}); days and weeks in cost charts are UTC.`;
  wireFilterBar();
  wireProjectPicker();
  wireLiveToggle();
  savedViews.wire(form().querySelector(".filter-actions"), currentProject);
  wireLinks();
  window.addEventListener("tt:signin-needed", () => showSignIn("Your session has ended: sign in again."));
  window.addEventListener("tt:alert-count", (e) => {
    countAt = Date.now();
    showAlertCount(e.detail);
  });
  start();
}

boot();
