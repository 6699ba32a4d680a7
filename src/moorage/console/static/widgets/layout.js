// The parts of a page: breadcrumbs, its head (title, subtitle, actions), cards and facts.

import { h, icon, uid } from "../dom.js";

/** @typedef {import("../dom.js").Child} Child */

/** @param {Array<{label: string, href?: string}>} items */
export function breadcrumbs(items) {
  const list = h("ol", {});
  items.forEach((item, i) => {
    const last = i === items.length - 1;
    list.append(
      h(
        "li",
        {},
        last || !item.href
          ? h("span", { "aria-current": last ? "page" : null, class: "crumb-current" }, item.label)
          : h("a", { href: item.href }, item.label),
      ),
    );
  });
  return h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumb" }, list);
}

/** @param {{title: Child, subtitle?: Child, actions?: Child, iconName?: string, badges?: Child}} options */
export function pageHead({ title, subtitle, actions, iconName, badges }) {
  return h(
    "div",
    { class: "page-head" },
    h(
      "div",
      { class: "page-title" },
      iconName && h("span", { class: "page-icon" }, icon(iconName)),
      h(
        "div",
        { class: "page-title-text" },
        h("h1", { tabindex: "-1" }, title, badges),
        subtitle && h("div", { class: "page-subtitle" }, subtitle),
      ),
    ),
    actions && h("div", { class: "page-actions" }, actions),
  );
}

/**
 * A titled section of a page, with actions at its head.
 * @param {Child} title
 * @param {Child} body
 * @param {{actions?: Child, id?: string, description?: Child}} [options]
 */
export function card(title, body, { actions, id, description } = {}) {
  const headingId = id || uid("card");
  return h(
    "section",
    { class: "card", "aria-labelledby": headingId },
    h(
      "div",
      { class: "card-head" },
      h("div", {}, h("h2", { id: headingId }, title), description && h("p", { class: "card-description" }, description)),
      actions && h("div", { class: "card-actions" }, actions),
    ),
    h("div", { class: "card-body" }, body),
  );
}

/** @typedef {[string, Child, {wide?: boolean}?]} Fact a label, its value, and whether it takes a whole row */

/**
 * A definition list of label → value pairs (values may be nodes); falsy pairs are left out.
 * @param {Array<Fact | false | null | undefined | "">} pairs
 */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter((pair) => Boolean(pair))
      .map((pair) => {
        const [label, value, options] = /** @type {Fact} */ (pair);
        return h("div", { class: ["fact", options?.wide && "fact-wide"] }, h("dt", {}, label), h("dd", {}, value));
      }),
  );
}
