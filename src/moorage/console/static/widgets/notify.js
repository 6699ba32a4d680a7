// Telling the user something happened: a toast in the corner, or words for screen readers.

import { h, icon } from "../dom.js";

/**
 * Messages for screen readers that need no visible toast ("Copied").
 * @param {string} message
 */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 30);
}

/**
 * A short confirmation in the corner; errors belong next to what failed, not here.
 * @param {string} message
 * @param {"success" | "info"} [kind]
 */
export function toast(message, kind = "success") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const close = h("button", { type: "button", class: "icon-btn toast-close", "aria-label": "Dismiss" }, icon("close"));
  const item = h(
    "div",
    { class: ["toast", `toast-${kind}`] },
    icon(kind === "success" ? "check" : "info", "icon toast-icon"),
    h("span", { class: "toast-text" }, message),
    close,
  );
  const remove = () => item.remove();
  close.addEventListener("click", remove);
  region.append(item);
  while (region.children.length > 3) region.firstElementChild?.remove();
  window.setTimeout(remove, 5000);
}
