// Errors and notes shown where they happen, and the words for a failure.

import { ApiError } from "../api.js";
import { h, icon } from "../dom.js";
import { button } from "./buttons.js";

/** @typedef {import("../dom.js").Child} Child */

/**
 * An error shown where it happened, with an optional retry.
 * @param {Child} message
 * @param {{kind?: "error" | "warning" | "info" | "success", retry?: () => unknown, title?: Child}} [options]
 */
export function alertBox(message, { kind = "error", retry, title } = {}) {
  const box = h(
    "div",
    { class: ["alert", `alert-${kind}`], role: kind === "error" ? "alert" : "note" },
    icon(kind === "error" ? "error" : kind === "warning" ? "warning" : "info", "icon alert-icon"),
    h("div", { class: "alert-text" }, title && h("strong", { class: "alert-title" }, title), h("span", {}, message)),
  );
  if (retry) box.append(button("Try again", { kind: "secondary", size: "sm", iconName: "refresh", onClick: retry }));
  return box;
}

/**
 * The message to show for a failure: the problem's `detail`, as a sentence.
 * @param {unknown} error
 */
export function messageOf(error) {
  const message = error ? /** @type {{message?: unknown}} */ (error).message : null;
  const text = error instanceof ApiError ? error.detail : message ? String(message) : String(error);
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "Something went wrong.";
}
