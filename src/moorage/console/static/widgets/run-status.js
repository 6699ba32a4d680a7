// What the console's runs of background work share (image cleanup, garbage collection,
// replication): the status badge, the trigger in words, which statuses are still to change,
// and the dialog showing one run, asked again while it is active.

import { api, isAbortError } from "../api.js";
import { clear, h } from "../dom.js";
import { alertBox, messageOf } from "./alert.js";
import { badge } from "./badge.js";
import { openDialog } from "./dialog.js";
import { loading } from "./placeholders.js";

/** A run in one of these statuses has not finished: its page asks again until it has. */
export const ACTIVE = new Set(["queued", "pending", "running"]);

/** @type {Record<string, [string, string]>} */
const STATUS = {
  queued: ["Queued", "neutral"],
  pending: ["Pending", "neutral"],
  running: ["Running", "info"],
  succeeded: ["Succeeded", "success"],
  failed: ["Failed", "danger"],
  stopped: ["Stopped", "warning"],
};

/**
 * Queued (or Pending), Running (with a spinner), Succeeded, Failed or Stopped.
 * @param {string} status
 */
export function runStatusBadge(status) {
  const [label, kind] = STATUS[status] || [status, "neutral"];
  const el = badge(label, kind);
  if (status === "running") el.prepend(h("span", { class: "spinner badge-spinner", "aria-hidden": "true" }));
  return el;
}

/**
 * "By hand", "Schedule" or "On push".
 * @param {string} trigger
 */
export function triggerWords(trigger) {
  return /** @type {Record<string, string>} */ ({ manual: "By hand", schedule: "Schedule", event: "On push" })[trigger] || trigger;
}


/**
 * A run's details in a dialog, read from `path` and drawn by `render`; while the run is
 * active it is asked again every `pollMs` (only while the page is looked at).
 * @template {{status: string}} R
 * @param {{title: string, path: string, render: (run: R) => import("../dom.js").Child, pollMs: number, signal: AbortSignal}} options
 */
export async function showRunDetails({ title, path, render, pollMs, signal }) {
  const body = h("div", { class: "run-detail" }, loading("Loading the run…"));
  let open = true;
  let timer = 0;
  const fill = async () => {
    if (!open || signal.aborted) return;
    if (document.visibilityState !== "visible") {
      timer = window.setTimeout(fill, pollMs); // ask again once the page is looked at
      return;
    }
    try {
      /** @type {R} */
      const run = await api.get(path, undefined, { signal });
      if (!open) return;
      clear(body, render(run));
      if (ACTIVE.has(run.status)) timer = window.setTimeout(fill, pollMs);
    } catch (error) {
      if (!open || isAbortError(error)) return;
      clear(body, alertBox(messageOf(error), { title: "Could not load the run.", retry: fill }));
    }
  };
  fill();
  await openDialog({ title, body, submitLabel: "Done", cancelLabel: null, wide: true });
  open = false;
  window.clearTimeout(timer);
}
