// Administration: garbage collection, for system administrators — the deployment's storage
// figures, a run by hand (dry or real), the schedule, and the history of runs with their logs.

import { adminNav } from "./admin-tabs.js";
import { api, ApiError, isAbortError } from "./api.js";
import { clear, formatBytes, h, plural, timeCell, uid } from "./dom.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { badge } from "./widgets/badge.js";
import { button, iconButton, link } from "./widgets/buttons.js";
import { confirmAction } from "./widgets/confirm.js";
import { cronSchedule } from "./widgets/cron-schedule.js";
import { dataTable } from "./widgets/data-table.js";
import { checkField } from "./widgets/form.js";
import { breadcrumbs, card, facts, pageHead } from "./widgets/layout.js";
import { toast } from "./widgets/notify.js";
import { emptyState, loading } from "./widgets/placeholders.js";
import { pagedSource } from "./widgets/resource-list.js";
import { ACTIVE, runStatusBadge, showRunDetails, triggerWords } from "./widgets/run-status.js";

/**
 * A garbage-collection run as listed; in a dry run the counts are what a real run would do.
 * @typedef {object} GcRun
 * @property {number} id
 * @property {string} trigger
 * @property {boolean} dry_run
 * @property {boolean} delete_untagged
 * @property {string} status
 * @property {number} blobs_deleted
 * @property {number} manifests_deleted
 * @property {number} bytes_freed
 * @property {number} errors
 * @property {string} created_at
 * @property {string | null} started_at
 * @property {string | null} finished_at
 */

/** @typedef {GcRun & {log: string[]}} GcRunDetail */

/**
 * The deployment's blobs: all of them, those artifacts reference, and the rest (what GC frees).
 * @typedef {object} Storage
 * @property {number} blobs
 * @property {number} stored_bytes
 * @property {number} referenced_bytes
 * @property {number} unreferenced_blobs
 * @property {number} unreferenced_bytes
 */

const TITLE = "Garbage collection";
/** How often the page asks about a queued or running run (while the page is visible). */
const POLL_MS = 2000;

const runName = (/** @type {GcRun} */ run) => `${run.dry_run ? "Dry run" : "Run"} ${run.id}`;

/** @param {ApiError | unknown} error */
const isForbidden = (error) => error instanceof ApiError && error.status === 403;

/** What someone who is not a system administrator sees at the page's address. */
function forbidden() {
  return [
    h("h1", { tabindex: "-1", class: "visually-hidden" }, TITLE),
    emptyState({
      iconName: "sliders",
      title: "Only system administrators can manage garbage collection.",
      body: "Your account is not a system administrator. Ask one to run garbage collection or change its schedule.",
      actions: link("/registries", "Go to registries", "btn btn-primary"),
    }),
  ];
}

/** @param {GcRun} run */
function runKind(run) {
  return h(
    "span",
    { class: "gc-kind" },
    run.dry_run
      ? badge("Dry run", "neutral", "Deleted nothing: the figures are what a real run would delete")
      : badge("Real run", "warning", "Deleted what nothing refers to"),
    run.delete_untagged && badge("+ untagged", "neutral", "Untagged manifests nothing refers to were deleted first (or, in a dry run, would be)"),
  );
}

/**
 * A count of a run: in a dry run, what would have been deleted.
 * @param {GcRun} run
 * @param {string} text
 * @param {number} value
 */
function countCell(run, text, value) {
  if (ACTIVE.has(run.status) && !value) return h("span", { class: "muted" }, "…");
  if (!value) return h("span", { class: "muted" }, text);
  return h("span", { class: run.dry_run ? "count-would" : null, title: run.dry_run ? "What a real run would delete" : null }, text);
}

/** @param {GcRun} run */
function errorsCell(run) {
  return run.errors ? h("span", { class: "count-failed" }, run.errors.toLocaleString()) : h("span", { class: "muted" }, "0");
}

/** @param {GcRunDetail} run */
function runDetail(run) {
  const would = run.dry_run ? " (would be)" : "";
  /** @type {import("./dom.js").Child[]} */
  const parts = [
    facts([
      ["Type", runKind(run)],
      ["Trigger", triggerWords(run.trigger)],
      ["Status", runStatusBadge(run.status)],
      ["Queued", timeCell(run.created_at, { absolute: true })],
      ["Started", timeCell(run.started_at, { never: "Not yet", absolute: true })],
      ["Finished", timeCell(run.finished_at, { never: "Not yet", absolute: true })],
      [`Blobs deleted${would}`, run.blobs_deleted.toLocaleString()],
      [`Manifests deleted${would}`, run.manifests_deleted.toLocaleString()],
      [`Bytes freed${would}`, formatBytes(run.bytes_freed)],
      ["Errors", errorsCell(run)],
    ]),
  ];
  if (run.status === "failed") parts.push(alertBox("Its log says where it stopped; what it deleted before stays deleted.", { title: "The run failed." }));
  if (ACTIVE.has(run.status)) parts.push(loading(run.status === "queued" ? "Waiting to start… this view updates by itself." : "Running… this view updates by itself."));
  const logId = uid("gc-log");
  parts.push(
    h(
      "section",
      { class: "gc-log", "aria-labelledby": logId },
      h("h3", { id: logId }, "Log"),
      run.log.length
        ? h("pre", { class: "gc-log-lines", tabindex: "0", "aria-label": `Log of ${runName(run).toLowerCase()}` }, run.log.join("\n"))
        : h("p", { class: "muted" }, "Nothing logged yet."),
    ),
  );
  return parts;
}

/**
 * A check box with a line under it that says what it does.
 * @param {string} name
 * @param {string} label
 * @param {string} hint
 * @param {boolean} checked
 */
function option(name, label, hint, checked) {
  const row = checkField(name, label, checked);
  const input = /** @type {HTMLInputElement} */ (row.querySelector("input"));
  const hintId = uid(`${name}-hint`);
  input.setAttribute("aria-describedby", hintId);
  return { el: h("div", { class: "gc-option" }, row, h("p", { class: "field-hint", id: hintId }, hint)), input };
}

/** @param {import("./main.js").PageContext} context */
export function render({ session, signal, setTitle, ready }) {
  setTitle(TITLE);
  const crumbs = breadcrumbs([{ label: "Administration" }, { label: TITLE }]);
  const page = h("div", { class: "page" }, crumbs);
  if (!session.me?.is_admin) {
    page.append(...forbidden());
    return page;
  }

  /** The rights were taken away while the page was open: say so instead of failing piece by piece. */
  const lose = () => {
    stopPolling();
    clear(page, crumbs, forbidden());
    ready();
  };

  // Storage ------------------------------------------------------------------------------------
  const storageBody = h("div", { class: "gc-storage" }, loading("Loading the storage figures…"));
  async function loadStorage() {
    try {
      /** @type {Storage} */
      const storage = await api.get("/storage", undefined, { signal });
      clear(
        storageBody,
        facts([
          ["Stored", h("span", { class: "gc-figure" }, formatBytes(storage.stored_bytes), h("span", { class: "muted" }, ` in ${plural(storage.blobs, "blob")}`))],
          ["Referenced", h("span", { class: "gc-figure" }, formatBytes(storage.referenced_bytes), h("span", { class: "muted" }, " used by artifacts"))],
          [
            "Garbage collection would free",
            h("span", { class: "gc-figure" }, formatBytes(storage.unreferenced_bytes), h("span", { class: "muted" }, ` in ${plural(storage.unreferenced_blobs, "unreferenced blob")}`)),
          ],
        ]),
        h("p", { class: "field-hint gc-grace" }, "A blob is deleted only once nothing has referred to it for the grace window (gc_grace_seconds, two hours by default), so a run may free less than this."),
      );
    } catch (error) {
      if (isAbortError(error) || signal.aborted) return;
      if (isForbidden(error)) return lose();
      clear(storageBody, alertBox(messageOf(error), { title: "Could not load the storage figures.", retry: loadStorage }));
    }
    return undefined;
  }

  // Run by hand --------------------------------------------------------------------------------
  const dryRun = option("dry_run", "Dry run", "Deletes nothing: the run reports what a real run would delete and how much it would free.", true);
  const untagged = option(
    "delete_untagged",
    "Delete untagged manifests",
    "First deletes manifests that have no tag and that nothing refers to (never a protected one, an index's child or a live signature), then the blobs only they used.",
    false,
  );
  const runButton = button("Run garbage collection", { kind: "primary", iconName: "trash", disabled: true, onClick: () => startFromForm() });
  const runReason = h("p", { class: "field-hint gc-run-reason", "aria-live": "polite" }, "Checking for a run in progress…");
  const runError = h("div", { class: "gc-run-error" });
  /** @type {GcRun | null} the queued or running run, if any */
  let active = null;

  function showRunControl() {
    runButton.disabled = Boolean(active);
    if (active) {
      const what = active.status === "queued" ? "is queued" : "is running";
      runReason.textContent = `${runName(active)} ${what}: a new run can start once it has finished.`;
      runReason.hidden = false;
    } else {
      runReason.textContent = "";
      runReason.hidden = true;
    }
  }

  /** @param {{dry_run: boolean, delete_untagged: boolean}} body */
  async function startRun(body) {
    /** @type {GcRun} */
    const run = await api.post("/gc-runs", body);
    toast(`${runName(run)} started.`);
    active = run;
    showRunControl();
    history.reload();
    checkRuns();
  }

  async function startFromForm() {
    clear(runError);
    const body = { dry_run: dryRun.input.checked, delete_untagged: untagged.input.checked };
    if (!body.dry_run) {
      await confirmAction({
        title: "Run garbage collection now?",
        message: h(
          "p",
          {},
          body.delete_untagged
            ? "Untagged manifests that nothing refers to are deleted, then every blob that nothing has referred to for the grace window. This cannot be undone."
            : "Every blob that nothing has referred to for the grace window is deleted. This cannot be undone.",
        ),
        note: "Not sure what goes? Cancel and start a dry run: it deletes nothing.",
        confirmLabel: "Run garbage collection",
        action: () => startRun(body),
      });
      return;
    }
    runButton.disabled = true;
    try {
      await startRun(body);
    } catch (error) {
      if (isForbidden(error)) return lose();
      clear(runError, alertBox(messageOf(error), { title: "Could not start a dry run." }));
      checkRuns();
    } finally {
      showRunControl();
    }
    return undefined;
  }

  const schedule = cronSchedule({
    path: "/gc-schedule",
    signal,
    manage: true,
    what: "garbage collection",
    className: "run-box-schedule",
    note: "A scheduled run is a real run that keeps untagged manifests.",
  });

  const runBox = h(
    "div",
    { class: "run-box" },
    h(
      "div",
      { class: "run-box-now" },
      h("h3", {}, "Run by hand"),
      h("p", { class: "muted" }, "Deletes the blobs no artifact refers to, after the grace window, and frees their storage."),
      dryRun.el,
      untagged.el,
      h("div", { class: "btn-row" }, runButton),
      runReason,
      runError,
    ),
    schedule.el,
  );

  // History ------------------------------------------------------------------------------------
  /** @param {GcRun} summary */
  const showRun = (summary) =>
    showRunDetails({
      title: `${runName(summary)} details`,
      path: `/gc-runs/${summary.id}`,
      /** @param {GcRunDetail} run */
      render: (run) => runDetail(run),
      pollMs: POLL_MS,
      signal,
    });

  /** @type {import("./widgets/data-table.js").DataTable<GcRun>} */
  const history = dataTable({
    label: "Garbage-collection runs",
    noun: ["run", "runs"],
    urlKey: "runs",
    signal,
    pageSize: 10,
    load: pagedSource("/gc-runs", signal),
    rowKey: (row) => row.id,
    columns: [
      { id: "id", label: "Run", render: (row) => `#${row.id}` },
      { id: "dry_run", label: "Type", render: runKind },
      { id: "trigger", label: "Trigger", render: (row) => triggerWords(row.trigger) },
      { id: "status", label: "Status", render: (row) => runStatusBadge(row.status) },
      { id: "started_at", label: "Started", render: (row) => timeCell(row.started_at, { never: "Not yet", absolute: true }) },
      { id: "finished_at", label: "Finished", render: (row) => timeCell(row.finished_at, { never: "—", absolute: true }) },
      { id: "blobs_deleted", label: "Blobs deleted", className: "num", render: (row) => countCell(row, row.blobs_deleted.toLocaleString(), row.blobs_deleted) },
      { id: "manifests_deleted", label: "Manifests deleted", className: "num", render: (row) => countCell(row, row.manifests_deleted.toLocaleString(), row.manifests_deleted) },
      { id: "bytes_freed", label: "Freed", className: "num", render: (row) => countCell(row, formatBytes(row.bytes_freed), row.bytes_freed) },
      { id: "errors", label: "Errors", className: "num", render: errorsCell },
      {
        id: "actions",
        label: "Actions",
        hideLabel: true,
        className: "col-actions",
        render: (row) => button("Details", { size: "sm", ariaLabel: `Details of ${runName(row).toLowerCase()}`, onClick: () => showRun(row) }),
      },
    ],
    empty: () =>
      emptyState({
        iconName: "refresh",
        title: "No runs yet",
        body: "Dry runs, runs started here and scheduled runs are listed here, newest first, each with what it deleted or would delete.",
      }),
  });

  // Watching the newest run --------------------------------------------------------------------
  // One run at a time: a queued or running run is always the newest, so the page watches that
  // one, whichever page of the history is shown, and reloads the history when it changes.
  let lastSeen = "";
  let timer = 0;

  function stopPolling() {
    window.clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  }

  function onVisibility() {
    if (document.visibilityState === "visible" && active) checkRuns();
  }

  async function checkRuns() {
    window.clearTimeout(timer);
    if (signal.aborted) return undefined;
    /** @type {GcRun | null} */
    let newest;
    try {
      /** @type {import("./api.js").Page<GcRun>} */
      const first = await api.get("/gc-runs", { page: 1, page_size: 1 }, { signal });
      newest = first.items[0] || null;
    } catch (error) {
      if (isAbortError(error) || signal.aborted) return undefined;
      if (isForbidden(error)) return lose();
      if (document.visibilityState === "visible") timer = window.setTimeout(checkRuns, POLL_MS * 3);
      return undefined;
    }
    const seen = JSON.stringify(newest);
    if (lastSeen && seen !== lastSeen) history.reload({ keepSelection: true });
    lastSeen = seen;
    const finished = active && newest && newest.id === active.id && !ACTIVE.has(newest.status) ? newest : null;
    if (finished) {
      toast(`${runName(finished)} ${finished.status === "succeeded" ? "finished" : "failed"}.`, finished.status === "succeeded" ? "success" : "info");
      loadStorage();
      schedule.load();
    }
    active = newest && ACTIVE.has(newest.status) ? newest : null;
    showRunControl();
    if (active && document.visibilityState === "visible") timer = window.setTimeout(checkRuns, POLL_MS);
    return undefined;
  }

  document.addEventListener("visibilitychange", onVisibility);
  signal.addEventListener("abort", stopPolling);

  loadStorage();
  schedule.load();
  checkRuns();

  page.append(
    pageHead({
      title: TITLE,
      iconName: "sliders",
      subtitle: "Frees the storage of blobs that no artifact refers to any more, for the whole deployment.",
    }),
    adminNav("/admin/gc"),
    card("Storage", storageBody, { actions: iconButton("refresh", "Refresh the storage figures", { onClick: () => loadStorage() }) }),
    card("Run and schedule", runBox),
    card("Run history", history.el, {
      description: "Newest first. Open a run to see its figures and its log.",
      actions: iconButton("refresh", "Refresh the run history", { onClick: () => history.reload() }),
    }),
  );
  return page;
}
