// Badges: a short word in a coloured pill (a status, a tag, a project).

import { h } from "../dom.js";

/**
 * @param {string} text
 * @param {string} [kind] neutral, success, warning, danger, info, protected, tag, platform, project, event
 * @param {string} [title]
 */
export function badge(text, kind = "neutral", title) {
  return h("span", { class: ["badge", `badge-${kind}`], title }, text);
}
