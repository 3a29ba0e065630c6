// Saved views (filter bar): a dashboard page and its filters under a name, shared by everyone who reads the
// project (GET/POST/DELETE /api/views). Choosing one opens it; "Save view" names the page as it is now (the
// same name again replaces it); the × deletes the view that is open.

import * as api from "./api.js";
import { h } from "./dom.js";
import * as state from "./state.js";

const PAGES = new Set(["overview", "cost", "usage", "quality", "traces", "sessions", "users"]);

let views = [];
let loadedFor = null;
let box = null;

/** A query string's parameters without the project (a view belongs to one) and the pager's offset. */
function viewParams(search) {
  const p = new URLSearchParams(search);
  p.delete("project");
  p.delete("offset");
  return p;
}

/** Two query strings compared as the same view: their parameters, sorted. */
function canonical(search) {
  return [...viewParams(search).entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join("&");
}

function currentPage() {
  return window.location.pathname.replace(/^\/ui\/?/, "").split("/")[0] || "overview";
}

function currentQuery() {
  return viewParams(window.location.search).toString();
}

function open(view, project) {
  const q = new URLSearchParams(view.query);
  if (project) q.set("project", project);
  const text = q.toString();
  state.navigate(`/ui/${view.page}${text ? "?" + text : ""}`);
}

/** The control, once, at the start of the filter bar's actions. */
export function wire(container, project) {
  const select = h("select", { testid: "saved-view-select", "aria-label": "saved views",
    onchange: (e) => {
      const view = views.find((v) => v.view_id === e.target.value);
      if (view) open(view, project());
    } });
  const remove = h("button", { type: "button", class: "link-button", testid: "delete-view", hidden: true,
    title: "Delete this saved view (for everyone in the project)", onclick: async () => {
      const view = views.find((v) => v.view_id === select.value);
      if (!view) return;
      await report(api.send("DELETE", `views/${view.view_id}`, undefined, { project: project() }), `deleted “${view.name}”`);
      await load(project(), true);
    } }, "×");
  const name = h("input", { type: "text", testid: "save-view-name", placeholder: "name of this view", size: 18,
    maxlength: 100, "aria-label": "name of the view" });
  const status = h("span", { class: "muted saved-view-status", testid: "saved-view-status" });
  const form = h("form", { class: "save-view-form", testid: "save-view-form", hidden: true, onsubmit: async (e) => {
    e.preventDefault();
    const page = currentPage();
    const saved = await report(api.send("POST", "views", { name: name.value, page, query: currentQuery() },
      { project: project() }), `saved “${name.value.trim()}”`);
    if (saved) {
      form.hidden = true;
      toggle.hidden = false;
      await load(project(), true);
    }
  } }, name, h("button", { type: "submit", class: "button", testid: "save-view-submit" }, "Save"),
  h("button", { type: "button", class: "link-button", onclick: () => {
    form.hidden = true;
    toggle.hidden = false;
  } }, "Cancel"));
  const toggle = h("button", { type: "button", class: "link-button", testid: "save-view",
    title: "Save this page and its filters under a name, for everyone in the project", onclick: () => {
      const same = views.find((v) => v.view_id === select.value);
      name.value = same ? same.name : "";
      form.hidden = false;
      toggle.hidden = true;
      name.focus();
    } }, "Save view");
  box = { select, remove, toggle, form, status };
  container.prepend(h("div", { class: "saved-views", testid: "saved-views" }, select, remove, toggle, form, status));

  async function report(promise, done) {
    try {
      const answer = await promise;
      status.textContent = done;
      return answer;
    } catch (e) {
      status.textContent = e.message;
      return null;
    }
  }
}

async function load(project, force = false) {
  if (!force && loadedFor === project) return;
  loadedFor = project;
  try {
    views = (await api.poll("views", {}, project ? { project } : {})).views;
  } catch {
    views = []; // no read permission on this project: the page itself says so
  }
  draw();
}

function draw() {
  if (!box) return;
  const { select, remove } = box;
  const page = currentPage();
  const here = canonical(currentQuery());
  const match = views.find((v) => v.page === page && canonical(v.query) === here);
  select.replaceChildren(h("option", { value: "" }, views.length ? "Saved views…" : "No saved views"),
    ...views.map((v) => h("option", { value: v.view_id }, `${v.name} · ${v.page}`)));
  select.value = match ? match.view_id : "";
  remove.hidden = !match;
}

/** On every rendering: shown on the dashboards and lists only, the open view selected. */
export function sync(name, id, project) {
  if (!box) return;
  const shown = PAGES.has(name) && !id;
  box.select.closest(".saved-views").hidden = !shown;
  if (!shown) return;
  box.status.textContent = "";
  if (loadedFor !== project) load(project);
  else draw();
}
