// Administration > Audit log: every change to the deployment — who, what, which resource,
// when, from where and with what result (refusals and sign-ins too) — newest first, filtered
// by user, operation, resource type, resource, result and time.

import { api } from "./api.js";
import { breakable, h, timeCell } from "./dom.js";
import { adminNav, adminOnly } from "./admin-tabs.js";
import { badge } from "./widgets/badge.js";
import { button } from "./widgets/buttons.js";
import { dataTable } from "./widgets/data-table.js";
import { field } from "./widgets/form.js";
import { breadcrumbs, card, pageHead } from "./widgets/layout.js";

/**
 * One entry of the audit log.
 * @typedef {object} AuditEntry
 * @property {number} id
 * @property {string} occurred_at
 * @property {string} username
 * @property {string | null} access_key
 * @property {string | null} client
 * @property {string} operation
 * @property {string} resource_type
 * @property {string} resource
 * @property {string} result
 * @property {number | null} status
 * @property {string | null} request_id
 * @property {string | null} detail
 */

const TITLE = "Audit log";
const OPERATIONS = ["create", "update", "delete", "push", "run", "test", "sign-in"];
const RESOURCE_TYPES = [
  "registry", "image", "artifact", "tag", "protection-policy", "cleanup-policy", "cleanup-schedule", "cleanup-run",
  "webhook", "replication", "replication-run", "project", "member", "user", "password", "access-key", "session",
  "gc-run", "gc-schedule",
];
const RESULTS = [
  { value: "success", label: "Success" },
  { value: "denied", label: "Denied (401, 403)" },
  { value: "failed", label: "Failed" },
];
/** The filters, as the API names them; the time ones are datetime-local inputs (local time). */
const FILTERS = ["username", "operation", "resource_type", "resource", "result", "since", "until"];

/** @param {string} text @param {string[]} values */
const choices = (text, values) => [{ value: "", label: text }, ...values.map((value) => ({ value, label: value }))];

/** @param {AuditEntry} entry */
function resultCell(entry) {
  const status = entry.status ? ` ${entry.status}` : "";
  if (entry.result === "success") return badge(`Success${status}`, "success");
  if (entry.result === "denied") return badge(`Denied${status}`, "warning", "Authentication or permissions refused it");
  return badge(`Failed${status}`, "danger", entry.detail || undefined);
}

/** @param {AuditEntry} entry */
function whoCell(entry) {
  return h(
    "span",
    { class: "audit-who" },
    entry.username === "system" ? badge("system", "neutral", "Background work moorage did by itself") : entry.username,
    entry.access_key && h("span", { class: "muted audit-key", title: "Signed in with this access key" }, ` (key ${entry.access_key})`),
  );
}

/** @param {AuditEntry} entry */
function resourceCell(entry) {
  return h(
    "span",
    { class: "audit-resource" },
    h("span", { class: "muted audit-type" }, entry.resource_type, " "),
    h("span", { class: "mono" }, breakable(entry.resource)),
    entry.detail && h("span", { class: "audit-detail muted" }, breakable(entry.detail)),
  );
}

/**
 * The filter bar: a field per filter; `apply` gets the filled ones (times in ISO 8601, UTC).
 * @param {(filters: Record<string, string>) => void} apply
 */
function filterBar(apply) {
  const fields = {
    username: field({ label: "User", name: "username", spellcheck: false }),
    operation: field({ label: "Operation", name: "operation", options: choices("Any operation", OPERATIONS) }),
    resource_type: field({ label: "Resource type", name: "resource_type", options: choices("Any type", RESOURCE_TYPES) }),
    resource: field({ label: "Resource", name: "resource", placeholder: "myreg/app…", spellcheck: false }),
    result: field({ label: "Result", name: "result", options: [{ value: "", label: "Any result" }, ...RESULTS] }),
    since: field({ label: "From", name: "since", type: "datetime-local" }),
    until: field({ label: "Before", name: "until", type: "datetime-local" }),
  };
  const read = () => {
    /** @type {Record<string, string>} */
    const filters = {};
    for (const name of FILTERS) {
      const value = fields[/** @type {keyof typeof fields} */ (name)].input.value.trim();
      if (value) filters[name] = name === "since" || name === "until" ? new Date(value).toISOString() : value;
    }
    return filters;
  };
  const form = h(
    "form",
    { class: "audit-filters", "aria-label": "Filter the audit log", role: "search" },
    Object.values(fields).map((f) => f.el),
    h(
      "div",
      { class: "audit-filter-actions" },
      button("Filter", { kind: "primary", type: "submit" }),
      button("Clear", {
        onClick: () => {
          for (const f of Object.values(fields)) f.input.value = "";
          apply({});
        },
      }),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply(read());
  });
  return form;
}

/** @param {import("./main.js").PageContext} context */
export function render({ session, signal, setTitle }) {
  setTitle(TITLE);
  const crumbs = breadcrumbs([{ label: "Administration" }, { label: TITLE }]);
  if (!session.me?.is_admin) return h("div", { class: "page" }, crumbs, adminOnly());
  /** @type {Record<string, string>} */
  let filters = {};
  /** @type {import("./widgets/data-table.js").DataTable<AuditEntry>} */
  const table = dataTable({
    label: TITLE,
    noun: ["entry", "entries"],
    urlKey: "",
    signal,
    compact: true,
    rowKey: (row) => row.id,
    load: (query) => api.get("/audit-logs", { page: query.page, page_size: query.page_size, ...filters }, { signal }),
    columns: [
      { id: "occurred_at", label: "When", render: (row) => timeCell(row.occurred_at, { absolute: true }) },
      { id: "username", label: "Who", render: whoCell },
      { id: "operation", label: "Operation", render: (row) => row.operation },
      { id: "resource", label: "Resource", className: "col-name", render: resourceCell },
      { id: "result", label: "Result", render: resultCell },
      { id: "client", label: "Address", render: (row) => h("span", { class: "mono", title: row.request_id ? `Request ${row.request_id}` : null }, row.client || "—") },
    ],
  });
  const apply = (/** @type {Record<string, string>} */ next) => {
    filters = next;
    table.reload();
  };
  return h(
    "div",
    { class: "page" },
    crumbs,
    pageHead({ title: TITLE, iconName: "lock", subtitle: "Every change to this deployment, newest first: who made it, from which address, and whether it went through. Sign-ins and refused attempts are here too." }),
    adminNav("/admin/audit"),
    card("Filter", filterBar(apply)),
    h("section", { class: "card card-table", "aria-label": "Audit entries" }, table.el),
  );
}
