// Registry tab: replication — rules that copy this registry's images to a registry elsewhere
// (push) or from one into it (pull), their status with a check on demand, a run by hand after
// a confirmation, and each rule's history: every run with a task per artifact and its log.
// The rules are at /registries/R/replication; one rule's history at …/replication?rule=ID.

import { api, ApiError, isAbortError } from "./api.js";
import { clear, enc, formatBytes, formatDate, h, icon, plural, timeCell } from "./dom.js";
import { can } from "./registry-actions.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { badge } from "./widgets/badge.js";
import { button, iconButton, link } from "./widgets/buttons.js";
import { confirmAction } from "./widgets/confirm.js";
import { dataTable } from "./widgets/data-table.js";
import { openDialog } from "./widgets/dialog.js";
import { checkField, field, textField } from "./widgets/form.js";
import { card, facts } from "./widgets/layout.js";
import { liveSource } from "./widgets/live-source.js";
import { toast } from "./widgets/notify.js";
import { emptyState, loading } from "./widgets/placeholders.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";
import { ACTIVE, runStatusBadge, showRunDetails, triggerWords } from "./widgets/run-status.js";

/** @typedef {import("./registry-actions.js").Registry} Registry */

/**
 * @typedef {object} Filter
 * @property {string} pattern
 * @property {boolean} include
 */

/**
 * A rule as the API shows it: the password never, only whether one is stored.
 * @typedef {object} Rule
 * @property {number} id
 * @property {string} name
 * @property {"push" | "pull"} direction
 * @property {{url: string, registry: string, username: string | null, has_password: boolean, verify_tls: boolean}} remote
 * @property {{image: Filter, tag: Filter}} filters
 * @property {"event" | "schedule" | "manual"} trigger
 * @property {string | null} cron
 * @property {boolean} override
 * @property {boolean} enabled
 * @property {"active" | "inactive"} status
 * @property {string | null} last_error
 * @property {string | null} checked_at
 * @property {string} created_at
 */

/**
 * @typedef {{total: number, succeeded: number, failed: number, skipped: number, in_progress: number, bytes: number}} RunCounts
 */

/**
 * @typedef {object} Run
 * @property {number} id
 * @property {string} trigger
 * @property {string} status
 * @property {RunCounts} counts
 * @property {string | null} error
 * @property {string} created_at
 * @property {string | null} started_at
 * @property {string | null} finished_at
 */

/**
 * One artifact of a run: `image:tag`, what became of it, and its log.
 * @typedef {object} Task
 * @property {number} id
 * @property {string} subject
 * @property {string} status
 * @property {Array<Record<string, unknown>>} lines
 * @property {string | null} error
 * @property {string | null} started_at
 * @property {string | null} finished_at
 */

/**
 * @typedef {object} ViewContext
 * @property {Registry} registry
 * @property {AbortSignal} signal
 * @property {boolean} manage
 * @property {string} base the rules' API path
 * @property {string} tabHref the list's address
 * @property {(href: string, options?: {replace?: boolean}) => void} navigate
 */

const POLL_MS = 2000;
const RUN_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
// A task's log lines are seconds apart at most: the time of day tells them apart.
const LOG_TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
/** @type {Record<string, [string, string]>} */
const TASK_STATUS = {
  pending: ["Pending", "neutral"],
  running: ["Copying", "info"],
  succeeded: ["Copied", "success"],
  skipped: ["Skipped", "neutral"],
  failed: ["Failed", "danger"],
  stopped: ["Stopped", "warning"],
};

/** @param {Rule} rule */
const historyHref = (rule) => `?rule=${rule.id}`;

/** @param {Rule} rule */
function remoteWords(rule) {
  const { url, registry } = rule.remote;
  return registry ? `${url}/${registry}` : url;
}

/** @param {Rule} rule */
function directionBadge(rule) {
  return rule.direction === "push"
    ? badge("Push", "info", "Copies from this registry to the remote one")
    : badge("Pull", "neutral", "Copies from the remote registry into this one");
}

/**
 * "images app/** · tags not *-rc": what a rule selects.
 * @param {Rule} rule
 */
function filterWords(rule) {
  /** @param {Filter} filter */
  const one = (filter) => `${filter.include ? "" : "not "}${filter.pattern}`;
  return `images ${one(rule.filters.image)} · tags ${one(rule.filters.tag)}`;
}

/** @param {Rule} rule */
function triggerCell(rule) {
  if (rule.trigger === "schedule") return h("span", {}, "Schedule ", h("code", { class: "mono" }, rule.cron || ""), " UTC");
  return triggerWords(rule.trigger);
}

/** @param {Rule} rule */
function ruleStatusBadge(rule) {
  if (rule.status === "active") return badge("Active", "success", rule.checked_at ? `Checked ${formatDate(rule.checked_at)}` : undefined);
  return badge("Inactive", "warning", rule.last_error || "Not checked yet: the remote side is checked in the background.");
}

/**
 * A run is named by its trigger and when it started: run ids are global, not per rule.
 * @param {Run} run
 */
function runName(run) {
  const when = run.started_at ? `started ${RUN_TIME.format(new Date(run.started_at))}` : `queued ${RUN_TIME.format(new Date(run.created_at))}`;
  return `Run ${triggerWords(run.trigger).toLowerCase()}, ${when}`;
}

/** @param {Run} run */
function countsCell(run) {
  const c = run.counts;
  if (!c.total) return h("span", { class: "muted" }, ACTIVE.has(run.status) ? "…" : "Nothing to copy");
  return h(
    "span",
    { class: "run-counts", title: `${plural(c.total, "artifact")}, ${formatBytes(c.bytes)} copied` },
    h("span", {}, `${c.succeeded} copied`),
    h("span", {}, `${c.skipped} skipped`),
    c.failed ? h("span", { class: "count-failed" }, `${c.failed} failed`) : null,
    c.in_progress ? h("span", {}, `${c.in_progress} in progress`) : null,
    h("span", { class: "muted" }, `of ${c.total}`),
  );
}

/** @param {string} status */
function taskBadge(status) {
  const [label, kind] = TASK_STATUS[status] || [status, "neutral"];
  return badge(label, kind);
}

/**
 * One line of a task's log: its time and words (other members as they are).
 * @param {Record<string, unknown>} line
 */
function logLine(line) {
  const { at, time, level, message, text, ...rest } = line;
  const when = new Date(String(at || time || ""));
  const words = message || text || (Object.keys(rest).length ? JSON.stringify(rest) : "");
  return [Number.isNaN(when.getTime()) ? "" : `${LOG_TIME.format(when)}  `, level ? `${String(level)} ` : "", String(words)].join("");
}

/** @param {Task} task */
function logCell(task) {
  if (!task.lines.length) return h("span", { class: "muted" }, "—");
  return h(
    "details",
    { class: "task-log" },
    h("summary", {}, `Log (${plural(task.lines.length, "line")})`),
    h("pre", { class: "code-block", tabindex: "0", "aria-label": `Log of ${task.subject}` }, h("code", {}, task.lines.map(logLine).join("\n"))),
  );
}

// The create and edit dialog ------------------------------------------------------------------

/**
 * An include/exclude choice and a pattern, side by side.
 * @param {"image" | "tag"} which
 * @param {Filter | undefined} filter
 */
function filterFields(which, filter) {
  const label = which === "image" ? "Images" : "Tags";
  const pattern = textField({
    label: `${label} pattern`,
    name: `filters_${which}_pattern`,
    value: filter?.pattern || "**",
    required: true,
    mono: true,
    spellcheck: false,
    requiredMessage: "Enter a pattern; ** selects everything.",
    hint: which === "image" ? "Image names, e.g. app/** or {web,api}" : "Tags, e.g. v* or release-?",
  });
  const mode = field({
    label: `${label} filter`,
    name: `filters_${which}_include`,
    value: filter && !filter.include ? "exclude" : "include",
    options: [
      { value: "include", label: "Only matching" },
      { value: "exclude", label: "All but matching" },
    ],
  });
  return h("div", { class: "replication-filter-row" }, mode.el, pattern.el);
}

/**
 * The triggers a rule of this direction may have.
 * @param {string} direction
 */
function triggerOptions(direction) {
  return [
    ...(direction === "push" ? [{ value: "event", label: "On push: each artifact pushed from now on" }] : []),
    { value: "schedule", label: "On a schedule" },
    { value: "manual", label: "By hand only" },
  ];
}

/**
 * The add (no rule) or edit dialog; resolves with the saved rule, or null when cancelled.
 * @param {{base: string, rule: Rule | null, registry: Registry}} options
 * @returns {Promise<unknown>}
 */
function editRule({ base, rule, registry }) {
  const name = textField({ label: "Name", name: "name", value: rule?.name || "", required: true, requiredMessage: "Enter a name, unique in this registry.", placeholder: "to-jp1", hint: "Letters, digits, '.', '_' and '-'; unique in this registry." });
  const direction = field({
    label: "Direction",
    name: "direction",
    value: rule?.direction || "push",
    options: [
      { value: "push", label: `Push: from ${registry.name} to the remote registry` },
      { value: "pull", label: `Pull: from the remote registry into ${registry.name}` },
    ],
  });
  const url = textField({ label: "Remote URL", name: "remote_url", value: rule?.remote.url || "", required: true, mono: true, spellcheck: false, placeholder: "https://registry.jp1.example.com", requiredMessage: "Enter the other registry's http:// or https:// address.", hint: "Another moorage, or any OCI registry." });
  const remoteRegistry = textField({ label: "Remote registry", name: "remote_registry", value: rule?.remote.registry || "", mono: true, spellcheck: false, placeholder: "team-images", hint: "The registry (another moorage) or namespace there; empty for the root." });
  const username = textField({ label: "User name or access key ID", name: "remote_username", value: rule?.remote.username || "", autocomplete: "off", spellcheck: false });
  const hasPassword = Boolean(rule?.remote.has_password);
  const password = textField({
    label: "Password or secret",
    name: "remote_password",
    type: "password",
    autocomplete: "new-password",
    placeholder: hasPassword ? "set — leave empty to keep" : "",
    hint: hasPassword ? "A password is stored. Leave it empty to keep it, or type a new one." : "Stored encrypted; it is never shown again.",
  });
  const removePassword = hasPassword ? checkField("remove_password", "Remove the stored password", false) : null;
  removePassword?.querySelector("input")?.addEventListener("change", (event) => {
    const checked = /** @type {HTMLInputElement} */ (event.target).checked;
    password.input.disabled = checked;
    if (checked) password.input.value = "";
  });
  const tls = checkField("verify_tls", "Verify the remote side's TLS certificate", rule ? rule.remote.verify_tls : true);
  const trigger = field({ label: "Trigger", name: "trigger", value: rule?.trigger || "manual", options: triggerOptions(rule?.direction || "push") });
  const cron = textField({ label: "Schedule (cron, UTC)", name: "cron", value: rule?.cron || "", mono: true, spellcheck: false, placeholder: "0 3 * * *", hint: "Five fields: minute, hour, day of month, month, day of week." });
  const triggerSelect = /** @type {HTMLSelectElement} */ (trigger.input);
  const showCron = () => {
    cron.el.hidden = triggerSelect.value !== "schedule";
  };
  // Only push rules copy on push: a pull rule's choices leave it out.
  direction.input.addEventListener("change", () => {
    const current = triggerSelect.value;
    const options = triggerOptions(direction.input.value);
    triggerSelect.replaceChildren(...options.map((option) => h("option", { value: option.value }, option.label)));
    triggerSelect.value = options.some((option) => option.value === current) ? current : "manual";
    showCron();
  });
  triggerSelect.addEventListener("change", showCron);
  showCron();
  const override = checkField("override", "Overwrite a tag that points to another artifact at the destination", rule ? rule.override : true);
  const enabled = checkField("enabled", "Enabled", rule ? rule.enabled : true);

  return openDialog({
    title: rule ? `Edit replication ${rule.name}` : "Create replication",
    description: rule ? null : "The rule starts inactive and turns active once the remote registry answered with working credentials.",
    body: h(
      "div",
      { class: "replication-form" },
      name.el,
      direction.el,
      h("fieldset", { class: "field-group" }, h("legend", { class: "field-label" }, "Remote registry"), url.el, remoteRegistry.el, username.el, password.el, removePassword, tls),
      h("fieldset", { class: "field-group" }, h("legend", { class: "field-label" }, "What to copy"), filterFields("image", rule?.filters.image), filterFields("tag", rule?.filters.tag), override),
      trigger.el,
      cron.el,
      enabled,
    ),
    submitLabel: rule ? "Save replication" : "Create replication",
    wide: true,
    onSubmit: async ({ values }) => {
      /** @type {Record<string, unknown>} */
      const remote = { url: values.remote_url, registry: values.remote_registry, username: values.remote_username || null, verify_tls: values.verify_tls };
      if (values.remove_password) remote.password = "";
      else if (password.input.value) remote.password = password.input.value;
      const body = {
        name: values.name,
        direction: values.direction,
        remote,
        filters: {
          image: { pattern: values.filters_image_pattern, include: values.filters_image_include === "include" },
          tag: { pattern: values.filters_tag_pattern, include: values.filters_tag_include === "include" },
        },
        trigger: values.trigger,
        cron: values.trigger === "schedule" ? values.cron : null,
        override: values.override,
        enabled: values.enabled,
      };
      try {
        return rule ? await api.put(`${base}/${rule.id}`, body) : await api.post(base, body);
      } catch (error) {
        // A name already taken is the name's error; the dialog places other fields' own.
        if (error instanceof ApiError && error.status === 409) {
          error.errors = [{ field: "name", detail: error.detail }];
        }
        throw error;
      }
    },
  });
}

/**
 * The settings sent back on PUT (the password left out: it is kept).
 * @param {Rule} rule
 */
function settingsOf(rule) {
  const { has_password: _, ...remote } = rule.remote;
  return { name: rule.name, direction: rule.direction, remote, filters: rule.filters, trigger: rule.trigger, cron: rule.cron, override: rule.override, enabled: rule.enabled };
}

// Actions on a rule ----------------------------------------------------------------------------

/**
 * Confirm, then start a run; resolves with the run, or null when cancelled.
 * @param {string} base
 * @param {Rule} rule
 * @param {Registry} registry
 * @returns {Promise<Run | null>}
 */
async function confirmRun(base, rule, registry) {
  /** @type {Run | null} */
  let started = null;
  const where = remoteWords(rule);
  const confirmed = await confirmAction({
    title: `Run replication ${rule.name}?`,
    message: h(
      "p",
      {},
      rule.direction === "push" ? `Every artifact of ${registry.name} that the rule selects is copied to ` : "Every artifact the rule selects is copied from ",
      h("code", { class: "mono" }, where),
      rule.direction === "push" ? "." : ` into ${registry.name}.`,
      " Artifacts already there are skipped; nothing is deleted at the destination.",
    ),
    note: rule.status === "inactive" ? `The rule is inactive: ${rule.last_error || "the remote side has not answered yet"}. The run may fail.` : undefined,
    confirmLabel: "Run replication",
    danger: false,
    action: async () => {
      started = await api.post(`${base}/${rule.id}/runs`, undefined);
    },
  });
  if (!confirmed) return null;
  toast(`Replication ${rule.name} started.`);
  return started;
}

/**
 * Check the remote side again; answers the rule as it is now (as it was, when the check
 * takes longer than the server waits).
 * @param {string} base
 * @param {Rule} rule
 * @returns {Promise<Rule>}
 */
async function refreshRule(base, rule) {
  /** @type {Rule} */
  const checked = await api.post(`${base}/${rule.id}/refresh`, undefined);
  // Unchanged: the other side has not answered yet, and the server goes on asking it (202).
  if (checked.checked_at === rule.checked_at) toast(`The remote side of ${rule.name} has not answered yet: its status changes once it does.`, "info");
  else if (checked.status === "active") toast(`Replication ${rule.name} is active.`);
  else toast(`Replication ${rule.name} is inactive: ${checked.last_error || "the remote side did not answer"}.`, "info");
  return checked;
}

// The list -------------------------------------------------------------------------------------

/** @param {ViewContext} context */
function renderList({ registry, signal, manage, base, navigate }) {
  const createButton = button("Create replication", { kind: "primary", iconName: "plus" });

  /** @param {Rule} row */
  function rowActions(row) {
    const history = link(historyHref(row), "History", "btn btn-secondary btn-sm");
    history.setAttribute("aria-label", `History of replication ${row.name}`);
    if (!manage) return [history];
    const run = button("Run", {
      size: "sm",
      ariaLabel: `Run replication ${row.name}`,
      onClick: async () => {
        table.clearError();
        const started = await confirmRun(base, row, registry);
        if (started) navigate(historyHref(row));
      },
    });
    return [run, history];
  }

  /** @param {Rule} row */
  function statusCell(row) {
    const cell = h("span", { class: "replication-status", "aria-live": "polite" });
    const fill = (/** @type {Rule} */ rule) => {
      const refresh =
        manage &&
        iconButton("refresh", `Check replication ${rule.name} again`, {
          onClick: async () => {
            table.clearError();
            if (refresh) refresh.disabled = true;
            try {
              fill(await refreshRule(base, rule));
            } catch (error) {
              if (refresh) refresh.disabled = false;
              table.showError(messageOf(error), `Could not check replication ${rule.name}.`);
            }
          },
        });
      clear(cell, ruleStatusBadge(rule), refresh, rule.status === "inactive" && rule.last_error && h("span", { class: "muted small status-error", title: rule.last_error }, rule.last_error));
    };
    fill(row);
    return cell;
  }

  /** @type {import("./widgets/resource-list.js").ResourceList<Rule>} */
  const table = resourceList({
    label: "Replication rules",
    noun: ["rule", "rules"],
    signal,
    pageSize: 25,
    load: pagedSource(base, signal),
    rowKey: (row) => row.id,
    manage,
    name: (row) => `replication ${row.name}`,
    rowActions,
    form: {
      open: (rule) => {
        table.clearError();
        return editRule({ base, rule, registry });
      },
      saved: (saved, rule) => (rule ? `Replication ${saved.name} saved.` : `Replication ${saved.name} created.`),
      createButton,
      edit: true,
    },
    remove: {
      confirm: (rule) => ({
        title: `Delete replication ${rule.name}?`,
        message: h("p", {}, "The rule stops copying, and its history goes with it. What it copied stays at the destination. This cannot be undone."),
        items: [remoteWords(rule)],
        confirmLabel: "Delete replication",
        action: () => api.delete(`${base}/${rule.id}`),
      }),
      done: (rule) => `Replication ${rule.name} deleted.`,
    },
    columns: [
      {
        id: "name",
        label: "Name",
        className: "col-name",
        render: (row) => h("span", { class: "replication-cell" }, h("a", { href: historyHref(row), title: `History of ${row.name}` }, row.name), directionBadge(row)),
      },
      {
        id: "remote",
        label: "Remote",
        render: (row) =>
          h(
            "span",
            { class: "address-cell" },
            h("code", { class: "mono address", title: remoteWords(row) }, remoteWords(row)),
            !row.remote.verify_tls && badge("TLS not verified", "warning", "Certificates from this address are not checked"),
          ),
      },
      { id: "filters", label: "Filters", render: (row) => h("code", { class: "mono small" }, filterWords(row)) },
      { id: "trigger", label: "Trigger", render: triggerCell },
      { id: "status", label: "Status", render: statusCell },
      {
        id: "enabled",
        label: "Enabled",
        toggle: {
          label: (row) => `Replication ${row.name} enabled`,
          save: (row, on) => api.put(`${base}/${row.id}`, { ...settingsOf(row), enabled: on }),
        },
      },
    ],
    empty: () =>
      emptyState({
        iconName: "replicate",
        title: "No replication yet",
        body: manage
          ? `Create a replication to copy the images of ${registry.name} to a registry in another region, or to copy images from one into it.`
          : `Nothing is copied to or from ${registry.name}. Members who may push can create replications.`,
      }),
  });

  return h(
    "div",
    { class: "tab-policies tab-replication" },
    alertBox(
      "A push rule copies each artifact pushed after it was created, soon after the push, and Run copies everything it selects now. An artifact already at the destination is skipped, and deleting one here never deletes it there.",
      { kind: "info", title: "How replication copies" },
    ),
    card("Replications", table.el, { description: `Rules that copy images between ${registry.name} and registries elsewhere.`, actions: manage ? createButton : null }),
  );
}

// One rule's history ----------------------------------------------------------------------------

/**
 * The tasks of a run, a page at a time.
 * @param {string} base
 * @param {Run} run
 * @param {AbortSignal} signal
 */
function tasksTable(base, run, signal) {
  return dataTable({
    label: `Artifacts of ${runName(run).toLowerCase()}`,
    noun: ["artifact", "artifacts"],
    signal,
    pageSize: 25,
    compact: true,
    load: ({ page, page_size: pageSize }) => api.get(`${base}/runs/${run.id}/tasks`, { page, page_size: pageSize }, { signal }),
    rowKey: (task) => task.id,
    columns: [
      { id: "subject", label: "Artifact", render: (task) => h("code", { class: "mono" }, task.subject) },
      { id: "status", label: "Status", render: (task) => taskBadge(task.status) },
      { id: "finished_at", label: "Finished", render: (task) => timeCell(task.finished_at, { never: "—", absolute: true }) },
      { id: "error", label: "Error", render: (task) => (task.error ? h("span", { class: "attempt-error" }, task.error) : h("span", { class: "muted" }, "—")) },
      { id: "log", label: "Log", render: logCell },
    ],
    empty: () => emptyState({ iconName: "layers", title: ACTIVE.has(run.status) ? "No artifact copied yet" : "No artifact was selected", body: ACTIVE.has(run.status) ? "Artifacts are listed as they are copied." : "The rule's filters selected nothing." }),
  });
}

/**
 * A run's counts, its error, a Stop button while it is active, and its tasks.
 * @param {{base: string, run: Run, manage: boolean, signal: AbortSignal, stop: (run: Run) => unknown}} options
 */
function runDetail({ base, run, manage, signal, stop }) {
  const active = ACTIVE.has(run.status);
  return [
    facts([
      ["Trigger", triggerWords(run.trigger)],
      ["Status", runStatusBadge(run.status)],
      ["Started", timeCell(run.started_at, { never: "Not yet", absolute: true })],
      ["Finished", timeCell(run.finished_at, { never: "Not yet", absolute: true })],
      ["Result", countsCell(run), { wide: true }],
      ["Copied", formatBytes(run.counts.bytes)],
    ]),
    run.error && alertBox(run.error, { title: "The run failed." }),
    active && loading(run.status === "running" ? "Copying… this view updates by itself." : "Waiting to start… this view updates by itself."),
    active && manage && h("div", { class: "btn-row" }, button("Stop run", { kind: "danger-outline", onClick: () => stop(run) })),
    tasksTable(base, run, signal).el,
  ];
}

/** @param {ViewContext & {ruleId: string}} context */
function renderHistory({ registry, signal, manage, base, tabHref, ruleId, navigate }) {
  const back = h("nav", { class: "webhook-back", "aria-label": "Replications" }, h("a", { href: tabHref }, icon("left"), "All replications"));
  const body = h("div", {}, loading("Loading the replication…"));
  const root = h("div", { class: "tab-policies tab-replication" }, back, body);

  /** @param {Rule} rule */
  function ruleCard(rule) {
    const holder = h("div", {});
    const draw = (/** @type {Rule} */ current) => {
      const refresh = button("Check again", {
        iconName: "refresh",
        size: "sm",
        ariaLabel: `Check replication ${current.name} again`,
        onClick: async () => {
          refresh.disabled = true;
          try {
            draw(await refreshRule(base, current));
          } catch (error) {
            refresh.disabled = false;
            toast(`Could not check replication ${current.name}: ${messageOf(error)}`, "info");
          }
        },
      });
      clear(
        holder,
        facts([
          ["Direction", directionBadge(current)],
          ["Remote", h("code", { class: "mono" }, remoteWords(current)), { wide: true }],
          ["Filters", h("code", { class: "mono" }, filterWords(current))],
          ["Trigger", triggerCell(current)],
          ["Status", h("span", { class: "replication-status" }, ruleStatusBadge(current), manage && refresh)],
          current.last_error && ["Last error", current.last_error, { wide: true }],
          ["Enabled", current.enabled ? "Yes" : "No"],
          ["Overwrites tags", current.override ? "Yes" : "No"],
        ]),
      );
    };
    draw(rule);
    return holder;
  }

  /** @param {Rule} rule */
  function show(rule) {
    const runs = liveSource({
      path: `${base}/${rule.id}/runs`,
      signal,
      interval: (page) => (/** @type {Run[]} */ (page.items).some((run) => ACTIVE.has(run.status)) ? POLL_MS : null),
      retryAfter: POLL_MS * 3,
      reload: () => table.reload({ keepSelection: true }),
    });

    /** @param {Run} run */
    async function stop(run) {
      await confirmAction({
        title: "Stop this run?",
        message: h("p", {}, `${runName(run)} stops after the artifact it is copying; nothing is left half-tagged at the destination.`),
        confirmLabel: "Stop run",
        action: async () => {
          await api.post(`${base}/runs/${run.id}/stop`, undefined);
          toast("Run stopped.");
          table.reload();
        },
      });
    }

    /** @param {Run} summary */
    const details = (summary) =>
      showRunDetails({
        title: runName(summary),
        path: `${base}/runs/${summary.id}`,
        /** @param {Run} run */
        render: (run) => runDetail({ base, run, manage, signal, stop }),
        pollMs: POLL_MS,
        signal,
      });

    const runButton = button("Run now", {
      kind: "primary",
      iconName: "replicate",
      onClick: async () => {
        if (await confirmRun(base, rule, registry)) table.reload();
      },
    });

    const table = dataTable({
      label: `Runs of replication ${rule.name}`,
      noun: ["run", "runs"],
      urlKey: "runs",
      signal,
      pageSize: 10,
      load: ({ page, page_size: pageSize }) => runs.load({ page, page_size: pageSize }),
      rowKey: (row) => row.id,
      onLoaded: (result) => runs.watch(result),
      columns: [
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
          render: (row) =>
            h(
              "span",
              { class: "row-actions" },
              button("Details", { size: "sm", ariaLabel: `Details of ${runName(row).toLowerCase()}`, onClick: () => details(row) }),
              manage && ACTIVE.has(row.status) && button("Stop", { size: "sm", kind: "danger-outline", ariaLabel: `Stop ${runName(row).toLowerCase()}`, onClick: () => stop(row) }),
            ),
        },
      ],
      empty: () =>
        emptyState({
          iconName: "replicate",
          title: "No runs yet",
          body: "Runs by hand, on push and on schedule are listed here, each with the artifacts it copied and their logs.",
        }),
    });

    clear(
      body,
      card(`Replication ${rule.name}`, ruleCard(rule), { actions: manage ? runButton : null }),
      card("Replication history", table.el, {
        description: "Open a run to see each artifact it copied or skipped, with its log.",
        actions: iconButton("refresh", "Refresh the replication history", { onClick: () => table.reload() }),
      }),
    );
  }

  async function load() {
    try {
      show(await api.get(`${base}/${enc(ruleId)}`, undefined, { signal }));
    } catch (error) {
      if (isAbortError(error) || signal.aborted) return;
      if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
        clear(body, emptyState({ iconName: "search", title: "There is no such replication in this registry.", actions: button("Show all replications", { onClick: () => navigate(tabHref) }) }));
        return;
      }
      clear(body, alertBox(messageOf(error), { title: "Could not load the replication.", retry: load }));
    }
  }
  load();
  return root;
}

// The tab -------------------------------------------------------------------------------------

/** @param {import("./registry-tabs.js").TabContext} context */
function render({ registry, signal, navigate }) {
  const base = `/registries/${enc(registry.name)}/replications`;
  const tabHref = `/registries/${enc(registry.name)}/replication`;
  const manage = can(registry, "replicate");
  const context = { registry, signal, manage, base, tabHref, navigate };
  const requested = new URLSearchParams(location.search).get("rule");
  if (requested) return renderHistory({ ...context, ruleId: requested });
  return renderList(context);
}

export default { id: "replication", label: "Replication", iconName: "replicate", render };
