// Administration > Projects: every project of the deployment with its members; create one.

import { api } from "./api.js";
import { enc, h, timeCell } from "./dom.js";
import { adminNav, adminOnly } from "./admin-tabs.js";
import { roleLabel } from "./tab-members.js";
import { button } from "./widgets/buttons.js";
import { openDialog } from "./widgets/dialog.js";
import { field } from "./widgets/form.js";
import { breadcrumbs, pageHead } from "./widgets/layout.js";
import { pagedSource, resourceList } from "./widgets/resource-list.js";

/** @typedef {{name: string, created_at: string}} Project */

function openCreateProject() {
  const name = field({ label: "Name", name: "name", required: true, requiredMessage: "Enter a project name.", spellcheck: false });
  return openDialog({ title: "Create project", body: name.el, submitLabel: "Create project", onSubmit: ({ values }) => api.post("/projects", { name: values.name }) });
}

/**
 * The project's members, loaded when the cell is shown.
 * @param {Project} project
 * @param {AbortSignal} signal
 */
function membersCell(project, signal) {
  const cell = h("span", { class: "muted" }, "…");
  api
    .get(`/projects/${enc(project.name)}/members`, { page_size: 100 }, { signal })
    .then((/** @type {import("./api.js").Page<{username: string, role: string}>} */ page) => {
      cell.className = "";
      cell.replaceChildren(page.items.length ? page.items.map((m) => `${m.username} (${roleLabel(m.role).toLowerCase()})`).join(", ") : "No members");
    })
    .catch(() => cell.replaceChildren("—"));
  return cell;
}

/** @param {import("./main.js").PageContext} context */
export function render({ session, signal, setTitle }) {
  setTitle("Projects");
  const crumbs = breadcrumbs([{ label: "Administration" }, { label: "Projects" }]);
  if (!session.me?.is_admin) return h("div", { class: "page" }, crumbs, adminOnly());
  const createButton = button("Create project", { kind: "primary", iconName: "plus" });
  /** @type {import("./widgets/resource-list.js").ResourceList<Project>} */
  const table = resourceList({
    label: "Projects",
    noun: ["project", "projects"],
    urlKey: "",
    signal,
    defaultSort: "name",
    load: pagedSource("/projects", signal),
    rowKey: (row) => row.name,
    toolbar: [createButton],
    form: { open: openCreateProject, saved: (created) => `Project ${created.name} created.`, createButton },
    columns: [
      { id: "name", label: "Project", sort: "name", className: "col-name", render: (row) => row.name },
      { id: "members", label: "Members", render: (row) => membersCell(row, signal) },
      { id: "created_at", label: "Created", sort: "created_at", descFirst: true, render: (row) => timeCell(row.created_at, { absolute: true }) },
    ],
  });
  return h(
    "div",
    { class: "page" },
    crumbs,
    pageHead({ title: "Projects", iconName: "users", subtitle: "Projects own registries; their members' roles decide what they may do there. Change members on a registry's Members tab." }),
    adminNav("/admin/projects"),
    h("section", { class: "card card-table", "aria-label": "Project list" }, table.el),
  );
}
