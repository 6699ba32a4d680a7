// Registry tab: webhooks — where the registry's events are sent, a test delivery per
// webhook, and each webhook's delivery log with every attempt and the body it sent.
// The list is at /registries/R/webhooks; one webhook's log at …/webhooks?webhook=ID.

import { api, ApiError, isAbortError } from "./api.js";
import { clear, enc, formatDate, formatDay, h, icon, plural, timeCell, uid } from "./dom.js";
import { can } from "./registry-actions.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { badge } from "./widgets/badge.js";
import { button, iconButton, link } from "./widgets/buttons.js";
import { confirmThen } from "./widgets/confirm.js";
import { copyable, copyButton } from "./widgets/copy.js";
import { dataTable } from "./widgets/data-table.js";
import { openDialog } from "./widgets/dialog.js";
import { checkField, field, quietError, setFieldError, textField } from "./widgets/form.js";
import { card, facts } from "./widgets/layout.js";
import { liveSource } from "./widgets/live-source.js";
import { toast } from "./widgets/notify.js";
import { emptyState, loading } from "./widgets/placeholders.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";
import { staticTable } from "./widgets/static-table.js";

/** @typedef {import("./registry-actions.js").Registry} Registry */
/** @typedef {import("./widgets/confirm.js").ConfirmOptions} ConfirmOptions */

/**
 * A webhook as the API shows it; the auth header only masked.
 * @typedef {object} Webhook
 * @property {number} id
 * @property {string} name
 * @property {"http" | "slack"} kind
 * @property {string} address
 * @property {string} payload_format
 * @property {boolean} auth_header_set
 * @property {string | null} auth_header masked: its first characters and its length
 * @property {boolean} skip_tls_verify
 * @property {string[]} event_types
 * @property {boolean} enabled
 * @property {string} created_at
 */

/**
 * One try to deliver a delivery.
 * @typedef {object} Attempt
 * @property {number} number
 * @property {string} started_at
 * @property {number} duration_ms
 * @property {boolean} succeeded
 * @property {number | null} status_code
 * @property {string | null} error
 */

/**
 * One event sent (or being sent) to a webhook.
 * @typedef {object} Delivery
 * @property {number} id
 * @property {string} event_id
 * @property {string} event_type
 * @property {string} status
 * @property {number} attempts
 * @property {number} max_attempts
 * @property {number | null} last_status_code
 * @property {string | null} last_error
 * @property {string} created_at
 * @property {string} updated_at
 * @property {string | null} delivered_at
 * @property {string | null} [content_type]
 * @property {string | null} [body]
 * @property {Attempt[]} history
 */

/**
 * What both views of the tab are given.
 * @typedef {object} WebhookViewContext
 * @property {Registry} registry
 * @property {AbortSignal} signal
 * @property {boolean} manage
 * @property {string} base the webhooks' API path
 * @property {string} tabHref the list's address
 */

/** The event types a webhook may subscribe to, in the order the server keeps them. */
const EVENTS = [
  { type: "PUSH_ARTIFACT", label: "Pushed", hint: "A manifest is pushed, by tag or by digest." },
  { type: "PULL_ARTIFACT", label: "Pulled", hint: "Every download of a manifest: busy images send many." },
  { type: "DELETE_ARTIFACT", label: "Deleted", hint: "An artifact or a tag is deleted, cleanup runs included." },
  { type: "REPLICATION", label: "Replication", hint: "A replication finished." },
  { type: "CLEANUP", label: "Cleanup", hint: "A cleanup run finished (sent as Harbor's TAG_RETENTION)." },
];
/** @type {Record<string, string>} */
const EVENT_LABELS = Object.fromEntries(EVENTS.map((event) => [event.type, event.label]));

/** @type {Record<string, [string, string, string]>} */
const DELIVERY_STATUS = {
  pending: ["Pending", "info", "Not delivered yet: retried with backoff"],
  succeeded: ["Succeeded", "success", "The receiver answered 2xx"],
  failed: ["Failed", "danger", "Every attempt failed"],
  skipped: ["Skipped", "neutral", "The webhook was disabled before it was sent"],
};
const STATUS_FILTERS = [
  { value: "", label: "All statuses" },
  { value: "pending", label: "Pending" },
  { value: "succeeded", label: "Succeeded" },
  { value: "failed", label: "Failed" },
  { value: "skipped", label: "Skipped" },
];
const LIST_PAGE_SIZE = 25;
const POLL_PENDING_MS = 2000;
const POLL_IDLE_MS = 10000;

const kindLabel = (/** @type {string} */ kind) => (kind === "slack" ? "Slack" : "HTTP");

/** The test action's deliveries make a single attempt; real ones are retried. */
const isTest = (/** @type {Delivery} */ delivery) => delivery.max_attempts === 1;

// With seconds: deliveries minutes apart, or seconds apart, still read apart.
const DELIVERY_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/**
 * "the PUSH_ARTIFACT delivery of 5 Dec 2026, 07:33:12" (a test: "the test PUSH_ARTIFACT
 * delivery of …"): a delivery is named by its event and when it was made. Delivery ids are
 * global across registries, so they are not shown.
 * @param {Delivery} delivery
 */
function deliveryName(delivery) {
  return `the ${isTest(delivery) ? "test " : ""}${delivery.event_type} delivery of ${DELIVERY_TIME.format(new Date(delivery.created_at))}`;
}

/** @param {string} status */
function statusBadge(status) {
  const [label, kind, title] = DELIVERY_STATUS[status] || [status, "neutral", undefined];
  const el = badge(label, kind, title);
  if (status === "pending") el.prepend(h("span", { class: "spinner badge-spinner", "aria-hidden": "true" }));
  return el;
}

/** @param {string[]} types */
function eventChips(types) {
  return h(
    "span",
    { class: "chips" },
    types.map((type) => badge(EVENT_LABELS[type] || type, "event", `${type}${type === "CLEANUP" ? " (sent as TAG_RETENTION)" : ""}`)),
  );
}

/** @param {Webhook} webhook */
function kindCell(webhook) {
  return h(
    "span",
    { class: "chips" },
    badge(kindLabel(webhook.kind), "neutral", webhook.kind === "slack" ? "A Slack message (Block Kit)" : "JSON to any HTTP receiver"),
    webhook.kind === "http" && webhook.payload_format === "cloudevents" && badge("CloudEvents", "info", "CloudEvents 1.0, structured JSON"),
  );
}

/** "HTTP 200", "HTTP 503: upstream down", "connection refused" — what the receiver said last. */
/**
 * @param {number | null} statusCode
 * @param {string | null} error
 */
function responseWords(statusCode, error) {
  if (statusCode && error) return `HTTP ${statusCode}: ${error}`;
  if (statusCode) return `HTTP ${statusCode}`;
  return error || "";
}

/**
 * @param {number | null} statusCode
 * @param {string | null} error
 */
function responseCell(statusCode, error) {
  if (!statusCode && !error) return h("span", { class: "muted" }, "—");
  return h(
    "span",
    { class: "response" },
    statusCode && h("code", { class: ["http-status", statusCode < 300 ? "is-ok" : "is-bad"] }, String(statusCode)),
    error && h("span", { class: "response-error", title: error }, error),
  );
}

/** @param {string} text */
function formatBody(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function explanation() {
  return alertBox(
    h(
      "span",
      {},
      "Each webhook sends the events it subscribes to, as JSON (Harbor's format or CloudEvents) or as a Slack message. ",
      "A failed delivery is retried with backoff (by default 8 attempts over about 10 minutes), and every attempt is kept in the webhook's delivery log for 30 days. ",
      "Loopback and private-network addresses are refused unless the operator sets ",
      h("code", {}, "allow_private_targets"),
      ".",
    ),
    { kind: "info", title: "How webhooks deliver" },
  );
}

/**
 * The settings sent back on PUT, without the auth header (left out, it is kept).
 * @param {Webhook} webhook
 */
function settingsOf(webhook) {
  return {
    name: webhook.name,
    kind: webhook.kind,
    address: webhook.address,
    skip_tls_verify: webhook.skip_tls_verify,
    event_types: webhook.event_types,
    payload_format: webhook.payload_format,
    enabled: webhook.enabled,
  };
}

// The create and edit dialog ------------------------------------------------------------------

const ADDRESS_PROBLEM = /address|https?:\/\/|host|port|private|allow_private_targets/i;

/**
 * The add (no webhook) or edit dialog; resolves with the saved webhook, or null when cancelled.
 * @param {{base: string, webhook: Webhook | null}} options
 * @returns {Promise<unknown>}
 */
function editWebhook({ base, webhook }) {
  const editing = Boolean(webhook);
  const name = field({ label: "Name", name: "name", value: webhook?.name || "", required: true, requiredMessage: "Enter a name, unique in this registry.", placeholder: "ci", hint: "Unique in this registry; shown in the delivery log." });
  const kind = field({
    label: "Kind",
    name: "kind",
    value: webhook?.kind || "http",
    options: [
      { value: "http", label: "HTTP — JSON to any receiver" },
      { value: "slack", label: "Slack — an incoming-webhook URL" },
    ],
  });
  const format = field({
    label: "Payload format",
    name: "payload_format",
    value: webhook?.payload_format || "default",
    options: [
      { value: "default", label: "Default (Harbor's JSON)" },
      { value: "cloudevents", label: "CloudEvents 1.0" },
    ],
  });
  const address = textField({
    label: "Address",
    name: "address",
    value: webhook?.address || "",
    required: true,
    requiredMessage: "Enter the http:// or https:// address to send events to.",
    mono: true,
    spellcheck: false,
    hint: "http:// or https:// only, without a user name or password in it: put credentials in the auth header.",
  });
  const authSet = Boolean(webhook?.auth_header_set);
  const auth = textField({
    label: "Auth header",
    name: "auth_header",
    type: "password",
    autocomplete: "new-password",
    spellcheck: false,
    mono: true,
    placeholder: authSet ? "set — leave empty to keep" : "Bearer 0123456789abcdef",
    hint: authSet
      ? h("span", {}, "Currently ", h("code", {}, webhook?.auth_header), ". Leave it empty to keep it, or type a new value to replace it.")
      : h("span", {}, "Optional; sent as the ", h("code", {}, "Authorization"), " header. It is only ever shown masked."),
  });
  const removeAuth = authSet ? checkField("remove_auth_header", "Remove the auth header", false) : null;
  removeAuth?.classList.add("check-inline");
  removeAuth?.querySelector("input")?.addEventListener("change", (event) => {
    const checked = /** @type {HTMLInputElement} */ (event.target).checked;
    auth.input.disabled = checked;
    if (checked) auth.input.value = "";
  });
  if (removeAuth) auth.el.querySelector(".field-hint")?.after(removeAuth);

  const tls = checkField("skip_tls_verify", "Skip TLS certificate verification", Boolean(webhook?.skip_tls_verify));
  const tlsBox = /** @type {HTMLInputElement} */ (tls.querySelector("input"));
  const tlsWarning = alertBox(
    "moorage then accepts any certificate from this address, so anyone on the way can read deliveries, the auth header included, or answer in the receiver's place. Use it only for a receiver with a self-signed certificate on a network you trust.",
    { kind: "warning", title: "Certificates are not checked." },
  );
  const showTlsWarning = () => {
    tlsWarning.hidden = !tlsBox.checked;
  };
  tlsBox.addEventListener("change", showTlsWarning);
  showTlsWarning();

  const chosen = new Set(webhook?.event_types || ["PUSH_ARTIFACT", "DELETE_ARTIFACT"]);
  const eventsId = uid("events");
  const eventsError = h("p", { class: "field-error", id: `${eventsId}-error`, hidden: true });
  const boxes = EVENTS.map((event) => {
    const id = uid(`event-${event.type}`);
    const box = h("input", { type: "checkbox", id, class: "checkbox", value: event.type, checked: chosen.has(event.type), "aria-describedby": `${id}-hint` });
    return {
      event,
      box,
      el: h(
        "div",
        { class: "event-option" },
        box,
        h(
          "div",
          { class: "event-text" },
          h("label", { for: id }, h("span", { class: "event-name" }, event.label), " ", h("code", { class: "event-type" }, event.type)),
          h("span", { class: "event-hint", id: `${id}-hint` }, event.hint),
        ),
      ),
    };
  });
  const events = h(
    "fieldset",
    { class: "field event-field", name: "event_types", "aria-describedby": `${eventsId}-hint` },
    h("legend", { class: "field-label" }, "Events", h("span", { class: "required", "aria-hidden": "true" }, " *")),
    h("div", { class: "event-grid" }, boxes.map((item) => item.el)),
    h("p", { class: "field-hint", id: `${eventsId}-hint` }, "Send test sends a sample of the first event type chosen here."),
    eventsError,
  );
  /** @param {string | null} message */
  const setEventsError = (message) => {
    eventsError.hidden = !message;
    eventsError.replaceChildren(...(message ? [icon("error"), h("span", {}, message)] : []));
    events.setAttribute("aria-describedby", message ? `${eventsId}-hint ${eventsId}-error` : `${eventsId}-hint`);
  };
  boxes.forEach(({ box }) => box.addEventListener("change", () => setEventsError(null)));

  const updateKind = () => {
    const slack = kind.input.value === "slack";
    format.el.hidden = slack;
    if (slack) format.input.value = "default";
    address.input.placeholder = slack ? "https://hooks.slack.com/services/…" : "https://ci.example.com/hooks/registry";
  };
  kind.input.addEventListener("change", updateKind);
  updateKind();

  const enabled = checkField("enabled", "Enabled: send events to this webhook", webhook ? webhook.enabled : true);

  return openDialog({
    title: webhook ? `Edit webhook ${webhook.name}` : "Add webhook",
    description: editing ? null : "moorage sends the chosen events of this registry to the address, and retries failures with backoff.",
    body: h(
      "div",
      { class: "webhook-form" },
      name.el,
      h("div", { class: "webhook-kind-row" }, kind.el, format.el),
      address.el,
      auth.el,
      events,
      tls,
      tlsWarning,
      enabled,
    ),
    submitLabel: editing ? "Save webhook" : "Add webhook",
    wide: true,
    onSubmit: async ({ values }) => {
      const types = boxes.filter(({ box }) => box.checked).map(({ event }) => event.type);
      setEventsError(null);
      if (!types.length) {
        setEventsError("Choose at least one event type.");
        boxes[0].box.focus();
        throw quietError("no event type");
      }
      /** @type {Record<string, unknown>} */
      const body = {
        name: values.name,
        kind: values.kind,
        address: values.address,
        skip_tls_verify: values.skip_tls_verify,
        event_types: types,
        payload_format: values.kind === "slack" ? "default" : values.payload_format,
        enabled: values.enabled,
      };
      if (values.remove_auth_header) body.auth_header = "";
      else if (auth.input.value) body.auth_header = auth.input.value;
      try {
        return webhook ? await api.put(`${base}/${webhook.id}`, body) : await api.post(base, body);
      } catch (error) {
        const target =
          error instanceof ApiError && (error.status === 409 || (error.status === 400 && /^the name/.test(error.detail)))
            ? name.input
            : error instanceof ApiError && error.status === 400 && /auth_header/.test(error.detail)
              ? auth.input
              : error instanceof ApiError && error.status === 400 && ADDRESS_PROBLEM.test(error.detail)
                ? address.input
                : null;
        if (!target) throw error;
        setFieldError(target, messageOf(error));
        target.focus();
        throw quietError(/** @type {ApiError} */ (error).detail);
      }
    },
  });
}

/**
 * @param {string} base
 * @param {Webhook} webhook
 * @returns {ConfirmOptions}
 */
function deleteConfirmation(base, webhook) {
  return {
    title: `Delete webhook ${webhook.name}?`,
    message: h("p", {}, "Its address stops receiving events from this registry. Its delivery log goes with it, and deliveries still waiting are dropped. This cannot be undone."),
    items: [webhook.address],
    confirmLabel: "Delete webhook",
    action: () => api.delete(`${base}/${webhook.id}`),
  };
}

const deleted = (/** @type {Webhook} */ webhook) => `Webhook ${webhook.name} deleted.`;

/**
 * A small "last delivery" summary: status, what the receiver said, and when.
 * @param {Delivery | undefined} delivery
 * @param {{fresh?: boolean}} [options]
 */
function deliverySummary(delivery, { fresh = false } = {}) {
  if (!delivery) return h("span", { class: "muted" }, "None yet");
  const said = responseWords(delivery.last_status_code, delivery.last_error);
  return h(
    "span",
    { class: ["last-delivery", fresh && "is-fresh"] },
    h("span", { class: "last-delivery-head" }, isTest(delivery) && badge("Test", "neutral", "Sent with Send test"), statusBadge(delivery.status)),
    h(
      "span",
      { class: "last-delivery-meta" },
      said && h("span", { class: ["last-delivery-said", delivery.status === "failed" && "is-bad"], title: said }, said),
      timeCell(delivery.delivered_at || delivery.updated_at),
    ),
  );
}

// The list ------------------------------------------------------------------------------------

/** @param {WebhookViewContext} context */
function renderList({ registry, signal, manage, base, tabHref }) {
  /** @type {Map<number, HTMLElement>} */
  const lastCells = new Map();
  const logHref = (/** @type {Webhook} */ webhook) => `${tabHref}?webhook=${webhook.id}`;
  const addButton = button("Add webhook", { kind: "primary", iconName: "plus" });
  const webhookPages = pagedSource(base, signal);

  /**
   * @param {Webhook} webhook
   * @param {HTMLButtonElement} btn
   */
  async function sendTest(webhook, btn) {
    table.clearError();
    btn.disabled = true;
    btn.classList.add("is-busy");
    const cell = lastCells.get(webhook.id);
    if (cell) clear(cell, h("span", { class: "muted" }, "Sending a test…"));
    try {
      /** @type {Delivery} */
      const delivery = await api.post(`${base}/${webhook.id}/test`, undefined);
      if (cell) clear(cell, deliverySummary(delivery, { fresh: true }));
    } catch (error) {
      if (cell) clear(cell, h("span", { class: "muted" }, "—"));
      table.showError(messageOf(error), `Could not send a test to ${webhook.name}.`);
    } finally {
      btn.disabled = false;
      btn.classList.remove("is-busy");
    }
  }

  /** @param {Webhook} webhook */
  function lastDelivery(webhook) {
    const cell = h("span", { class: "last-delivery-cell", "aria-live": "polite" }, h("span", { class: "skeleton skeleton-short" }));
    lastCells.set(webhook.id, cell);
    api
      .get(`${base}/${webhook.id}/deliveries`, { page: 1, page_size: 1 }, { signal })
      .then((/** @type {import("./api.js").Page<Delivery>} */ page) => clear(cell, deliverySummary(page.items[0])))
      .catch((error) => {
        if (!isAbortError(error)) clear(cell, h("span", { class: "muted", title: messageOf(error) }, "—"));
      });
    return cell;
  }

  /** @param {Webhook} row */
  function rowActions(row) {
    const log = link(logHref(row), "Delivery log", "btn btn-secondary btn-sm");
    log.setAttribute("aria-label", `Delivery log of ${row.name}`);
    if (!manage) return [log];
    const test = button("Send test", { size: "sm", ariaLabel: `Send test to ${row.name}`, onClick: () => sendTest(row, test) });
    return [test, log];
  }

  /** @type {import("./widgets/resource-list.js").ResourceList<Webhook>} */
  const table = resourceList({
    label: "Webhooks",
    noun: ["webhook", "webhooks"],
    signal,
    pageSize: LIST_PAGE_SIZE,
    load: async (query) => {
      const page = await webhookPages(query);
      lastCells.clear();
      return page;
    },
    rowKey: (row) => row.id,
    manage,
    name: (row) => `webhook ${row.name}`,
    rowActions,
    form: {
      open: (webhook) => {
        table.clearError();
        return editWebhook({ base, webhook });
      },
      saved: (saved, webhook) => (webhook ? `Webhook ${saved.name} saved.` : `Webhook ${saved.name} added.`),
      createButton: addButton,
      edit: true,
    },
    remove: {
      confirm: (webhook) => {
        table.clearError();
        return deleteConfirmation(base, webhook);
      },
      done: deleted,
    },
    columns: [
      {
        id: "name",
        label: "Name",
        className: "col-name",
        render: (row) =>
          h("span", { class: "webhook-cell" }, h("a", { href: logHref(row), title: `Delivery log of ${row.name}` }, row.name), kindCell(row)),
      },
      {
        id: "address",
        label: "Address",
        className: "col-address",
        render: (row) =>
          h(
            "span",
            { class: "address-cell" },
            h("code", { class: "mono address", title: row.address }, row.address),
            (row.auth_header_set || row.skip_tls_verify) &&
              h(
                "span",
                { class: "address-meta" },
                row.auth_header_set && h("span", { class: "auth-mask", title: "Auth header (masked)" }, icon("key"), h("code", {}, row.auth_header)),
                row.skip_tls_verify && badge("TLS not verified", "warning", "Certificates from this address are not checked"),
              ),
          ),
      },
      { id: "event_types", label: "Events", render: (row) => eventChips(row.event_types) },
      {
        id: "enabled",
        label: "Status",
        toggle: {
          label: (row) => `Webhook ${row.name} enabled`,
          save: (row, enabled) => api.put(`${base}/${row.id}`, { ...settingsOf(row), enabled }),
        },
      },
      { id: "last", label: "Last delivery", className: "col-last", render: lastDelivery },
      {
        id: "created_at",
        label: "Created",
        className: "col-created",
        render: (row) => h("time", { datetime: row.created_at, title: formatDate(row.created_at) }, formatDay(row.created_at)),
      },
    ],
    empty: () =>
      emptyState({
        iconName: "webhook",
        title: "No webhooks yet",
        body: manage
          ? "No one is told about pushes, pulls or deletions in this registry. Add a webhook to notify a CI server, a deployment tool or a Slack channel."
          : "No one is told about pushes, pulls or deletions in this registry. Members who may push can add webhooks.",
      }),
  });

  return h(
    "div",
    { class: "tab-policies tab-webhooks" },
    explanation(),
    card("Webhooks", table.el, {
      description: `Where the events of ${registry.name} are sent. Open a webhook's delivery log to see every attempt.`,
      actions: manage ? addButton : null,
    }),
  );
}

// One webhook's delivery log ------------------------------------------------------------------

/** @param {Delivery} delivery */
function attemptsTable(delivery) {
  return staticTable({
    label: `Attempts of ${deliveryName(delivery)}`,
    rows: delivery.history,
    columns: [
      { label: "Attempt", className: "num col-attempt", render: (a) => `${a.number}` },
      { label: "Started", render: (a) => timeCell(a.started_at, { absolute: true }) },
      { label: "Duration", className: "num", render: (a) => `${a.duration_ms.toLocaleString()} ms` },
      { label: "Result", render: (a) => (a.succeeded ? badge("Succeeded", "success") : badge("Failed", "danger")) },
      { label: "HTTP status", render: (a) => responseCell(a.status_code, null) },
      { label: "Error", className: "col-error", render: (a) => (a.error ? h("span", { class: "attempt-error" }, a.error) : h("span", { class: "muted" }, "—")) },
    ],
    empty: () => h("p", { class: "muted card-empty" }, "No attempt yet: the first one is on its way."),
  });
}

/** @param {Delivery} delivery */
function deliveryDetail(delivery) {
  const body = delivery.body ? formatBody(delivery.body) : null;
  return h(
    "div",
    { class: "delivery-detail-body" },
    facts([
      ["Event ID", copyable(delivery.event_id, "Copy the event ID")],
      ["Created", timeCell(delivery.created_at, { absolute: true })],
      ["Delivered", timeCell(delivery.delivered_at, { never: "Not delivered", absolute: true })],
      ["Attempts", `${delivery.attempts} of ${delivery.max_attempts}`],
    ]),
    delivery.status === "pending" &&
      h("p", { class: "muted delivery-note" }, `Retried with backoff until the receiver answers 2xx or ${plural(delivery.max_attempts, "attempt")} have failed.`),
    h("h4", { class: "delivery-subhead" }, "Attempts"),
    attemptsTable(delivery),
    h(
      "div",
      { class: "delivery-subhead body-head" },
      h("h4", {}, "Body sent"),
      delivery.content_type && h("code", { class: "muted" }, delivery.content_type),
      body && copyButton(/** @type {string} */ (delivery.body), `Copy the body of ${deliveryName(delivery)}`),
    ),
    body
      ? h("pre", { class: "code-block delivery-body", tabindex: "0", "aria-label": `Body of ${deliveryName(delivery)}` }, h("code", {}, body))
      : h("p", { class: "muted" }, "Not recorded."),
  );
}

/** @param {Webhook} webhook */
function webhookFacts(webhook) {
  return facts([
    ["Address", copyable(webhook.address, "Copy the address"), { wide: true }],
    ["Kind", kindCell(webhook)],
    ["Status", webhook.enabled ? badge("Enabled", "success") : badge("Disabled", "neutral", "Receives nothing; deliveries still waiting are skipped")],
    ["Events", eventChips(webhook.event_types), { wide: true }],
    ["Auth header", webhook.auth_header_set ? h("code", { class: "mono", title: "Masked: its start and its length" }, webhook.auth_header) : h("span", { class: "muted" }, "None")],
    ["TLS", webhook.skip_tls_verify ? badge("Not verified", "warning", "Certificates from this address are not checked") : "Verified"],
    ["Created", timeCell(webhook.created_at, { absolute: true })],
  ]);
}

/** @param {WebhookViewContext & {webhookId: string, navigate: import("./registry-tabs.js").TabContext["navigate"]}} context */
function renderLog({ registry, signal, manage, base, tabHref, webhookId, navigate }) {
  const holder = h("div", { class: "tab-policies tab-webhooks" }, loading("Loading the webhook…"));
  const back = h("nav", { class: "webhook-back", "aria-label": "Webhooks" }, h("a", { href: tabHref }, icon("left"), "All webhooks"));
  const path = `${base}/${enc(webhookId)}`;

  async function show() {
    /** @type {Webhook} */
    let webhook;
    try {
      webhook = await api.get(path, undefined, { signal });
    } catch (error) {
      if (isAbortError(error) || signal.aborted) return;
      if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
        clear(
          holder,
          back,
          emptyState({
            iconName: "search",
            title: `This webhook is not in ${registry.name}.`,
            body: "It may have been deleted, with its delivery log.",
            actions: link(tabHref, "Show all webhooks", "btn btn-secondary"),
          }),
        );
      } else {
        clear(holder, back, alertBox(messageOf(error), { title: "Could not load the webhook.", retry: show }));
      }
      return;
    }
    if (signal.aborted) return;
    build(webhook);
  }

  /** @param {Webhook} webhook */
  function build(webhook) {
    const summary = h("div", { class: "webhook-summary" }, webhookFacts(webhook));
    const testResult = h("div", { class: "test-result", "aria-live": "polite" });
    const testButton = button("Send test", { iconName: "right", onClick: sendTest });
    const editButton = button("Edit", { onClick: edit });
    const deleteButton = iconButton("trash", `Delete webhook ${webhook.name}`, { kind: "danger", onClick: remove });
    const heading = h("span", {}, "Webhook ", h("span", { class: "webhook-name" }, webhook.name));

    async function sendTest() {
      clear(testResult);
      testButton.disabled = true;
      testButton.classList.add("is-busy");
      try {
        /** @type {Delivery} */
        const delivery = await api.post(`${path}/test`, undefined);
        const took = delivery.history.length ? ` in ${delivery.history[delivery.history.length - 1].duration_ms.toLocaleString()} ms` : "";
        if (delivery.status === "succeeded") {
          clear(testResult, alertBox(`The receiver answered ${responseWords(delivery.last_status_code, null)}${took}.`, { kind: "success", title: "Test delivered." }));
        } else {
          clear(testResult, alertBox(responseWords(delivery.last_status_code, delivery.last_error) || "No answer.", { title: "The test failed." }));
        }
        log.reload();
      } catch (error) {
        clear(testResult, alertBox(messageOf(error), { title: "Could not send a test." }));
      } finally {
        testButton.disabled = false;
        testButton.classList.remove("is-busy");
      }
    }

    async function edit() {
      const saved = await editWebhook({ base, webhook });
      if (saved && typeof saved === "object") {
        const fresh = /** @type {Webhook} */ (saved);
        toast(`Webhook ${fresh.name} saved.`);
        build(fresh).focus();
      }
    }

    function remove() {
      return confirmThen({ ...deleteConfirmation(base, webhook), done: deleted(webhook), then: () => navigate(tabHref) });
    }

    const log = deliveryLog({ path, signal, webhook });
    clear(
      holder,
      back,
      card(heading, [summary, testResult], {
        description: h("span", {}, "Send test sends a sample ", h("code", {}, webhook.event_types[0]), " event now, once; it is listed below like any delivery."),
        actions: manage ? [testButton, editButton, deleteButton] : null,
      }),
      card("Delivery log", log.el, {
        description: "Newest first, kept 30 days. Failed attempts are retried with backoff; open a delivery to see every attempt and the body sent.",
        actions: iconButton("refresh", "Refresh the delivery log", { onClick: () => log.reload() }),
      }),
    );
    return editButton;
  }

  show();
  return holder;
}

/**
 * The paged, filterable table of deliveries; rows open to show attempts and the body.
 * @param {{path: string, signal: AbortSignal, webhook: Webhook}} options
 */
function deliveryLog({ path, signal, webhook }) {
  const holder = h("div", { class: "delivery-log" });
  /** @type {Set<number>} */
  const expanded = new Set();
  let status = new URLSearchParams(location.search).get("status") || "";
  if (!DELIVERY_STATUS[status]) status = "";
  /** @type {import("./widgets/data-table.js").DataTable<Delivery> | null} */
  let table = null;
  /** @type {import("./widgets/live-source.js").LiveSourceOptions<Delivery>["interval"]} */
  const sooner = (result) => (result.items.some((d) => d.status === "pending") ? POLL_PENDING_MS : POLL_IDLE_MS);
  const deliveries = liveSource({
    path: `${path}/deliveries`,
    signal,
    interval: sooner,
    retryAfter: POLL_IDLE_MS,
    reload: () => table?.reload({ keepSelection: true }),
    alive: () => holder.isConnected,
  });

  const filterId = uid("status-filter");
  const filter = h(
    "select",
    { id: filterId, class: "input input-sm" },
    STATUS_FILTERS.map((option) => h("option", { value: option.value }, option.label)),
  );
  filter.value = status;
  filter.addEventListener("change", () => setStatus(filter.value));
  const filterEl = h("span", { class: "status-filter" }, h("label", { for: filterId }, "Status"), filter);

  /** @param {string} next */
  function setStatus(next) {
    status = next;
    filter.value = next;
    const params = new URLSearchParams(location.search);
    if (next) params.set("status", next);
    else params.delete("status");
    params.delete("deliveries_page");
    history.replaceState(history.state, "", `${location.pathname}?${params.toString()}${location.hash}`);
    expanded.clear();
    make();
  }

  /**
   * @param {HTMLTableRowElement} tr
   * @param {HTMLButtonElement} toggle
   * @param {Delivery} delivery
   * @param {boolean} open
   */
  function setOpen(tr, toggle, delivery, open) {
    toggle.setAttribute("aria-expanded", String(open));
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("delivery-detail")) next.remove();
    tr.classList.toggle("is-open", open);
    if (open) {
      expanded.add(delivery.id);
      const id = uid("delivery");
      toggle.setAttribute("aria-controls", id);
      tr.after(h("tr", { class: "delivery-detail", id }, h("td", { colspan: String(tr.children.length) }, deliveryDetail(delivery))));
    } else {
      expanded.delete(delivery.id);
      toggle.removeAttribute("aria-controls");
    }
  }

  /** @param {Delivery} delivery */
  function toggleCell(delivery) {
    const toggle = h(
      "button",
      { type: "button", class: "icon-btn expand-btn", "aria-expanded": "false", "aria-label": `Attempts of ${deliveryName(delivery)}`, title: "Show the attempts and the body sent", dataset: { delivery: String(delivery.id) } },
      icon("right"),
    );
    toggle.addEventListener("click", () =>
      setOpen(/** @type {HTMLTableRowElement} */ (toggle.closest("tr")), toggle, delivery, toggle.getAttribute("aria-expanded") !== "true"),
    );
    return toggle;
  }

  /** @param {import("./api.js").Page<Delivery>} result */
  function reopen(result) {
    for (const delivery of result.items) {
      if (!expanded.has(delivery.id)) continue;
      const toggle = holder.querySelector(`.expand-btn[data-delivery="${delivery.id}"]`);
      if (toggle instanceof HTMLButtonElement) setOpen(/** @type {HTMLTableRowElement} */ (toggle.closest("tr")), toggle, delivery, true);
    }
  }

  function make() {
    deliveries.stop();
    table = dataTable({
      label: `Deliveries of ${webhook.name}`,
      noun: ["delivery", "deliveries"],
      urlKey: "deliveries",
      signal,
      pageSize: 10,
      toolbar: [filterEl],
      load: ({ page, page_size: pageSize }) => deliveries.load({ page, page_size: pageSize, status: status || undefined }),
      rowKey: (row) => row.id,
      onLoaded: (result) => {
        reopen(result);
        deliveries.watch(result);
      },
      columns: [
        { id: "expand", label: "Details", hideLabel: true, className: "col-expand", render: toggleCell },
        {
          id: "event_type",
          label: "Event",
          render: (row) =>
            h(
              "span",
              { class: "chips" },
              h("code", { class: "event-type", title: EVENT_LABELS[row.event_type] || row.event_type }, row.event_type),
              isTest(row) && badge("Test", "neutral", "Sent with Send test: one attempt, no retries"),
            ),
        },
        { id: "status", label: "Status", render: (row) => statusBadge(row.status) },
        { id: "attempts", label: "Attempts", className: "num", render: (row) => `${row.attempts} of ${row.max_attempts}` },
        { id: "last", label: "Last response", className: "col-response", render: (row) => responseCell(row.last_status_code, row.last_error) },
        { id: "created_at", label: "Created", render: (row) => timeCell(row.created_at) },
        {
          id: "finished",
          label: "Finished",
          render: (row) =>
            row.status === "pending"
              ? h("span", { class: "muted" }, "Not yet")
              : timeCell(row.delivered_at || row.updated_at),
        },
      ],
      empty: () =>
        status
          ? emptyState({
              iconName: "search",
              title: `No ${status} deliveries.`,
              actions: button("Show all deliveries", { onClick: () => setStatus("") }),
            })
          : emptyState({
              iconName: "webhook",
              title: "No deliveries yet",
              body: "Events this webhook subscribes to are listed here as they are sent, with every attempt. Send a test to try the address now.",
            }),
    });
    clear(holder, table.el);
  }

  make();
  return {
    el: holder,
    reload: () => table?.reload({ keepSelection: true }),
  };
}

// The tab -------------------------------------------------------------------------------------

/** @param {import("./registry-tabs.js").TabContext} context */
function render({ registry, signal, navigate }) {
  const base = `/registries/${enc(registry.name)}/webhooks`;
  const tabHref = `/registries/${enc(registry.name)}/webhooks`;
  const manage = can(registry, "manage_policies");
  const requested = new URLSearchParams(location.search).get("webhook");
  if (requested) return renderLog({ registry, signal, manage, base, tabHref, webhookId: requested, navigate });
  return renderList({ registry, signal, manage, base, tabHref });
}

export default { id: "webhooks", label: "Webhooks", iconName: "webhook", render };
