// Confirmation before something irreversible, and the common "confirm, then say so" flow.

import { h, uid } from "../dom.js";
import { alertBox } from "./alert.js";
import { openDialog } from "./dialog.js";
import { toast } from "./notify.js";

/** @typedef {import("../dom.js").Child} Child */

/**
 * @typedef {object} ConfirmOptions
 * @property {Child} title
 * @property {Child} message
 * @property {string[]} [items] what is affected, listed in monospace (the first 8)
 * @property {string} [confirmLabel]
 * @property {boolean} [danger]
 * @property {() => Promise<unknown>} action runs inside the dialog, so its error shows there
 * @property {string | null} [requireCheck] a checkbox that must be ticked first
 * @property {Child} [note] a warning below the message
 */

/**
 * Confirmation before something irreversible. `action` runs inside the dialog so its error
 * shows there. `requireCheck` adds a checkbox that must be ticked first.
 * Resolves true when the action was confirmed and succeeded.
 * @param {ConfirmOptions} options
 */
export function confirmAction({ title, message, items, confirmLabel = "Delete", danger = true, action, requireCheck, note }) {
  const list = items && items.length
    ? h("ul", { class: "confirm-list" }, items.slice(0, 8).map((item) => h("li", {}, h("code", { class: "mono" }, item))), items.length > 8 && h("li", { class: "muted" }, `and ${items.length - 8} more`))
    : null;
  /** @type {HTMLInputElement | null} */
  let check = null;
  /** @type {Child[]} */
  const body = [h("div", { class: "confirm-message" }, message), list];
  if (note) body.push(alertBox(note, { kind: "warning" }));
  if (requireCheck) {
    const id = uid("confirm-check");
    check = h("input", { type: "checkbox", id, name: "confirmed", class: "checkbox" });
    body.push(h("div", { class: "check-row" }, check, h("label", { for: id }, requireCheck)));
  }
  return openDialog({
    title,
    body,
    submitLabel: confirmLabel,
    danger,
    submitDisabled: Boolean(requireCheck),
    initialFocus: (dialog) => (check ? check : /** @type {HTMLElement | null} */ (dialog.querySelector('button[type="submit"]'))),
    onSubmit: async () => {
      await action();
      return true;
    },
  }).then((result) => result === true);
}

/**
 * confirmAction, then — once it is done — a toast saying so and `then()` (reload a list,
 * leave a page). Resolves as confirmAction does.
 * @param {ConfirmOptions & {done: string, then?: () => unknown}} options `done` is the toast
 */
export async function confirmThen({ done, then, ...options }) {
  const confirmed = await confirmAction(options);
  if (confirmed) {
    toast(done);
    then?.();
  }
  return confirmed;
}

// Wired after openDialog builds the form: enables the confirm button when the box is ticked.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement && target.name === "confirmed") {
    const submit = target.form?.querySelector('button[type="submit"]');
    if (submit instanceof HTMLButtonElement) submit.disabled = !target.checked;
  }
});
