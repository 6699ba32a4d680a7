// Buttons and links: labelled buttons, icon-only buttons, and links that look like either.

import { h, icon } from "../dom.js";

/**
 * @typedef {object} ButtonOptions
 * @property {"primary" | "secondary" | "danger" | "danger-outline" | "ghost"} [kind]
 * @property {string} [iconName]
 * @property {(event: MouseEvent) => unknown} [onClick]
 * @property {"button" | "submit"} [type]
 * @property {string} [ariaLabel]
 * @property {boolean} [disabled]
 * @property {"sm"} [size]
 * @property {string} [title]
 */

/**
 * @param {string} label
 * @param {ButtonOptions} [options]
 */
export function button(label, { kind = "secondary", iconName, onClick, type = "button", ariaLabel, disabled, size, title } = {}) {
  return h(
    "button",
    {
      type,
      class: ["btn", `btn-${kind}`, size && `btn-${size}`],
      onClick,
      "aria-label": ariaLabel,
      title,
      disabled,
    },
    iconName && icon(iconName),
    h("span", { class: "btn-label" }, label),
  );
}

/**
 * A button that shows only an icon; `label` is its accessible name and tooltip.
 * @param {string} iconName
 * @param {string} label
 * @param {{onClick?: (event: MouseEvent) => unknown, kind?: "danger", disabled?: boolean}} [options]
 */
export function iconButton(iconName, label, { onClick, kind, disabled } = {}) {
  return h(
    "button",
    { type: "button", class: ["icon-btn", kind && `icon-btn-${kind}`], "aria-label": label, title: label, onClick, disabled },
    icon(iconName),
  );
}

/**
 * @param {string} href
 * @param {string} text
 * @param {string} [className]
 */
export function link(href, text, className) {
  return h("a", { href, class: className }, text);
}
