// Sign-in: a session cookie plus a CSRF token kept for this browser tab.

import { api, ApiError, csrf } from "./api.js";
import { clear, h, icon } from "./dom.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { textField } from "./widgets/form.js";

/** @type {Record<string, string>} */
const REASONS = {
  expired: "Your session has ended. Sign in again to continue.",
  tab: "Sign in again to make changes in this browser tab.",
};

/** @param {import("./main.js").PublicPageContext} context */
export function render({ query, onSignedIn }) {
  const username = textField({ label: "User name", name: "username", autocomplete: "username", required: true, requiredMessage: "Enter your user name.", spellcheck: false });
  const password = textField({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true, requiredMessage: "Enter your password." });
  const status = h("div", { class: "signin-status" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, h("span", { class: "btn-label" }, "Sign in"));
  const reason = REASONS[query.get("reason") || ""];
  if (reason) clear(status, alertBox(reason, { kind: "info" }));
  else if (query.get("signed_out")) clear(status, alertBox("You have signed out.", { kind: "info" }));

  const form = h(
    "form",
    { class: "signin-form", novalidate: true, "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"),
    h("p", { class: "signin-lead" }, "Use your moorage user name and password."),
    status,
    username.el,
    password.el,
    submit,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = username.input.value.trim();
    const secret = password.input.value;
    clear(status);
    if (!name || !secret) {
      clear(status, alertBox(!name ? "Enter your user name." : "Enter your password."));
      (!name ? username.input : password.input).focus();
      return;
    }
    submit.disabled = true;
    submit.classList.add("is-busy");
    try {
      /** @type {{csrf_token: string}} */
      const created = await api.post("/session", { username: name, password: secret }, { signedOutOk: true });
      csrf.set(created.csrf_token);
      await onSignedIn(query.get("next"));
    } catch (error) {
      if (error instanceof ApiError && error.kind === "auth-disabled") {
        // Open mode: every request is already allowed.
        await onSignedIn(query.get("next"));
        return;
      }
      const message = messageOf(error);
      clear(status, alertBox(message, { title: "Sign-in failed." }));
      password.input.value = "";
      password.input.focus();
    } finally {
      submit.disabled = false;
      submit.classList.remove("is-busy");
    }
  });

  window.setTimeout(() => username.input.focus(), 0);

  return h(
    "div",
    { class: "signin" },
    h(
      "main",
      { class: "signin-card" },
      h("div", { class: "signin-brand" }, h("span", { class: "brand-mark" }, icon("anchor")), h("span", { class: "brand-name" }, "moorage"), h("span", { class: "brand-tag" }, "Container Registry")),
      form,
    ),
    h("p", { class: "signin-foot" }, "Signed-in sessions last 12 hours. For docker, skopeo and CI, create an access key after signing in."),
  );
}
