// The JSON API behind every number (see /docs). One GET helper; answers are shared within
// one rendering of a page, so two panels asking the same question send one request.

import { csrfHeaders } from "./session.js";
import { query } from "./state.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let cache = new Map();

/** Forget shared answers: called before each rendering of a page. */
export function fresh() {
  cache = new Map();
}

/** GET /api/<path>?<filters + extra>; throws ApiError with the server's message. */
export function get(path, extra = {}, base) {
  const url = `/api/${path}?${query(extra, base)}`;
  return cached(url);
}

/** GET /api/<path> like `get`, never from the shared answers (live updates ask again each time). */
export function poll(path, extra = {}, base) {
  return load(`/api/${path}?${query(extra, base)}`);
}

/** GET without the filters (trace and session detail: the id says it all, project aside). */
export function getOne(path, project) {
  const url = `/api/${path}` + (project ? `?project=${encodeURIComponent(project)}` : "");
  return cached(url);
}

function cached(url) {
  if (!cache.has(url)) {
    const answer = load(url);
    answer.catch(() => {}); // handled where awaited; not an "uncaught" rejection meanwhile
    cache.set(url, answer);
  }
  return cache.get(url);
}

async function load(url) {
  let response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" } });
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message}); is tokentrail still running?`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401) window.dispatchEvent(new Event("tt:signin-needed")); // session ended or expired
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || response.statusText);
  return body;
}

/**
 * A write: PUT / POST / DELETE /api/<path> with a JSON body and the session's CSRF header.
 * Throws ApiError with the server's message (a 403 says which scope is missing).
 */
export async function send(method, path, body, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
  const url = `/api/${path}${q.toString() ? "?" + q : ""}`;
  const init = { method, headers: { accept: "application/json", ...csrfHeaders() } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message}); is tokentrail still running?`);
  }
  const answer = await response.json().catch(() => null);
  if (response.status === 401) window.dispatchEvent(new Event("tt:signin-needed"));
  if (!response.ok) throw new ApiError(response.status, (answer && answer.error) || response.statusText);
  return answer;
}
