// The sign-in page: an account's name and password, or an API key.

import { h } from "../dom.js";
import * as session from "../session.js";

export default function signin(root, { onSignedIn, message } = {}) {
  const error = h("p", { class: "error-box", testid: "signin-error", hidden: true });
  const name = h("input", { name: "name", autocomplete: "username", testid: "signin-name" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password",
    testid: "signin-password" });
  const key = h("input", { name: "key", type: "password", autocomplete: "off", placeholder: "tt_…",
    testid: "signin-key" });
  const withKey = h("details", { class: "signin-key" }, h("summary", {}, "Sign in with an API key instead"),
    h("label", {}, "API key", key));
  const button = h("button", { type: "submit", class: "button primary", testid: "signin-submit" }, "Sign in");
  const form = h("form", { class: "signin-form", testid: "signin-form" },
    h("h1", {}, "Sign in to tokentrail"),
    message ? h("p", { class: "note", testid: "signin-message" }, message) : null,
    h("label", {}, "Name", name),
    h("label", {}, "Password", password),
    withKey, error, button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    button.disabled = true;
    const fields = key.value.trim() ? { key: key.value.trim() } : { name: name.value.trim(), password: password.value };
    try {
      await session.signIn(fields);
      password.value = "";
      key.value = "";
      await onSignedIn();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  root.append(h("div", { class: "signin-page", testid: "signin-page" }, form));
  name.focus();
}
