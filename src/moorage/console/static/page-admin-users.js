// Administration > Users: every user of the deployment; create, disable or enable, reset a
// password, delete.

import { api } from "./api.js";
import { enc, h, timeCell } from "./dom.js";
import { adminNav, adminOnly } from "./admin-tabs.js";
import { badge } from "./widgets/badge.js";
import { button } from "./widgets/buttons.js";
import { openDialog } from "./widgets/dialog.js";
import { checkField, field } from "./widgets/form.js";
import { confirmThen } from "./widgets/confirm.js";
import { breadcrumbs, pageHead } from "./widgets/layout.js";
import { toast } from "./widgets/notify.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";

/** @typedef {{username: string, is_admin: boolean, disabled: boolean, created_at: string}} User */

function openCreateUser() {
  const name = field({ label: "User name", name: "username", required: true, requiredMessage: "Enter a user name.", spellcheck: false });
  const password = field({ label: "Password", name: "password", type: "password", required: true, requiredMessage: "Enter a password.", hint: "At least 8 characters." });
  return openDialog({
    title: "Create user",
    body: [name.el, password.el, checkField("is_admin", "System administrator", false)],
    submitLabel: "Create user",
    onSubmit: ({ values }) => api.post("/users", { username: values.username, password: values.password, is_admin: Boolean(values.is_admin) }),
  });
}

/** @param {User} user */
async function resetPassword(user) {
  const password = field({ label: "New password", name: "new_password", type: "password", required: true, requiredMessage: "Enter the new password.", hint: "At least 8 characters. Their access keys keep working." });
  const done = await openDialog({
    title: `Reset the password of ${user.username}`,
    body: password.el,
    submitLabel: "Reset password",
    onSubmit: ({ values }) => api.put(`/users/${enc(user.username)}/password`, { new_password: values.new_password }).then(() => true),
  });
  if (done) toast(`Password of ${user.username} reset.`);
}

/**
 * Disable a user (no sign-in; their keys, sessions and tokens stop at once) or enable them
 * again, after a confirmation; then `reload` the list.
 * @param {User} user
 * @param {() => void} reload
 */
function toggleDisabled(user, reload) {
  const disable = !user.disabled;
  return confirmThen({
    title: disable ? `Disable user ${user.username}?` : `Enable user ${user.username}?`,
    message: h(
      "p",
      {},
      disable
        ? `${user.username} can no longer sign in, and their access keys, console sessions and tokens stop working at once. Their memberships and keys are kept for when you enable them again.`
        : `${user.username} can sign in again, and their enabled access keys work again.`,
    ),
    confirmLabel: disable ? "Disable user" : "Enable user",
    danger: disable,
    action: () => api.patch(`/users/${enc(user.username)}`, { disabled: disable }),
    done: disable ? `User ${user.username} disabled.` : `User ${user.username} enabled.`,
    then: reload,
  });
}

/** @param {User} user */
function stateCell(user) {
  return user.disabled ? badge("Disabled", "danger", "Cannot sign in; access keys and sessions do not work") : h("span", { class: "muted" }, "Active");
}

/** @param {import("./main.js").PageContext} context */
export function render({ session, signal, setTitle }) {
  setTitle("Users");
  const crumbs = breadcrumbs([{ label: "Administration" }, { label: "Users" }]);
  if (!session.me?.is_admin) return h("div", { class: "page" }, crumbs, adminOnly());
  const createButton = button("Create user", { kind: "primary", iconName: "plus" });
  /** @type {import("./widgets/resource-list.js").ResourceList<User>} */
  const table = resourceList({
    label: "Users",
    noun: ["user", "users"],
    urlKey: "",
    signal,
    defaultSort: "username",
    load: pagedSource("/users", signal),
    rowKey: (row) => row.username,
    toolbar: [createButton],
    form: { open: openCreateUser, saved: (created) => `User ${created.username} created.`, createButton },
    name: (row) => `user ${row.username}`,
    rowActions: (row) => [
      row.username !== session.me?.username &&
        button(row.disabled ? "Enable" : "Disable", {
          size: "sm",
          ariaLabel: `${row.disabled ? "Enable" : "Disable"} user ${row.username}`,
          onClick: () => toggleDisabled(row, () => table.reload()),
        }),
      button("Reset password", { size: "sm", ariaLabel: `Reset the password of ${row.username}`, onClick: () => resetPassword(row) }),
    ],
    remove: {
      allowed: (row) => row.username !== session.me?.username,
      confirm: (row) => ({
        title: `Delete user ${row.username}?`,
        message: h("p", {}, `${row.username} loses every membership and access key at once. This cannot be undone.`),
        confirmLabel: "Delete user",
        action: () => api.delete(`/users/${enc(row.username)}`),
      }),
      done: (row) => `User ${row.username} deleted.`,
    },
    columns: [
      { id: "username", label: "User", sort: "username", className: "col-name", render: (row) => row.username },
      { id: "disabled", label: "State", render: stateCell },
      { id: "is_admin", label: "Role", render: (row) => (row.is_admin ? badge("System administrator", "project") : h("span", { class: "muted" }, "User")) },
      { id: "created_at", label: "Created", sort: "created_at", descFirst: true, render: (row) => timeCell(row.created_at, { absolute: true }) },
    ],
  });
  return h(
    "div",
    { class: "page" },
    crumbs,
    pageHead({ title: "Users", iconName: "user", subtitle: "Everyone who may sign in. Project roles are given on each registry's Members tab or under Projects." }),
    adminNav("/admin/users"),
    h("section", { class: "card card-table", "aria-label": "User list" }, table.el),
  );
}
