// A modal dialog around a form: focus stays inside, Escape cancels, Enter submits, and a
// failed submit shows its error inside the dialog, which stays open.

import { ApiError } from "../api.js";
import { clear, h, icon, uid } from "../dom.js";
import { alertBox, messageOf } from "./alert.js";
import { formValues, setFieldError } from "./form.js";

/** @typedef {import("../dom.js").Child} Child */
/** @typedef {import("./form.js").FormValues} FormValues */

/**
 * @template R
 * @typedef {object} DialogOptions
 * @property {Child} title
 * @property {Child} [description]
 * @property {Child} [body]
 * @property {string} [submitLabel] none: the dialog only has its close buttons
 * @property {boolean} [danger] the submit button is red
 * @property {string | null} [cancelLabel] null: no cancel button
 * @property {(submitted: {values: FormValues, form: HTMLFormElement, dialog: HTMLDialogElement}) => R | Promise<R>} [onSubmit]
 * @property {boolean} [wide]
 * @property {HTMLElement | null | ((dialog: HTMLDialogElement) => HTMLElement | null)} [initialFocus]
 * @property {boolean} [submitDisabled]
 * @property {boolean} [dismissible] false: no close button, and Escape does not close it (only submitting does)
 */

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

/** @param {HTMLElement} root */
function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter(
    /** @returns {el is HTMLElement} */ (el) => el instanceof HTMLElement && el.getClientRects().length > 0 && !el.closest("[hidden]"),
  );
}

/**
 * Whether an error says it is already shown next to its field (see quietError).
 * @param {unknown} error
 */
function isQuiet(error) {
  return Boolean(error && /** @type {{quiet?: unknown}} */ (error).quiet);
}

/**
 * A modal dialog around a form. Focus stays inside, Escape cancels, Enter submits.
 * `onSubmit({values, form, dialog})` may throw: the error is shown inside the dialog and it
 * stays open. Resolves with onSubmit's result (true if none), or null when cancelled.
 * @template [R=true]
 * @param {DialogOptions<R>} options
 * @returns {Promise<R | true | null>}
 */
export function openDialog({
  title,
  description,
  body,
  submitLabel,
  danger = false,
  cancelLabel = "Cancel",
  onSubmit,
  wide = false,
  initialFocus,
  submitDisabled = false,
  dismissible = true,
}) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid("dialog-title");
    const descriptionId = description ? uid("dialog-description") : null;
    const errorBox = h("div", { class: "dialog-error", hidden: true });
    const submit = submitLabel
      ? h("button", { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"], disabled: submitDisabled }, h("span", { class: "btn-label" }, submitLabel))
      : null;
    const cancel = cancelLabel ? h("button", { type: "button", class: "btn btn-secondary", value: "cancel" }, cancelLabel) : null;
    const closeButton = dismissible ? h("button", { type: "button", class: "icon-btn dialog-close", "aria-label": "Close" }, icon("close")) : null;
    const form = h(
      "form",
      { class: "dialog-form", novalidate: true },
      h("header", { class: "dialog-head" }, h("h2", { id: titleId }, title), closeButton),
      h(
        "div",
        { class: "dialog-body" },
        description && h("p", { id: descriptionId, class: "dialog-description" }, description),
        body,
        errorBox,
      ),
      h("footer", { class: "dialog-foot" }, cancel, submit),
    );
    const dialog = h(
      "dialog",
      { class: ["dialog", wide && "dialog-wide"], "aria-labelledby": titleId, "aria-describedby": descriptionId, "aria-modal": "true" },
      form,
    );
    let busy = false;
    let done = false;

    /** @param {R | true | null} result */
    const close = (result) => {
      if (done) return;
      done = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      const target = opener && opener.isConnected ? opener : document.querySelector("main h1");
      if (target instanceof HTMLElement) target.focus();
      resolve(result);
    };
    /** @param {boolean} value */
    const setBusy = (value) => {
      busy = value;
      dialog.setAttribute("aria-busy", String(value));
      if (submit) {
        submit.disabled = value;
        submit.classList.toggle("is-busy", value);
      }
    };
    /** @param {unknown} error */
    const showError = (error) => {
      if (isQuiet(error)) return; // already shown next to its field
      const fieldErrors = error instanceof ApiError ? error.errors : [];
      let placed = false;
      for (const item of fieldErrors) {
        // the whole dotted name (`image.pattern`, or an input named `image_pattern`), then its last part
        const field = item.field || "";
        const names = [field, field.replaceAll(".", "_"), String((item.location || []).slice(-1)[0] ?? ""), field.split(".").pop()];
        const input = names.map((name) => (name ? form.elements.namedItem(name) : null)).find((found) => found instanceof HTMLElement);
        if (input instanceof HTMLElement) {
          setFieldError(input, item.detail || item.message || "");
          placed = true;
        }
      }
      if (!placed) {
        clear(errorBox, alertBox(messageOf(error)));
        errorBox.hidden = false;
      }
    };

    cancel?.addEventListener("click", () => !busy && close(null));
    closeButton?.addEventListener("click", () => !busy && close(null));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      if (!busy && dismissible) close(null);
    });
    // The browser may close a modal itself (a repeated Escape); finish the same way, or
    // open it again when only submitting may close it.
    dialog.addEventListener("close", () => {
      if (dismissible || done) close(null);
      else if (dialog.isConnected) dialog.showModal();
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Tab") {
        const items = focusables(dialog);
        if (!items.length) return;
        const first = items[0];
        const last = items[items.length - 1];
        if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
          event.preventDefault();
          last.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
          event.preventDefault();
          first.focus();
        }
      } else if (event.key === "Enter" && !event.isComposing) {
        const target = /** @type {Element} */ (event.target);
        const own = ["BUTTON", "A", "TEXTAREA", "SUMMARY"].includes(target.tagName);
        if (!own) {
          event.preventDefault();
          if (submit && !submit.disabled) form.requestSubmit(submit);
          else if (!submit) close(true);
        }
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return;
      if (!submit) {
        close(true);
        return;
      }
      errorBox.hidden = true;
      /** @type {HTMLInputElement | HTMLSelectElement | null} */
      let firstInvalid = null;
      for (const el of form.elements) {
        if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement)) continue;
        setFieldError(el, null);
        if (el.required && !String(el.value).trim()) {
          setFieldError(el, el.dataset.required || "This field is required.");
          firstInvalid = firstInvalid || el;
        }
      }
      if (firstInvalid) {
        firstInvalid.focus();
        return;
      }
      setBusy(true);
      try {
        const result = onSubmit ? await onSubmit({ values: formValues(form), form, dialog }) : true;
        setBusy(false);
        close(result === undefined ? true : result);
      } catch (error) {
        setBusy(false);
        showError(error);
        if (!dialog.contains(document.activeElement)) submit.focus();
      }
    });

    document.body.append(dialog);
    dialog.showModal();
    const first =
      (typeof initialFocus === "function" ? initialFocus(dialog) : initialFocus) ||
      dialog.querySelector(".dialog-body input:not([readonly]), .dialog-body select") ||
      (submit && !submit.disabled ? submit : null) ||
      cancel ||
      closeButton;
    if (first instanceof HTMLElement) first.focus();
  });
}
