// Registry tab: the members of the registry's project (membership is per project).

import { api } from "./api.js";
import { can } from "./registry-actions.js";
import { enc, h, timeCell, uid } from "./dom.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { button } from "./widgets/buttons.js";
import { openDialog } from "./widgets/dialog.js";
import { field } from "./widgets/form.js";
import { toast } from "./widgets/notify.js";
import { emptyState } from "./widgets/placeholders.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";

/** @typedef {{username: string, role: string, created_at: string}} Member */

export const ROLES = [
  { value: "project_admin", label: "Project admin", description: "Manages members; pushes, pulls and deletes." },
  { value: "project_member", label: "Project member", description: "Pushes, pulls and deletes." },
  { value: "service_admin", label: "Service admin", description: "Pushes, pulls and deletes (for automation)." },
  { value: "service_viewer", label: "Service viewer", description: "Pulls and views only." },
];

/** @param {string} value */
export const roleLabel = (value) => ROLES.find((role) => role.value === value)?.label || value;

function roleHelp() {
  return h(
    "dl",
    { class: "role-help" },
    ROLES.map((role) => h("div", {}, h("dt", {}, role.label), h("dd", {}, role.description))),
  );
}

/** @param {import("./registry-tabs.js").TabContext} context */
function render({ registry, session, signal }) {
  const project = registry.project;
  const base = `/projects/${enc(project)}/members`;
  const manage = can(registry, "manage_members");

  async function addMember() {
    /** @type {import("./api.js").Page<{username: string}> | null} */
    const users = session.me?.is_admin ? await api.get("/users", { page_size: 100 }, { signal }).catch(() => null) : null;
    const listId = uid("users");
    const user = field({
      label: "User name",
      name: "username",
      required: true,
      requiredMessage: "Enter the user name of an existing user.",
      hint: "The user must already exist on this server.",
      list: users ? listId : null,
      spellcheck: false,
    });
    const role = field({ label: "Role", name: "role", options: ROLES.map((r) => ({ value: r.value, label: r.label })), value: "project_member" });
    const datalist = users ? h("datalist", { id: listId }, users.items.map((u) => h("option", { value: u.username }))) : null;
    return openDialog({
      title: `Add a member to ${project}`,
      description: `Members of project ${project} may use every registry in it, ${registry.name} included.`,
      body: [user.el, datalist, role.el, roleHelp()],
      submitLabel: "Add member",
      onSubmit: ({ values }) => api.put(`${base}/${enc(values.username)}`, { role: values.role }),
    });
  }

  /** @param {Member} row */
  function roleControl(row) {
    if (!manage) return roleLabel(row.role);
    const id = uid("role");
    const select = h(
      "select",
      { id, class: "input input-sm", "aria-label": `Role of ${row.username}` },
      ROLES.map((r) => h("option", { value: r.value }, r.label)),
    );
    select.value = row.role;
    select.addEventListener("change", async () => {
      const previous = row.role;
      select.disabled = true;
      table.clearError();
      try {
        /** @type {Member} */
        const updated = await api.put(`${base}/${enc(row.username)}`, { role: select.value });
        row.role = updated.role;
        toast(`${row.username} is now a ${roleLabel(updated.role).toLowerCase()}.`);
      } catch (error) {
        select.value = previous;
        table.showError(messageOf(error), `Could not change the role of ${row.username}.`);
      } finally {
        select.disabled = false;
      }
    });
    return select;
  }

  const addButton = button("Add member", { kind: "primary", iconName: "plus" });
  /** @type {import("./widgets/resource-list.js").ResourceList<Member>} */
  const table = resourceList({
    label: `Members of project ${project}`,
    noun: ["member", "members"],
    signal,
    load: pagedSource(base, signal),
    rowKey: (row) => row.username,
    toolbar: manage ? [addButton] : [],
    manage,
    form: {
      open: addMember,
      saved: (added) => `${added.username} is now a ${roleLabel(added.role).toLowerCase()} of ${project}.`,
      createButton: addButton,
    },
    remove: {
      label: (row) => `Remove ${row.username} from ${project}`,
      confirm: (row) => ({
        title: `Remove ${row.username}?`,
        message: h("p", {}, `${row.username} will lose access to every registry in project ${project}. Their access keys stop working there at once.`),
        confirmLabel: "Remove member",
        action: () => api.delete(`${base}/${enc(row.username)}`),
      }),
      done: (row) => `${row.username} removed from ${project}.`,
    },
    columns: [
      { id: "username", label: "User", className: "col-name", render: (row) => h("span", { class: "user-cell" }, row.username, session.me?.username === row.username && h("span", { class: "badge badge-neutral" }, "you")) },
      { id: "role", label: "Role", render: roleControl },
      { id: "created_at", label: "Member since", render: (row) => timeCell(row.created_at, { absolute: true }) },
    ],
    empty: () =>
      emptyState({
        iconName: "users",
        title: `Project ${project} has no members yet`,
        body: manage
          ? "System administrators can use every registry. Add members so other users can push and pull here."
          : "Ask a project admin to add members.",
      }),
  });

  return h(
    "div",
    { class: "tab-members" },
    alertBox(
      manage
        ? `Membership is per project: members of ${project} may use all its registries. Roles decide what they may do.`
        : `Membership is per project: members of ${project} may use all its registries. Only a project admin may change members.`,
      { kind: "info" },
    ),
    table.el,
  );
}

export default { id: "members", label: "Members", iconName: "users", render };
