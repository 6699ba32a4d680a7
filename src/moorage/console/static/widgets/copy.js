// Copying to the clipboard: a copy button, and text or a command shown with one.

import { breakable, copyText, h, icon } from "../dom.js";
import { announce, toast } from "./notify.js";

/** @typedef {import("../dom.js").Child} Child */

/**
 * @param {string | (() => string)} text what to copy, or how to get it at the time
 * @param {string} [label]
 */
export function copyButton(text, label = "Copy") {
  const btn = h("button", { type: "button", class: "icon-btn copy-btn", "aria-label": label, title: label }, icon("copy"));
  let timer = 0;
  btn.addEventListener("click", async () => {
    const value = typeof text === "function" ? text() : text;
    const ok = await copyText(value);
    window.clearTimeout(timer);
    if (ok) {
      btn.replaceChildren(icon("check"));
      btn.classList.add("copied");
      btn.title = "Copied";
      announce("Copied to the clipboard");
      timer = window.setTimeout(() => {
        btn.replaceChildren(icon("copy"));
        btn.classList.remove("copied");
        btn.title = label;
      }, 1800);
    } else {
      toast("Copying is blocked here: select the text and press Ctrl+C.", "info");
    }
  });
  return btn;
}

/**
 * Monospace text with a copy button beside it.
 * @param {string} text
 * @param {string} [label]
 * @param {{display?: Child, className?: string}} [options]
 */
export function copyable(text, label, { display, className } = {}) {
  return h(
    "span",
    { class: ["copyable", className] },
    h("code", { class: "mono", title: text }, display || breakable(text)),
    copyButton(text, label),
  );
}

/**
 * An address (HOST:PORT/REGISTRY…) with a copy button, shown whole: it wraps only after a
 * "/", never inside the host, the port or a name (each part is kept on one line).
 * @param {string} uri
 * @param {string} [label]
 */
export function copyableUri(uri, label) {
  const parts = uri.split(/(?<=\/)/);
  /** @type {Child[]} */
  const display = [];
  parts.forEach((part, i) => {
    if (i > 0) display.push(h("wbr", {}));
    display.push(h("span", { class: "uri-part" }, part));
  });
  return copyable(uri, label, { display, className: "copyable-uri" });
}

/**
 * A shell command on its own line, with a copy button.
 * @param {string} command
 * @param {string} [label]
 */
export function commandBlock(command, label) {
  return h(
    "div",
    { class: "command" },
    h("span", { class: "command-prompt", "aria-hidden": "true" }, "$"),
    h("code", { class: "command-text" }, command),
    copyButton(command, label || "Copy command"),
  );
}
