// Tabs that are links: each tab has its own address; arrow keys move between them.

import { h, icon, uid } from "../dom.js";

/** @typedef {import("../dom.js").Child} Child */

/**
 * Tabs that are links (each tab has its own URL); arrow keys move between them.
 * @param {{label: string, items: Array<{id: string, label: string, href: string, iconName?: string, count?: number | null}>, active: string | null, panel: Child}} options
 */
export function tabs({ label, items, active, panel }) {
  const panelId = uid("tabpanel");
  const list = h("div", { class: "tabs", role: "tablist", "aria-label": label });
  const tabEls = items.map((item) => {
    const selected = item.id === active;
    const tab = h(
      "a",
      {
        href: item.href,
        role: "tab",
        id: `tab-${item.id}`,
        class: ["tab", selected && "is-active"],
        "aria-selected": String(selected),
        "aria-controls": selected ? panelId : null,
        tabindex: selected ? "0" : "-1",
      },
      item.iconName && icon(item.iconName),
      item.label,
      item.count !== undefined && item.count !== null && h("span", { class: "tab-count" }, String(item.count)),
    );
    tab.addEventListener("keydown", (event) => {
      if (event.key === " ") {
        event.preventDefault();
        tab.click();
      }
    });
    return tab;
  });
  list.append(...tabEls);
  list.addEventListener("keydown", (event) => {
    const index = tabEls.indexOf(/** @type {HTMLAnchorElement} */ (document.activeElement));
    if (index < 0) return;
    let next = null;
    if (event.key === "ArrowRight") next = tabEls[(index + 1) % tabEls.length];
    if (event.key === "ArrowLeft") next = tabEls[(index - 1 + tabEls.length) % tabEls.length];
    if (event.key === "Home") next = tabEls[0];
    if (event.key === "End") next = tabEls[tabEls.length - 1];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });
  const panelEl = h("div", { role: "tabpanel", id: panelId, class: "tabpanel", "aria-labelledby": `tab-${active}` }, panel);
  return h("div", { class: "tabset" }, list, panelEl);
}
