// Access keys of the signed-in user: key pairs for docker, skopeo and CI.

import { api } from "./api.js";
import { enc, formatDate, h, timeCell } from "./dom.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { badge } from "./widgets/badge.js";
import { button } from "./widgets/buttons.js";
import { commandBlock, copyButton, copyable } from "./widgets/copy.js";
import { openDialog } from "./widgets/dialog.js";
import { breadcrumbs, pageHead } from "./widgets/layout.js";
import { limitCounter } from "./widgets/limit.js";
import { emptyState } from "./widgets/placeholders.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";

/**
 * An access key as listed (its secret is never shown again).
 * @typedef {object} AccessKey
 * @property {string} key_id
 * @property {boolean} enabled
 * @property {string} created_at
 * @property {number} age_days
 * @property {boolean} rotation_due
 * @property {string | null} last_used_at
 */

const MAX_KEYS = 5;
const ROTATION_DAYS = 90;

/**
 * @param {string} label
 * @param {string} value
 * @param {string} name
 * @param {string} copyLabel
 */
function secretField(label, value, name, copyLabel) {
  const id = `${name}-value`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id, class: "field-label" }, label),
    h(
      "div",
      { class: "input-with-button" },
      h("input", { id, class: "input mono", readonly: true, value, spellcheck: "false", autocomplete: "off", onFocus: (/** @type {FocusEvent} */ event) => /** @type {HTMLInputElement} */ (event.target).select() }),
      copyButton(value, copyLabel),
    ),
  );
}

/** @param {{key_id: string, secret: string}} key a key just created, with its secret */
function showCreated(key) {
  return openDialog({
    title: "Access key created",
    wide: true,
    body: [
      alertBox("This is the only time the secret is shown. Copy it now and keep it somewhere safe: moorage stores only a hash of it. If you lose it, delete this key and create another.", {
        kind: "warning",
        title: "Copy the secret now.",
      }),
      secretField("Access key ID", key.key_id, "key-id", "Copy key ID"),
      secretField("Secret access key", key.secret, "secret", "Copy secret"),
      h("p", { class: "field-hint" }, "Sign in with the key ID as the user name and the secret as the password:"),
      commandBlock(`docker login ${location.host} -u ${key.key_id}`, "Copy the docker login command"),
    ],
    submitLabel: "I have copied the secret",
    cancelLabel: null,
    dismissible: false, // the secret is never shown again: leaving takes the confirmation
    initialFocus: (dialog) => /** @type {HTMLElement | null} */ (dialog.querySelector("#secret-value")),
  });
}

/** @param {import("./main.js").PageContext} context */
export function render({ signal, setTitle, session, ready }) {
  setTitle("Access keys");
  const createButton = button("Create access key", { kind: "primary", iconName: "plus" });
  const limit = limitCounter({
    max: MAX_KEYS,
    button: createButton,
    noteId: "key-limit-note",
    counter: (total) => `${total} of ${MAX_KEYS} keys`,
    note: (full) =>
      full
        ? `You have ${MAX_KEYS} keys, the most one user may have. Delete a key you no longer use to create another.`
        : `Each user may have up to ${MAX_KEYS} keys, so you can rotate one without downtime: create a new key, switch your clients, then delete the old one.`,
  });

  async function create() {
    table.clearError();
    createButton.disabled = true;
    /** @type {{key_id: string, secret: string}} */
    let key;
    try {
      key = await api.post("/users/me/access-keys", undefined);
    } catch (error) {
      table.showError(messageOf(error), "Could not create an access key.");
      createButton.disabled = false;
      return;
    }
    table.reload();
    await showCreated(key);
  }
  createButton.addEventListener("click", create);

  /** @type {import("./widgets/resource-list.js").ResourceList<AccessKey>} */
  const table = resourceList({
    label: "Access keys",
    noun: ["access key", "access keys"],
    signal,
    pageSize: 25,
    load: pagedSource("/users/me/access-keys", signal),
    rowKey: (row) => row.key_id,
    onLoaded: (result) => limit.update(result.total),
    toolbar: [limit.counter, createButton],
    name: (row) => `access key ${row.key_id}`,
    remove: {
      confirm: (row) => ({
        title: "Delete this access key?",
        message: h("p", {}, "Clients that sign in with it (docker, skopeo, CI jobs) fail from now on. This cannot be undone."),
        items: [row.key_id],
        confirmLabel: "Delete key",
        action: () => api.delete(`/users/me/access-keys/${enc(row.key_id)}`),
      }),
      done: (row) => `Access key ${row.key_id} deleted.`,
    },
    columns: [
      { id: "key_id", label: "Access key ID", className: "col-name", render: (row) => copyable(row.key_id, `Copy key ID ${row.key_id}`) },
      {
        id: "enabled",
        label: "Status",
        toggle: {
          label: (row) => `Key ${row.key_id} enabled`,
          save: (row, enabled) => api.patch(`/users/me/access-keys/${enc(row.key_id)}`, { enabled }),
          done: (updated, row) => (updated.enabled ? `Key ${row.key_id} enabled.` : `Key ${row.key_id} disabled: it stops working at once.`),
          failed: (row, next) => `Could not ${next ? "enable" : "disable"} key ${row.key_id}.`,
        },
      },
      {
        id: "created_at",
        label: "Age",
        render: (row) =>
          h(
            "span",
            { class: "age-cell" },
            h("time", { datetime: row.created_at, title: formatDate(row.created_at) }, row.age_days === 0 ? "Today" : `${row.age_days} ${row.age_days === 1 ? "day" : "days"} ago`),
            row.rotation_due && badge("Rotate", "warning", `Older than ${ROTATION_DAYS} days: create a new key, switch to it, and delete this one.`),
          ),
      },
      { id: "last_used_at", label: "Last used", render: (row) => timeCell(row.last_used_at, { never: "Never used" }) },
    ],
    empty: () =>
      emptyState({
        iconName: "key",
        title: "No access keys yet",
        body: "Create a key to sign in from docker, podman, skopeo or a CI pipeline without using your password.",
      }),
  });

  const root = h(
    "div",
    { class: "page" },
    breadcrumbs([{ label: "Access keys" }]),
    pageHead({
      title: "Access keys",
      iconName: "key",
      subtitle: h(
        "span",
        {},
        `Keys of ${session.me?.username}. Use the key ID as the user name and the secret as the password with `,
        h("code", { class: "mono" }, "docker login"),
        ", skopeo, podman or your CI.",
      ),
    }),
    h("section", { class: "card card-table", "aria-label": "Access key list" }, limit.note, table.el),
    h(
      "aside",
      { class: "card card-note", "aria-label": "About access keys" },
      h("h2", {}, "Good practice"),
      h(
        "ul",
        {},
        h("li", {}, "Use one key per machine or pipeline, so you can revoke one without breaking the others."),
        h("li", {}, `Rotate keys older than ${ROTATION_DAYS} days; they are marked `, badge("Rotate", "warning"), "."),
        h("li", {}, "Disable a key to stop it at once while you investigate; enable it again later if it was safe."),
      ),
    ),
  );
  ready?.();
  return root;
}
