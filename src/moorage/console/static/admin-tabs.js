// The Administration section's pages, for system administrators: their tabs, and what
// anyone else is told.

import { h } from "./dom.js";
import { link } from "./widgets/buttons.js";
import { emptyState } from "./widgets/placeholders.js";

export const ADMIN_PAGES = [
  { href: "/admin/users", label: "Users" },
  { href: "/admin/projects", label: "Projects" },
  { href: "/admin/gc", label: "Garbage collection" },
  { href: "/admin/deployment", label: "Deployment" },
  { href: "/admin/audit", label: "Audit log" },
];

/** @param {string} current the page's address */
export function adminNav(current) {
  return h(
    "nav",
    { class: "admin-nav", "aria-label": "Administration" },
    ADMIN_PAGES.map((page) => h("a", { href: page.href, class: ["admin-nav-link", page.href === current && "is-active"], "aria-current": page.href === current ? "page" : null }, page.label)),
  );
}

export function adminOnly() {
  return [
    h("h1", { tabindex: "-1", class: "visually-hidden" }, "Administration"),
    emptyState({
      iconName: "lock",
      title: "This page is for system administrators only.",
      actions: link("/registries", "Go to registries", "btn btn-primary"),
    }),
  ];
}
