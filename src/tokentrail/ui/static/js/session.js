// Who is signed in (GET /api/me), sign-in and sign-out. In open mode (a loopback server with no
// keys and no accounts) /api/me answers "local" with every scope, and nothing here shows.

let current = null;

/** The caller as /api/me describes them; null when the server wants a sign-in. */
export async function load() {
  const response = await fetch("/api/me", { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.error) || response.statusText);
  current = body && body.auth !== "none" ? body : null;
  return current;
}

export function me() {
  return current;
}

/** Headers a state-changing request needs: the session's CSRF token (signed in by cookie). */
export function csrfHeaders() {
  return current && current.csrf ? { "x-tokentrail-csrf": current.csrf } : {};
}

/** POST JSON with the CSRF header; throws Error(the server's message) when refused. */
export async function post(path, body = {}) {
  const response = await fetch(`/api/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...csrfHeaders() },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const e = new Error((answer && answer.error) || response.statusText);
    e.status = response.status;
    throw e;
  }
  return answer;
}

export function signIn(fields) {
  return post("signin", fields);
}

export async function signOut() {
  await post("signout");
  current = null;
}

/** Why content is hidden from the caller on `project` (null: it is not). */
export function contentHiddenReason(project) {
  if (!current) return "reading prompts and responses needs the read-content scope";
  const p = project || current.project;
  if ((current.content_projects || []).includes(p)) return null;
  const who = current.actor.startsWith("user:") ? `your account (${current.actor.slice(5)})` : `your key (${current.actor})`;
  return `${who} lacks read-content on project ${p}`;
}

/** The project pages read: the URL's, else the caller's own. */
export function project(filters) {
  return filters.project || (current && current.project) || "";
}
