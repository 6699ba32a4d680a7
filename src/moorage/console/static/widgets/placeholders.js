// What stands in for content that is not there: a spinner while loading, or an empty state.

import { h, icon } from "../dom.js";

/** @typedef {import("../dom.js").Child} Child */

/** @param {string} [text] */
export function loading(text = "Loading…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/**
 * A list or page with nothing in it: an icon, a title, what to do, and buttons to do it.
 * @param {{iconName?: string, title: Child, body?: Child, actions?: Child}} options
 */
export function emptyState({ iconName = "box", title, body, actions }) {
  return h(
    "div",
    { class: "empty" },
    h("div", { class: "empty-icon" }, icon(iconName)),
    h("p", { class: "empty-title" }, title),
    body && h("div", { class: "empty-body" }, body),
    actions && h("div", { class: "empty-actions" }, actions),
  );
}
