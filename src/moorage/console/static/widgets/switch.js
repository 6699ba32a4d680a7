// An on/off switch whose change is saved at once (a policy, a webhook, an access key).

import { h } from "../dom.js";

/**
 * A role="switch" button; `onChange(next)` saves, and the caller shows the outcome with
 * setSwitch. A click while a change is being saved does nothing.
 * @param {{checked: boolean, label: string, onChange: (next: boolean) => Promise<unknown>}} options
 */
export function toggleSwitch({ checked, label, onChange }) {
  const btn = h(
    "button",
    { type: "button", role: "switch", class: "switch", "aria-checked": String(checked), "aria-label": label },
    h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })),
    h("span", { class: "switch-text" }, checked ? "Enabled" : "Disabled"),
  );
  let busy = false;
  btn.addEventListener("click", async () => {
    if (busy) return;
    const next = btn.getAttribute("aria-checked") !== "true";
    busy = true;
    btn.setAttribute("aria-busy", "true");
    try {
      await onChange(next);
    } finally {
      busy = false;
      btn.removeAttribute("aria-busy");
    }
  });
  return btn;
}

/**
 * @param {HTMLElement} btn a toggleSwitch
 * @param {boolean} checked
 */
export function setSwitch(btn, checked) {
  btn.setAttribute("aria-checked", String(checked));
  const text = btn.querySelector(".switch-text");
  if (text) text.textContent = checked ? "Enabled" : "Disabled";
}
