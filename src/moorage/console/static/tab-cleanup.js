// Registry tab: image cleanup — policies of what to keep, test runs and real runs, the
// schedule, and the history of runs with a verdict for every artifact.

import { api } from "./api.js";
import { enc, h, plural, shortDigest, timeCell } from "./dom.js";
import { tagList } from "./page-image.js";
import { can } from "./registry-actions.js";
import { policyDialog, policyList, policySelectors, selectorCell, selectorColumns, selectorFieldPair, selectorWords, statusColumn } from "./policies.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { badge } from "./widgets/badge.js";
import { button, iconButton } from "./widgets/buttons.js";
import { confirmAction } from "./widgets/confirm.js";
import { copyButton } from "./widgets/copy.js";
import { dataTable } from "./widgets/data-table.js";
import { cronSchedule } from "./widgets/cron-schedule.js";
import { checkField, field, quietError, setFieldError, textField } from "./widgets/form.js";
import { card, facts } from "./widgets/layout.js";
import { liveSource } from "./widgets/live-source.js";
import { ACTIVE, runStatusBadge, showRunDetails, triggerWords } from "./widgets/run-status.js";
import { toast } from "./widgets/notify.js";
import { emptyState, loading } from "./widgets/placeholders.js";
import { staticTable } from "./widgets/static-table.js";

/** @typedef {import("./policies.js").Selector} Selector */
/** @typedef {import("./registry-tabs.js").TabContext} TabContext */

/**
 * What a cleanup policy keeps of the artifacts it selects; `count` and `days` only for the
 * kinds that take them.
 * @typedef {{kind: string, count?: number, days?: number}} Rule
 */

/** @typedef {import("./policies.js").Policy & {tag: Selector & {untagged: boolean}, rule: Rule}} CleanupPolicy */

/**
 * @typedef {object} RunCounts
 * @property {number} [images]
 * @property {number} [artifacts]
 * @property {number} [deleted]
 * @property {number} [kept]
 * @property {number} [protected]
 * @property {number} [failed]
 */

/**
 * A cleanup run as listed; the run's detail adds `tasks`.
 * @typedef {object} Run
 * @property {number} id
 * @property {boolean} dry_run
 * @property {string} trigger
 * @property {string} status
 * @property {string} created_at
 * @property {string | null} started_at
 * @property {string | null} finished_at
 * @property {RunCounts | null} counts
 * @property {string | null} error
 */

/**
 * The verdict on one artifact.
 * @typedef {object} Verdict
 * @property {string} digest
 * @property {string[]} tags
 * @property {string | null} pushed_at
 * @property {string | null} pulled_at
 * @property {string} verdict
 * @property {number[]} [kept_by] the ids of the cleanup policies that keep it (global ids: not shown)
 * @property {number | null} [protected_by] the id of the protection policy that keeps it (not shown)
 * @property {string[]} [kept_by_policies] those cleanup policies, each described by its selectors and rule
 * @property {string | null} [protected_by_policy] that protection policy, described by its selectors
 * @property {string | null} [error]
 * @property {Array<{digest: string, kind: string}>} [dependents] index children and referrers that share the verdict
 */

/** @typedef {Run & {tasks: Array<{image: string, status: string, artifacts: Verdict[]}>}} RunDetail */

const RULES = [
  { kind: "latest_pushed", label: "the N most recently pushed", unit: "count" },
  { kind: "latest_pulled", label: "the N most recently pulled", unit: "count" },
  { kind: "pushed_within", label: "those pushed in the last N days", unit: "days" },
  { kind: "pulled_within", label: "those pulled in the last N days", unit: "days" },
  { kind: "always", label: "all of them", unit: null },
];
const MAX_COUNT = 10000;
const MAX_DAYS = 3650;
const POLL_MS = 1000;

/**
 * "keep the 3 most recently pushed", "keep those pulled within 30 days", "keep all".
 * @param {Rule} rule
 */
export function ruleWords(rule) {
  /** @param {string} what */
  const latest = (what) => (rule.count === 1 ? `keep the most recently ${what}` : `keep the ${rule.count} most recently ${what}`);
  switch (rule.kind) {
    case "latest_pushed":
      return latest("pushed");
    case "latest_pulled":
      return latest("pulled");
    case "pushed_within":
      return `keep those pushed in the last ${plural(/** @type {number} */ (rule.days), "day")}`;
    case "pulled_within":
      return `keep those pulled in the last ${plural(/** @type {number} */ (rule.days), "day")}`;
    case "always":
      return "keep all";
    default:
      return rule.kind;
  }
}

const sentence = (/** @type {string} */ text) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * `images '**', tags '**', tagged only: keep the 3 most recently pushed`: how a cleanup
 * policy is named (two policies may share selectors, never selectors and rule).
 * @param {CleanupPolicy} policy
 */
function describePolicy(policy) {
  return `${policySelectors(policy)}: ${ruleWords(policy.rule)}`;
}

/** @param {Selector & {untagged: boolean}} tag */
function tagSelectorWords(tag) {
  let tagged;
  if (tag.include && /^\*\*?$/.test(tag.pattern)) tagged = "tagged artifacts";
  else if (tag.include) tagged = `artifacts with a tag matching ${tag.pattern}`;
  else tagged = `artifacts with a tag not matching ${tag.pattern}`;
  return tag.untagged ? `${tagged} and untagged ones` : tagged;
}

/**
 * @param {Selector} image
 * @param {Selector & {untagged: boolean}} tag
 * @param {Rule} rule
 * @param {boolean} enabled
 */
function policyBody(image, tag, rule, enabled) {
  /** @type {Rule} */
  const out = { kind: rule.kind };
  if (rule.kind === "latest_pushed" || rule.kind === "latest_pulled") out.count = rule.count;
  if (rule.kind === "pushed_within" || rule.kind === "pulled_within") out.days = rule.days;
  return { image, tag, rule: out, enabled };
}

// Runs -----------------------------------------------------------------------------------------

// With seconds: two runs started within a minute still read apart.
const RUN_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/**
 * "Test run by hand, started 5 Dec 2026, 07:33:12": a run is named by its kind, its trigger
 * and when it started (or was queued). Run ids are global across registries, so they are
 * not shown: "Run 12" would read as the twelfth of this registry.
 * @param {Run} run
 */
function runName(run) {
  const how = run.trigger === "schedule" ? "on schedule" : run.trigger === "manual" ? "by hand" : run.trigger;
  const when = run.started_at ? `started ${RUN_TIME.format(new Date(run.started_at))}` : `queued ${RUN_TIME.format(new Date(run.created_at))}`;
  return `${run.dry_run ? "Test run" : "Run"} ${how}, ${when}`;
}

const lowerFirst = (/** @type {string} */ text) => text.charAt(0).toLowerCase() + text.slice(1);

/** @param {Run} run */
function runKind(run) {
  return run.dry_run ? badge("Test run", "neutral", "Deletes nothing: records what a real run would delete") : badge("Real run", "warning", "Deletes what the policies do not keep");
}

/** @param {Run} run */
function countsCell(run) {
  /** @type {RunCounts} */
  const c = run.counts || {};
  if (!Object.keys(c).length) {
    if (run.error) return h("span", { class: "run-error", title: run.error }, "Failed before judging");
    return h("span", { class: "muted" }, ACTIVE.has(run.status) ? "…" : "—");
  }
  const deleted = c.deleted || 0;
  return h(
    "span",
    { class: "run-counts", title: `${plural(c.artifacts || 0, "artifact")} in ${plural(c.images || 0, "image")}` },
    h("span", { class: deleted ? (run.dry_run ? "count-would" : "count-deleted") : null }, `${deleted} ${run.dry_run ? "would be deleted" : "deleted"}`),
    h("span", {}, `${c.kept || 0} kept`),
    c.protected ? h("span", { class: "count-protected" }, `${c.protected} protected`) : null,
    c.failed ? h("span", { class: "count-failed" }, `${c.failed} failed`) : null,
  );
}

/**
 * What shares the verdict: "with 1 referrer and 3 index children", each digest in the tooltip.
 * @param {Verdict} line
 */
function dependentsNote(line) {
  const dependents = line.dependents || [];
  if (!dependents.length) return "";
  const referrers = dependents.filter((d) => d.kind === "referrer").length;
  const children = dependents.length - referrers;
  const parts = [referrers && plural(referrers, "referrer"), children && plural(children, "index child", "index children")].filter(Boolean);
  const title = dependents.map((d) => `${d.kind}: ${d.digest}`).join("\n");
  return h("span", { class: "muted small dependents", title }, `with ${parts.join(" and ")}`);
}

/**
 * @param {Verdict} line
 * @param {Run} run
 */
function verdictCell(line, run) {
  const verdict = verdictBadge(line, run);
  const why = keptBecause(line);
  const note = dependentsNote(line);
  // Spaced for the text read aloud or copied ("Kept by the cleanup policy on …").
  return why || note ? h("span", { class: "chips" }, verdict, why && " ", why, note && " ", note) : verdict;
}

/**
 * Which policy kept the artifact, named by what it selects as the run recorded it ("by the
 * protection policy on images 'app', tags 'v1'"). Runs recorded before lines described their
 * policies say only the kind of policy.
 * @param {Verdict} line
 */
function keptBecause(line) {
  /** @type {string | null} */
  let why = null;
  if (line.verdict === "kept_protected") {
    why = line.protected_by_policy ? `by the protection policy on ${line.protected_by_policy}` : "by a protection policy";
  } else if (line.verdict === "kept") {
    const described = (line.kept_by_policies || []).filter(Boolean);
    const count = (line.kept_by || []).length;
    if (described.length) why = `by ${described.map((d) => `the cleanup policy on ${d}`).join(" and ")}`;
    else if (count) why = count === 1 ? "by a cleanup policy" : `by ${count} cleanup policies`;
  }
  return why && h("span", { class: "small kept-because" }, why);
}

/**
 * @param {Verdict} line
 * @param {Run} run
 */
function verdictBadge(line, run) {
  switch (line.verdict) {
    case "deleted":
      return run.dry_run ? badge("Would be deleted", "warning") : badge("Deleted", "danger");
    case "kept":
      return badge("Kept", "success");
    case "kept_protected":
      return badge("Kept: protected", "protected");
    case "failed":
      return h("span", { class: "verdict-failed" }, badge("Failed", "danger"), h("span", { class: "verdict-error" }, line.error || "unknown error"));
    default:
      return line.verdict;
  }
}

/** @param {RunDetail} run */
function runDetail(run) {
  /** @type {import("./dom.js").Child[]} */
  const parts = [
    facts([
      ["Type", runKind(run)],
      ["Trigger", triggerWords(run.trigger)],
      ["Status", runStatusBadge(run.status)],
      ["Started", timeCell(run.started_at, { never: "Not yet", absolute: true })],
      ["Finished", timeCell(run.finished_at, { never: "Not yet", absolute: true })],
      ["Result", countsCell(run), { wide: true }],
    ]),
  ];
  if (run.error) parts.push(alertBox(run.error, { title: "The run failed." }));
  if (ACTIVE.has(run.status)) parts.push(loading(run.status === "queued" ? "Waiting to start… this view updates by itself." : "Running… this view updates by itself."));
  if (!run.tasks.length && !ACTIVE.has(run.status) && !run.error) {
    parts.push(
      emptyState({
        iconName: "layers",
        title: "No image was touched",
        body: "No enabled policy selected an image of this registry, so nothing was judged.",
      }),
    );
  }
  for (const task of run.tasks) {
    parts.push(
      h(
        "section",
        { class: "run-image", "aria-label": `Image ${task.image}` },
        h(
          "h3",
          { class: "run-image-head" },
          h("span", { class: "mono" }, task.image),
          task.status === "failed" && badge("Failed", "danger"),
          h("span", { class: "muted run-image-count" }, plural(task.artifacts.length, "artifact")),
        ),
        staticTable({
          label: `Verdicts for ${task.image}`,
          rows: task.artifacts,
          columns: [
            {
              label: "Digest",
              className: "col-digest",
              render: (line) =>
                h(
                  "span",
                  { class: "digest-cell" },
                  h("code", { class: "mono", title: line.digest }, shortDigest(line.digest)),
                  copyButton(line.digest, `Copy digest ${shortDigest(line.digest)}`),
                ),
            },
            { label: "Tags", render: (line) => tagList(line.tags, 3) },
            { label: "Pushed", render: (line) => timeCell(line.pushed_at, { absolute: true }) },
            { label: "Last pull", render: (line) => timeCell(line.pulled_at) },
            { label: "Verdict", render: (line) => verdictCell(line, run) },
          ],
          empty: () => h("p", { class: "muted card-empty" }, "No artifacts."),
        }),
      ),
    );
  }
  return parts;
}

// The tab --------------------------------------------------------------------------------------

function warning() {
  return alertBox(
    h(
      "span",
      {},
      "In every image that an enabled policy selects, each policy keeps what its rule says and ",
      h("strong", {}, "every other artifact of that image is deleted"),
      ", with all its tags. Protected tags are always kept. ",
      "So all images with a tag pattern that no tag uses and “keep all” deletes every artifact of every image, and untagged artifacts that no policy selects are deleted. Start with a test run.",
    ),
    { kind: "warning", title: "Cleanup deletes what the policies do not keep." },
  );
}

/** @param {TabContext} context */
function render({ registry, signal, refreshRegistry }) {
  const root = `/registries/${enc(registry.name)}`;
  const base = `${root}/cleanup-policies`;
  const manage = can(registry, "manage_policies");

  // Policies -----------------------------------------------------------------------------------
  /** @param {CleanupPolicy | null} policy */
  function edit(policy) {
    const { images, tags } = selectorFieldPair({
      policy,
      imageHint: h("span", {}, "Names without the registry: ", h("code", {}, "*"), " stays within a part of the path, ", h("code", {}, "**"), " crosses ", h("code", {}, "/"), "."),
      tag: {
        selector: policy?.tag || { pattern: "**", include: true },
        placeholder: "**",
        hint: "An artifact is selected when any of its tags matches (excluding: when any does not).",
      },
    });
    const untagged = checkField("untagged", "Untagged artifacts are selected too", policy ? policy.tag.untagged : false);
    const untaggedBox = /** @type {HTMLInputElement} */ (untagged.querySelector("input"));
    const kind = field({
      label: "Keep",
      name: "rule_kind",
      options: RULES.map((rule) => ({ value: rule.kind, label: rule.label })),
      value: policy?.rule.kind || "latest_pushed",
    });
    const count = textField({ label: "How many (N)", name: "count", type: "number", value: String(policy?.rule.count ?? 10), hint: `Per image, 1 to ${MAX_COUNT.toLocaleString()}.` });
    const days = textField({ label: "Days (N)", name: "days", type: "number", value: String(policy?.rule.days ?? 30), hint: `1 to ${MAX_DAYS.toLocaleString()}.` });
    const preview = h("p", { class: "policy-preview", "aria-live": "polite" });

    const readRule = () => ({ kind: kind.input.value, count: Number(count.input.value), days: Number(days.input.value) });
    const readTag = () => ({ ...tags.read(), untagged: untaggedBox.checked });
    const update = () => {
      const unit = RULES.find((rule) => rule.kind === kind.input.value)?.unit;
      count.el.hidden = unit !== "count";
      days.el.hidden = unit !== "days";
      count.input.required = unit === "count";
      days.input.required = unit === "days";
      const image = images.read();
      const tag = readTag();
      if (!image.pattern || !tag.pattern) {
        preview.replaceChildren(h("span", { class: "muted" }, "Enter both patterns to see what the policy does."));
        return;
      }
      const rule = readRule();
      const valid = unit === null || (unit === "count" ? rule.count >= 1 : rule.days >= 1);
      preview.replaceChildren(
        h(
          "span",
          {},
          `In ${selectorWords(image, "images")}: of the ${tagSelectorWords(tag)}, `,
          h("strong", {}, valid ? ruleWords(rule) : "keep …"),
          ". Everything else in those images is deleted unless another policy keeps it or it is protected.",
        ),
      );
    };
    const inputs = [images.mode, images.pattern, tags.mode, tags.pattern, untaggedBox, kind.input, count.input, days.input];
    inputs.forEach((input) => {
      input.addEventListener("input", update);
      input.addEventListener("change", update);
    });
    [count.input, days.input].forEach((input) => input.addEventListener("input", () => setFieldError(input, null)));
    update();

    return policyDialog({
      kind: "cleanup",
      base,
      policy,
      description: "A policy says what to keep of the artifacts it selects.",
      body: [images.el, tags.el, untagged, h("div", { class: "rule-row" }, kind.el, count.el, days.el), preview],
      payload: (values) => {
        const rule = readRule();
        const unit = RULES.find((r) => r.kind === rule.kind)?.unit;
        const [input, value, high] = unit === "count" ? [count.input, rule.count, MAX_COUNT] : [days.input, rule.days, MAX_DAYS];
        if (unit && !(Number.isInteger(value) && value >= 1 && value <= high)) {
          setFieldError(input, `Enter a whole number from 1 to ${high.toLocaleString()}.`);
          input.focus();
          throw quietError("invalid number");
        }
        return policyBody(images.read(), readTag(), rule, values.enabled);
      },
    });
  }

  const testButton = button("Test run", { iconName: "search", onClick: startTest });
  const runButton = button("Run now", { kind: "danger-outline", iconName: "trash", onClick: confirmRun });
  const runNote = h("p", { class: "field-hint run-note", hidden: true }, "Add or enable a policy first: with no enabled policy a run touches nothing.");
  const policies = policyList({
    kind: "cleanup",
    base,
    manage,
    signal,
    open: edit,
    onLoaded: (result) => {
      const active = result.items.some((p) => p.enabled);
      testButton.disabled = !active;
      runButton.disabled = !active;
      runNote.hidden = active;
    },
    columns: [
      ...selectorColumns((row) =>
        h(
          "span",
          { class: "selector-stack" },
          selectorCell(row.tag, "Tags"),
          row.tag.untagged
            ? badge("+ untagged", "neutral", "Untagged artifacts are selected too")
            : h("span", { class: "muted small", title: "Untagged artifacts are not selected" }, "tagged only"),
        ),
      ),
      { id: "rule", label: "Rule", render: (row) => h("span", { class: "rule-cell" }, sentence(ruleWords(row.rule))) },
      statusColumn("cleanup", (/** @type {CleanupPolicy} */ row, enabled) => api.put(`${base}/${row.id}`, policyBody(row.image, row.tag, row.rule, enabled)), describePolicy),
    ],
    describe: describePolicy,
    deleteMessage: () =>
      "What it keeps is no longer kept by it: if another enabled policy still selects those images, the next run deletes what that policy does not keep.",
    description: "Each policy selects artifacts by image and tag, and keeps some of them.",
    empty: () =>
      emptyState({
        iconName: "trash",
        title: "No cleanup policies yet",
        body: "Nothing is cleaned up. Add a policy that says what to keep, for example the 10 most recently pushed artifacts of every image.",
      }),
  });

  // Runs ---------------------------------------------------------------------------------------
  /** @param {boolean} dryRun */
  async function start(dryRun) {
    /** @type {Run} */
    const run = await api.post(`${root}/cleanup-runs`, { dry_run: dryRun });
    toast(`${run.dry_run ? "Test run" : "Run"} started.`);
    history.reload();
    return run;
  }

  async function startTest() {
    testButton.disabled = true;
    try {
      await start(true);
    } catch (error) {
      history.showError(messageOf(error), "Could not start a test run.");
    } finally {
      testButton.disabled = false;
    }
  }

  function confirmRun() {
    return confirmAction({
      title: "Run cleanup now?",
      message: h(
        "p",
        {},
        `In every image of ${registry.name} that an enabled policy selects, each artifact the policies do not keep is deleted with all its tags. Protected tags are kept. This cannot be undone.`,
      ),
      note: "Not sure what goes? Cancel and start a test run: it deletes nothing.",
      confirmLabel: "Run cleanup",
      action: () => start(false),
    });
  }


  // Schedule -----------------------------------------------------------------------------------
  const schedule = cronSchedule({ path: `${root}/cleanup-schedule`, signal, manage, what: "cleanup", className: "cleanup-schedule" });

  const runBox = h(
    "div",
    { class: "cleanup-run" },
    h(
      "div",
      { class: "cleanup-now" },
      h("h3", {}, "Run by hand"),
      h("p", { class: "muted" }, "A test run deletes nothing: its details show exactly what a real run would delete. Run now deletes, after you confirm."),
      manage ? h("div", { class: "btn-row" }, testButton, runButton) : h("p", { class: "muted" }, "Members who may push can start runs."),
      manage && runNote,
    ),
    schedule.el,
  );

  // History ------------------------------------------------------------------------------------
  /** @type {Map<number, string>} */
  const seen = new Map();
  /** @type {import("./widgets/live-source.js").LiveSourceOptions<Run>["interval"]} */
  const whileActive = (result) => (result.items.some((run) => ACTIVE.has(run.status)) ? POLL_MS : null);
  const runs = liveSource({
    path: `${root}/cleanup-runs`,
    signal,
    interval: whileActive,
    retryAfter: POLL_MS * 3,
    reload: () => history.reload({ keepSelection: true }),
  });

  /** @param {import("./api.js").Page<Run>} result */
  function watch(result) {
    let finishedReal = false;
    for (const run of result.items) {
      const before = seen.get(run.id);
      if (before && ACTIVE.has(before) && !ACTIVE.has(run.status)) {
        if (!run.dry_run) finishedReal = true;
        toast(`${runName(run)} ${run.status === "succeeded" ? "finished" : "failed"}.`, run.status === "succeeded" ? "success" : "info");
      }
      seen.set(run.id, run.status);
    }
    if (finishedReal) {
      refreshRegistry?.();
      schedule.load();
    }
    runs.watch(result);
  }

  /** @param {Run} summary */
  const showRun = (summary) =>
    showRunDetails({
      title: runName(summary),
      path: `${root}/cleanup-runs/${summary.id}`,
      /** @param {RunDetail} run */
      render: (run) => runDetail(run),
      pollMs: POLL_MS,
      signal,
    });

  const history = dataTable({
    label: "Cleanup runs",
    noun: ["run", "runs"],
    urlKey: "runs",
    signal,
    pageSize: 10,
    load: ({ page, page_size: pageSize }) => runs.load({ page, page_size: pageSize }),
    rowKey: (row) => row.id,
    onLoaded: watch,
    columns: [
      { id: "dry_run", label: "Type", render: runKind },
      { id: "trigger", label: "Trigger", render: (row) => triggerWords(row.trigger) },
      { id: "status", label: "Status", render: (row) => runStatusBadge(row.status) },
      { id: "started_at", label: "Started", render: (row) => timeCell(row.started_at, { never: "Not yet", absolute: true }) },
      { id: "finished_at", label: "Finished", render: (row) => timeCell(row.finished_at, { never: "—", absolute: true }) },
      { id: "counts", label: "Result", render: countsCell },
      {
        id: "actions",
        label: "Actions",
        hideLabel: true,
        className: "col-actions",
        render: (row) => button("Details", { size: "sm", ariaLabel: `Details of ${lowerFirst(runName(row))}`, onClick: () => showRun(row) }),
      },
    ],
    empty: () =>
      emptyState({
        iconName: "refresh",
        title: "No runs yet",
        body: "Test runs, runs started here and scheduled runs are listed here, each with what it deleted or would delete.",
      }),
  });

  schedule.load();

  return h(
    "div",
    { class: "tab-policies" },
    warning(),
    policies.el,
    card("Run and schedule", runBox),
    card("Run history", history.el, {
      description: "Open a run to see the verdict for every artifact.",
      actions: iconButton("refresh", "Refresh the run history", { onClick: () => history.reload() }),
    }),
  );
}

export default { id: "cleanup", label: "Image cleanup", iconName: "trash", render };
