// A small table of rows already at hand (layers, platforms, annotations, attempts).

import { h } from "../dom.js";
import { emptyState } from "./placeholders.js";

/** @typedef {import("../dom.js").Child} Child */

/**
 * @template T
 * @typedef {object} StaticColumn
 * @property {string} label
 * @property {(row: T, index: number) => Child} render
 * @property {string} [className]
 * @property {boolean} [hideLabel] the header says it to screen readers only
 */

/**
 * A small table of rows already at hand (layers, platforms, annotations).
 * @template T
 * @param {{label: string, columns: Array<StaticColumn<T>>, rows: T[], empty?: () => Node, footer?: Child}} options
 * @returns {Node}
 */
export function staticTable({ label, columns, rows, empty, footer }) {
  if (!rows.length) return empty ? empty() : emptyState({ title: "Nothing to show." });
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "table", "aria-label": label },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className }, c.hideLabel ? h("span", { class: "visually-hidden" }, c.label) : c.label)))),
      h("tbody", {}, rows.map((row, i) => h("tr", {}, columns.map((c) => h("td", { class: c.className, "data-label": c.label }, c.render(row, i)))))),
      footer && h("tfoot", {}, footer),
    ),
  );
}
