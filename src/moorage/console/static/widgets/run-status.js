// What the console's runs of background work share (image cleanup, garbage collection): the
// status badge, the trigger in words, and which statuses are still to change.

import { h } from "../dom.js";
import { badge } from "./badge.js";

/** A run in one of these statuses has not finished: its page asks again until it has. */
export const ACTIVE = new Set(["queued", "running"]);

/** @type {Record<string, [string, string]>} */
const STATUS = {
  queued: ["Queued", "neutral"],
  running: ["Running", "info"],
  succeeded: ["Succeeded", "success"],
  failed: ["Failed", "danger"],
};

/**
 * Queued, Running (with a spinner), Succeeded or Failed.
 * @param {string} status
 */
export function runStatusBadge(status) {
  const [label, kind] = STATUS[status] || [status, "neutral"];
  const el = badge(label, kind);
  if (status === "running") el.prepend(h("span", { class: "spinner badge-spinner", "aria-hidden": "true" }));
  return el;
}

/**
 * "By hand" or "Schedule".
 * @param {string} trigger
 */
export function triggerWords(trigger) {
  return /** @type {Record<string, string>} */ ({ manual: "By hand", schedule: "Schedule" })[trigger] || trigger;
}
