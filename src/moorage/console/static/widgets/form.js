// Form fields: a labelled control with a hint and a place for its error, and check boxes.

import { h, icon, uid } from "../dom.js";

/** @typedef {import("../dom.js").Child} Child */

/**
 * @typedef {object} FieldOptions
 * @property {Child} label
 * @property {string} name the key of the control's value in a dialog's `values`
 * @property {string} [type]
 * @property {string} [value]
 * @property {boolean} [required]
 * @property {Child} [hint]
 * @property {string} [placeholder]
 * @property {string} [autocomplete]
 * @property {Array<{value: string, label: string}>} [options] makes a <select>
 * @property {boolean} [readonly]
 * @property {boolean} [mono]
 * @property {string | null} [list] the id of a <datalist>
 * @property {string} [pattern]
 * @property {string} [requiredMessage] the error when a required field is left empty
 * @property {boolean} [spellcheck]
 */

/**
 * A labelled control with a hint and a place for its error.
 * `options` makes a <select>; `values` returned by dialogs are keyed by `name`.
 * @param {FieldOptions} options
 * @returns {{el: HTMLDivElement, input: HTMLInputElement | HTMLSelectElement}}
 */
export function field({
  label,
  name,
  type = "text",
  value = "",
  required = false,
  hint,
  placeholder,
  autocomplete,
  options,
  readonly,
  mono,
  list,
  pattern,
  requiredMessage,
  spellcheck,
}) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const describedBy = [hintId].filter(Boolean).join(" ") || null;
  let input;
  if (options) {
    input = h(
      "select",
      { id, name, class: "input", required, "aria-describedby": describedBy },
      options.map((option) => h("option", { value: option.value }, option.label)),
    );
    input.value = value;
  } else {
    input = h("input", {
      id,
      name,
      type,
      class: ["input", mono && "mono"],
      value,
      required,
      placeholder,
      autocomplete: autocomplete || "off",
      readonly,
      list,
      pattern,
      spellcheck: spellcheck === undefined ? null : String(spellcheck),
      "aria-describedby": describedBy,
    });
  }
  if (requiredMessage) input.dataset.required = requiredMessage;
  const wrapper = h(
    "div",
    { class: "field" },
    h("label", { for: id, class: "field-label" }, label, required && h("span", { class: "required", "aria-hidden": "true" }, " *")),
    input,
    hint && h("p", { class: "field-hint", id: hintId }, hint),
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
  return { el: wrapper, input };
}

/**
 * A text field; as field(), for the fields that are never a <select>.
 * @param {Omit<FieldOptions, "options">} options
 */
export function textField(options) {
  return /** @type {{el: HTMLDivElement, input: HTMLInputElement}} */ (field(options));
}

/**
 * Shows (or, with no message, clears) the error under a field's control.
 * @param {Element} input
 * @param {string | null} message
 */
export function setFieldError(input, message) {
  const wrapper = input.closest(".field");
  const box = wrapper && wrapper.querySelector(".field-error");
  if (!wrapper || !(box instanceof HTMLElement)) return;
  const hintId = wrapper.querySelector(".field-hint")?.id;
  if (message) {
    box.replaceChildren(icon("error"), h("span", {}, message));
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", [hintId, box.id].filter(Boolean).join(" "));
  } else {
    box.hidden = true;
    box.replaceChildren();
    input.removeAttribute("aria-invalid");
    if (hintId) input.setAttribute("aria-describedby", hintId);
    else input.removeAttribute("aria-describedby");
  }
}

/**
 * A form's values by control name: text trimmed, check boxes true or false. What a name
 * holds depends on its control, so the values are not checked.
 * @typedef {Record<string, any>} FormValues
 */

/**
 * @param {HTMLFormElement} form
 * @returns {FormValues}
 */
export function formValues(form) {
  /** @type {FormValues} */
  const values = {};
  for (const el of /** @type {Iterable<Element & {name?: string, type?: string, value?: unknown}>} */ (form.elements)) {
    if (!el.name) continue;
    if (el instanceof HTMLInputElement && el.type === "checkbox") values[el.name] = el.checked;
    else values[el.name] = typeof el.value === "string" ? el.value.trim() : el.value;
  }
  return values;
}

/**
 * A checkbox row (enabled, untagged…) whose value a dialog reads by `name`.
 * @param {string} name
 * @param {string} label
 * @param {boolean} checked
 */
export function checkField(name, label, checked) {
  const id = uid(`check-${name}`);
  return h("div", { class: "check-row" }, h("input", { type: "checkbox", id, name, class: "checkbox", checked }), h("label", { for: id }, label));
}

/**
 * The error to throw from a dialog's onSubmit when the reason is already shown next to its
 * field: the dialog stays open and adds nothing.
 * @param {string} message
 */
export function quietError(message) {
  return Object.assign(new Error(message), { quiet: true });
}
